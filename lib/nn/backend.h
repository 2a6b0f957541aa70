// backend.h: the operations the models are built from, one family at a time
// (as in llm.c's llmc/), behind a table of function pointers so that a CUDA
// backend can slot in beside the CPU one. Every tensor is float32, row-major,
// in the backend's memory. The models never touch tensor data directly in hot
// paths; they call these.
//
// Shapes use: N rows (tokens), B batch, T sequence length, H query heads,
// KVH key/value heads (H % KVH == 0: grouped-query attention), hs head size,
// C channels, V vocabulary. A "[B,T,H,hs]" tensor is the output of a linear
// layer with H*hs outputs over B*T tokens, so no transposes are needed.
//
// Integer arrays (ids, targets, positions, kv_start/kv_end) are host memory:
// they are small, and a device backend copies them over itself.
//
// Backward functions ACCUMULATE (+=) into their gradient outputs, so that
// residual branches and shared weights (tied embeddings) need no extra adds;
// a NULL gradient output is skipped (e.g. frozen weights under LoRA).
#ifndef DEAL_BACKEND_H
#define DEAL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { DEVICE_CPU = 0, DEVICE_CUDA = 1 } device_kind;

typedef struct backend {
    const char *name;
    device_kind device;
    // What computes the matrix products, e.g. the BLAS and its kernels (for logs).
    const char *(*describe)(void);

    // ---- memory (device buffers of floats) ----
    float *(*alloc)(size_t n);  // zero-filled
    void (*release)(float *p);
    void (*zero)(float *p, size_t n);
    void (*upload)(float *dst, const float *host, size_t n);
    void (*download)(float *host, const float *src, size_t n);

    // ---- linear layers ----
    // out[N,OC] = beta * out + alpha * inp[N,IC] @ w[OC,IC]^T   (w as a HF nn.Linear weight)
    void (*matmul)(float *out, const float *inp, const float *w, int N, int IC, int OC, float alpha, float beta);
    // dinp[N,IC] += alpha * dout[N,OC] @ w;  dw[OC,IC] += alpha * dout^T @ inp.
    void (*matmul_backward)(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N,
                            int IC, int OC, float alpha);

    // ---- frozen weights in bf16 (optional: NULL where a backend has none) ----
    // A weight w [OC,IC] converted once to the backend's bf16 form (an opaque
    // handle; w itself is untouched), and its release.
    void *(*pack_bf16)(const float *w, int OC, int IC);
    void (*release_bf16)(void *packed);
    // out[N,OC] = beta * out + bf16(inp) @ w^T (beta 0 or 1), fp32 accumulation.
    void (*matmul_bf16)(float *out, const float *inp, const void *packed, int N, int IC, int OC, float beta);
    // dinp[N,IC] = beta * dinp + bf16(dout) @ w, beta 0 or 1 (frozen weights have
    // no gradient).
    void (*matmul_bf16_backward)(float *dinp, const float *dout, const void *packed, int N, int IC, int OC,
                                 float beta);
    // A gated feed-forward's activation fused with the bf16 products around
    // it (NULL where a backend has none): y[N,C] += bf16(act(gate) * up) @ w^T
    // (w the down projection [C,F]), and dx[N,C] = bf16(dgate) @ w_gate +
    // bf16(dup) @ w_up (written) with (dgate, dup) the gated activation's
    // gradients given dy [N,F] (see gated_backward); the same values as the
    // unfused calls.
    void (*gated_matmul_bf16)(float *y, const float *gate, const float *up, const void *w, int N, int F, int C,
                              int act);
    void (*gated_matmul_bf16_backward)(float *dx, const float *dy, const float *gate, const float *up,
                                       const void *w_gate, const void *w_up, int N, int C, int F, int act);

    // ---- normalisation: RMSNorm / T5LayerNorm, y = x / sqrt(mean(x^2) + eps) * weight ----
    // rstd[N] is saved for the backward pass.
    void (*rmsnorm)(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
    void (*rmsnorm_backward)(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                             const float *rstd, int N, int C);

    // ---- attention ----
    // q [B,Tq,H,hs]; k, v [B,Tk,KVH,hs]; out [B,Tq,H,hs]; probs [B,H,Tq,Tk] (saved
    // softmax, for the backward pass). scores = scale * q.k (+ bias[h,i,j] if bias,
    // bias [H,Tq,Tk] shared over the batch). Masks: key j of batch b is visible only
    // if kv_start[b] <= j < kv_end[b] (NULL arrays: all keys) and, if causal,
    // j <= i + (Tk - Tq) (query i sits at absolute position i + Tk - Tq, as with a
    // KV cache). A query that sees no key gets zero output.
    void (*attention)(float *out, float *probs, const float *q, const float *k, const float *v, const float *bias,
                      const int *kv_start, const int *kv_end, int causal, float scale, int B, int Tq, int Tk, int H,
                      int KVH, int hs);
    // Gradients into dq, dk, dv (any may be NULL) and dbias [H,Tq,Tk] (NULL: skip).
    // Masked keys need nothing (their probs are 0); causal, as in the forward
    // pass, lets a backend skip the keys after each query.
    void (*attention_backward)(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *probs,
                               const float *q, const float *k, const float *v, int causal, float scale, int B, int Tq,
                               int Tk, int H, int KVH, int hs);

    // ---- activations (elementwise over n values) ----
    // act: 0 relu, 1 gelu (tanh approximation, HF "gelu_new"/"gelu_pytorch_tanh"), 2 silu.
    // Unlike the other backward passes, these write their gradients (dinp, dgate,
    // dup: NULL ones skipped) instead of adding to them.
    void (*activation)(float *out, const float *inp, size_t n, int act);
    void (*activation_backward)(float *dinp, const float *dout, const float *inp, size_t n, int act);
    // Gated: out = act(gate) * up (T5 v1.1 gated-GELU, LLaMA SwiGLU).
    void (*gated)(float *out, const float *gate, const float *up, size_t n, int act);
    void (*gated_backward)(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                           int act);

    // ---- rotary position embedding (HF rotate_half layout: pairs (i, i + hs/2)) ----
    // Rotates x [B,T,H,hs] in place; the position of token (b,t) is pos[b*T+t];
    // cos/sin are tables [max_pos, hs/2]. The backward pass is rope with sign = -1
    // (the rotation's inverse applied to the gradient).
    void (*rope)(float *x, const int *pos, const float *cos, const float *sin, int B, int T, int H, int hs, int sign);

    // ---- embeddings ----
    // out[N,C] = scale * table[ids[n]]; backward: dtable[ids[n]] += scale * dout[n].
    void (*embedding)(float *out, const int32_t *ids, const float *table, int N, int C, float scale);
    void (*embedding_backward)(float *dtable, const float *dout, const int32_t *ids, int N, int C, float scale);

    // ---- loss: softmax cross-entropy over logits [N,V] ----
    // Rows with target < 0 are ignored. Returns the SUM of -log p(target) over
    // the other rows; if dlogits is not NULL, writes (not accumulates)
    // dlogits = grad_scale * (softmax - onehot) for counted rows and 0 elsewhere.
    double (*cross_entropy)(float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                            float grad_scale);
    // argmax over each row of logits [N,V] (greedy decoding).
    void (*argmax)(int32_t *out, const float *logits, int N, int V);

    // ---- elementwise ----
    void (*add)(float *out, const float *a, const float *b, size_t n);  // out = a + b (out may alias)
    void (*scale)(float *x, float s, size_t n);  // x *= s
    // Inverted dropout, out[N,C] = inp * mask with mask values 0 (probability p)
    // or 1/(1-p) (out may be inp); accumulate: out += inp * mask (out is not
    // inp). The mask is a function of (seed, row) only, never stored: the
    // backward pass applies the same mask to the gradient, accumulating.
    void (*dropout)(float *out, const float *inp, uint64_t seed, int N, int C, float p, int accumulate);
    void (*copy)(float *dst, const float *src, size_t n);  // device to device, no overlap
} backend;

// The CPU backend: BLAS for the matrix products, OpenMP across rows and heads.
const backend *backend_cpu(void);
// The plain reference CPU backend: straightforward loops, no BLAS, for testing
// the fast paths against.
const backend *backend_cpu_reference(void);
// The CUDA backend (only in builds with CUDA, DEAL_CUDA): cuBLAS and kernels,
// buffers in managed memory, every operation synchronous (lib/nn/cuda/cuda.h).
const backend *backend_cuda(void);
// The backend a tool's --device names: "cpu", or "cuda" (dies with a clear
// message when this build has no CUDA or the machine no CUDA device).
const backend *backend_for_device(const char *device);

#ifdef __cplusplus
}
#endif

#endif
