// cuda.h: private to lib/nn/cuda: the kernels that backend_cuda.cu assembles
// into the CUDA backend table, and what they share (error checks, scratch
// buffers for the host integer arrays, block reductions).
//
// Two choices keep the rest of the engine unchanged:
//  - Buffers are CUDA managed memory: the host code that reads or writes
//    tensors directly (the optimizer on the LoRA factors, gradient clipping,
//    the tests) works on the same pointers, and the driver moves the pages.
//  - Every operation returns when its result is ready (one stream, a
//    synchronisation per call), so the host may touch any buffer between
//    calls, and an error is reported by the operation that caused it.
// Shapes and semantics are those documented in nn/backend.h.
#ifndef DEAL_NN_CUDA_H
#define DEAL_NN_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "nn/backend.h"

#define CUDA_THREADS 256  // threads per block of the kernels below

// Dies naming the operation if a CUDA call failed.
void cuda_check(cudaError_t err, const char *what);
// After a kernel launch: reports a failed launch or kernel, then waits for it.
void cuda_done(const char *what);
// The cuBLAS handle (created on first use).
cublasHandle_t cuda_blas(void);
// A device buffer of at least `bytes` kept for the process, one per slot
// (slots let one operation hold several at once); valid until the next call
// with the same slot.
enum { SCRATCH_IDS, SCRATCH_START, SCRATCH_END, SCRATCH_OUT, SCRATCH_SLOTS };
void *cuda_scratch(int slot, size_t bytes);
// Copies n host ints into slot's scratch buffer (NULL stays NULL).
int *cuda_ints(int slot, const int *host, size_t n);
// Blocks of CUDA_THREADS covering n items.
static inline unsigned cuda_blocks(size_t n) { return (unsigned)((n + CUDA_THREADS - 1) / CUDA_THREADS); }

// ---- block reductions (every thread of the block must call them) ----
__device__ inline float warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ inline float warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
// The sum (max) of x over the block, returned to every thread.
__device__ inline float block_reduce(float x, int is_max) {
    __shared__ float part[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    x = is_max ? warp_max(x) : warp_sum(x);
    __syncthreads();  // part[] may still be read by a previous reduction
    if (lane == 0) part[warp] = x;
    __syncthreads();
    float id = is_max ? -INFINITY : 0.0f;
    x = lane < warps ? part[lane] : id;
    return is_max ? warp_max(x) : warp_sum(x);
}
__device__ inline float block_sum(float x) { return block_reduce(x, 0); }
__device__ inline float block_max(float x) { return block_reduce(x, 1); }

// memory.cu
float *cuda_alloc(size_t n);
void cuda_release(float *p);
void cuda_zero(float *p, size_t n);
void cuda_copy(float *dst, const float *src, size_t n);

// matmul.cu
void cuda_matmul(float *out, const float *inp, const float *w, int N, int IC, int OC, float alpha, float beta);
void cuda_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int IC,
                          int OC, float alpha);

// norm.cu
void cuda_rmsnorm(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
void cuda_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                           const float *rstd, int N, int C);

// attention.cu
void cuda_attention(float *out, float *probs, const float *q, const float *k, const float *v, const float *bias,
                    const int *kv_start, const int *kv_end, int causal, float scale, int B, int Tq, int Tk, int H,
                    int KVH, int hs);
void cuda_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *probs,
                             const float *q, const float *k, const float *v, int causal, float scale, int B, int Tq,
                             int Tk, int H, int KVH, int hs);

// pointwise.cu
void cuda_activation(float *out, const float *inp, size_t n, int act);
void cuda_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act);
void cuda_gated(float *out, const float *gate, const float *up, size_t n, int act);
void cuda_gated_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                         int act);
void cuda_rope(float *x, const int *pos, const float *cos, const float *sin, int B, int T, int H, int hs, int sign);
void cuda_embedding(float *out, const int32_t *ids, const float *table, int N, int C, float scale);
void cuda_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C, float scale);
void cuda_add(float *out, const float *a, const float *b, size_t n);
void cuda_scale(float *x, float s, size_t n);
void cuda_dropout(float *out, const float *inp, uint64_t seed, int N, int C, float p, int accumulate);

// loss.cu
double cuda_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                          float grad_scale);
void cuda_argmax(int32_t *out, const float *logits, int N, int V);

#endif
