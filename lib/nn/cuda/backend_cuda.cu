// backend_cuda.cu: the CUDA backend table (nn/backend.h): cuBLAS for the
// matrix products, a kernel per operation for the rest (lib/nn/cuda/*.cu).
#include <cstdio>

#include "nn/cuda/cuda.h"

// What computes the products, for the training log: cuBLAS and the device.
static const char *cuda_describe(void) {
    static char text[256];
    if (!text[0]) {
        int version = 0, dev = 0;
        cublasGetVersion(cuda_blas(), &version);
        cudaDeviceProp prop;
        cuda_check(cudaGetDevice(&dev), "describe the device");
        cuda_check(cudaGetDeviceProperties(&prop, dev), "describe the device");
        snprintf(text, sizeof text, "cuBLAS %d (fp32) on %.200s", version, prop.name);
    }
    return text;
}

static void cuda_transfer(float *dst, const float *src, size_t n) { cuda_copy(dst, src, n); }

static const backend cuda_backend = {
    .name = "cuda",
    .device = DEVICE_CUDA,
    .describe = cuda_describe,
    .alloc = cuda_alloc,
    .release = cuda_release,
    .zero = cuda_zero,
    .upload = cuda_transfer,
    .download = cuda_transfer,
    .matmul = cuda_matmul,
    .matmul_backward = cuda_matmul_backward,
    // no bf16 products here yet (--bf16 is the CPU's)
    .pack_bf16 = nullptr,
    .release_bf16 = nullptr,
    .matmul_bf16 = nullptr,
    .matmul_bf16_backward = nullptr,
    .gated_matmul_bf16 = nullptr,
    .gated_matmul_bf16_backward = nullptr,
    .rmsnorm = cuda_rmsnorm,
    .rmsnorm_backward = cuda_rmsnorm_backward,
    .attention = cuda_attention,
    .attention_backward = cuda_attention_backward,
    .activation = cuda_activation,
    .activation_backward = cuda_activation_backward,
    .gated = cuda_gated,
    .gated_backward = cuda_gated_backward,
    .rope = cuda_rope,
    .embedding = cuda_embedding,
    .embedding_backward = cuda_embedding_backward,
    .cross_entropy = cuda_cross_entropy,
    .argmax = cuda_argmax,
    .add = cuda_add,
    .scale = cuda_scale,
    .dropout = cuda_dropout,
    .copy = cuda_copy,
};

extern "C" const backend *backend_cuda(void) { return &cuda_backend; }
