// memory.cu: managed buffers (see cuda.h for why), copies, error checks and
// the scratch buffers that carry the host integer arrays to the device.
#include "nn/cuda/cuda.h"

void cuda_check(cudaError_t err, const char *what) {
    if (err != cudaSuccess) die_internal("CUDA: %s: %s", what, cudaGetErrorString(err));
}

void cuda_done(const char *what) {
    cuda_check(cudaGetLastError(), what);
    cuda_check(cudaDeviceSynchronize(), what);
}

cublasHandle_t cuda_blas(void) {
    static cublasHandle_t handle;
    if (!handle && cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) die_internal("CUDA: cannot start cuBLAS");
    return handle;
}

float *cuda_alloc(size_t n) {
    if (n > SIZE_MAX / sizeof(float) - 1) die_internal("allocation of %zu floats is too large", n);
    size_t bytes = (n ? n : 1) * sizeof(float);
    void *p = NULL;
    cudaError_t err = cudaMallocManaged(&p, bytes, cudaMemAttachGlobal);
    if (err != cudaSuccess) die_internal("CUDA: out of memory (%zu floats): %s", n, cudaGetErrorString(err));
    cuda_check(cudaMemset(p, 0, bytes), "zero a new buffer");
    cuda_check(cudaDeviceSynchronize(), "zero a new buffer");
    return (float *)p;
}

void cuda_release(float *p) {
    if (p) cuda_check(cudaFree(p), "free a buffer");
}

void cuda_zero(float *p, size_t n) {
    if (!n) return;
    cuda_check(cudaMemset(p, 0, n * sizeof(float)), "zero");
    cuda_check(cudaDeviceSynchronize(), "zero");
}

// Host or device on either side: managed memory and cudaMemcpyDefault sort it out.
void cuda_copy(float *dst, const float *src, size_t n) {
    if (n && dst != src) cuda_check(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDefault), "copy");
}

void *cuda_scratch(int slot, size_t bytes) {
    static void *buf[SCRATCH_SLOTS];
    static size_t size[SCRATCH_SLOTS];
    if (bytes > size[slot]) {
        if (buf[slot]) cuda_check(cudaFree(buf[slot]), "free scratch");
        size_t want = bytes > 2 * size[slot] ? bytes : 2 * size[slot];
        cuda_check(cudaMalloc(&buf[slot], want), "scratch buffer");
        size[slot] = want;
    }
    return buf[slot];
}

int *cuda_ints(int slot, const int *host, size_t n) {
    if (!host) return NULL;
    int *d = (int *)cuda_scratch(slot, (n ? n : 1) * sizeof(int));
    if (n) cuda_check(cudaMemcpy(d, host, n * sizeof(int), cudaMemcpyHostToDevice), "copy indices");
    return d;
}
