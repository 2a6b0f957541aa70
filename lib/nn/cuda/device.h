// device.h: what the CUDA build sees of the machine (built only where nvcc is
// found, like the rest of lib/nn/cuda).
#ifndef DEAL_CUDA_DEVICE_H
#define DEAL_CUDA_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Number of usable CUDA devices (0 when there is no device or no driver).
// Writes a one-line description to buf: the first device's name and memory
// and the cuBLAS version, or why no device is usable.
int deal_cuda_describe(char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
