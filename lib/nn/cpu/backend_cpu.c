// backend_cpu.c: the two CPU backend tables. Kernels that would be the same
// code in both appear in both (memory, embedding, argmax, elementwise).
#include "nn/backend.h"
#include "nn/cpu/blas.h"
#include "nn/cpu/cpu.h"

static void cpu_upload(float *dst, const float *host, size_t n) { cpu_copy(dst, host, n); }
static void cpu_download(float *host, const float *src, size_t n) { cpu_copy(host, src, n); }

#define CPU_SHARED                                                                                       \
    .device = DEVICE_CPU, .alloc = cpu_alloc, .release = cpu_release, .zero = cpu_zero,                   \
    .upload = cpu_upload, .download = cpu_download, .embedding = cpu_embedding,                           \
    .embedding_backward = cpu_embedding_backward, .argmax = cpu_argmax, .add = cpu_add, .scale = cpu_scale, \
    .dropout = cpu_dropout, .copy = cpu_copy

static const char *plain_loops(void) { return "plain C loops (reference)"; }

static const backend cpu_backend = {
    .name = "cpu",
    .describe = blas_kernel,
    CPU_SHARED,
    .matmul = cpu_matmul,
    .matmul_backward = cpu_matmul_backward,
    .pack_bf16 = cpu_pack_bf16,
    .release_bf16 = cpu_release_bf16,
    .matmul_bf16 = cpu_matmul_bf16,
    .matmul_bf16_backward = cpu_matmul_bf16_backward,
    .gated_matmul_bf16 = cpu_gated_matmul_bf16,
    .gated_matmul_bf16_backward = cpu_gated_matmul_bf16_backward,
    .rmsnorm = cpu_rmsnorm,
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .attention = cpu_attention,
    .attention_backward = cpu_attention_backward,
    .activation = cpu_activation,
    .activation_backward = cpu_activation_backward,
    .gated = cpu_gated,
    .gated_backward = cpu_gated_backward,
    .rope = cpu_rope,
    .cross_entropy = cpu_cross_entropy,
};

static const backend cpu_reference_backend = {
    .name = "cpu-reference",
    .describe = plain_loops,
    CPU_SHARED,
    .matmul = ref_matmul,
    .matmul_backward = ref_matmul_backward,
    .rmsnorm = ref_rmsnorm,
    .rmsnorm_backward = ref_rmsnorm_backward,
    .attention = ref_attention,
    .attention_backward = ref_attention_backward,
    .activation = ref_activation,
    .activation_backward = ref_activation_backward,
    .gated = ref_gated,
    .gated_backward = ref_gated_backward,
    .rope = ref_rope,
    .cross_entropy = ref_cross_entropy,
};

const backend *backend_cpu(void) { return &cpu_backend; }
const backend *backend_cpu_reference(void) { return &cpu_reference_backend; }
