// cuda_info.h: what the CUDA build sees (built only where nvcc is found; the
// GPU backend of the engine will grow beside it).
#ifndef DEAL_CUDA_INFO_H
#define DEAL_CUDA_INFO_H

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
