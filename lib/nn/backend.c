// backend.c: choosing the backend a tool runs on (--device).
#include "nn/backend.h"

#include <string.h>

#include "base/util.h"
#ifdef DEAL_CUDA
#include "nn/cuda/device.h"
#endif

const backend *backend_for_device(const char *device) {
    if (strcmp(device, "cpu") == 0) return backend_cpu();
    if (strcmp(device, "cuda") != 0) die("--device %s: unknown device (cpu or cuda)", device);
#ifdef DEAL_CUDA
    char why[256];
    if (deal_cuda_describe(why, sizeof why) == 0) die("--device cuda: %s", why);
    return backend_cuda();
#else
    die("--device cuda: this build has no CUDA (nvcc was not found when it was built; see README)");
#endif
}
