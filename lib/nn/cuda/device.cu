// device.cu: device discovery through the CUDA runtime and cuBLAS.
#include "nn/cuda/device.h"

#include <cstdio>
#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" int deal_cuda_describe(char *buf, size_t n) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        snprintf(buf, n, "no CUDA device (%s)", err != cudaSuccess ? cudaGetErrorString(err) : "none found");
        return 0;
    }
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    cublasHandle_t handle;
    int version = 0;
    if (cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS) {
        cublasGetVersion(handle, &version);
        cublasDestroy(handle);
    }
    snprintf(buf, n, "%d CUDA device(s); 0: %s, %.1f GiB, compute %d.%d; cuBLAS %d", count, prop.name,
             prop.totalGlobalMem / 1073741824.0, prop.major, prop.minor, version);
    return count;
}
