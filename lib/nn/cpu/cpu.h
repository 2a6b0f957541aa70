// cpu.h: private to lib/nn/cpu: the kernels that backend_cpu.c assembles into
// the two CPU backend tables. cpu_* are the fast kernels (BLAS, OpenMP),
// ref_* the plain reference loops (no BLAS, no OpenMP, double accumulation);
// a kernel that would be the same code in both has one name and serves both.
// Shapes and semantics are those documented in nn/backend.h.
#ifndef DEAL_NN_CPU_H
#define DEAL_NN_CPU_H

#include <stddef.h>
#include <stdint.h>

// Below this many scalar operations a loop is not worth an OpenMP team.
#define CPU_PAR_MIN 16384

// On a kernel with elementwise loops: compiled for AVX-512, AVX2 and plain
// x86-64, the best the CPU runs picked at load time (the build itself targets
// plain x86-64, so that it runs anywhere).
#if defined(__x86_64__) && defined(__GNUC__)
#define CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define CPU_CLONES
#endif

// memory.c (shared)
float *cpu_alloc(size_t n);
void cpu_release(float *p);
void cpu_zero(float *p, size_t n);
void cpu_copy(float *dst, const float *src, size_t n);
// A kernel's scratch of at least bytes, kept between its calls in the
// caller's statics *buf, *cap and grown when too small: no allocation (and
// page faults) per call. The backend runs one call at a time.
void *cpu_scratch(void **buf, size_t *cap, size_t bytes);

// matmul.c
void cpu_matmul(float *out, const float *inp, const float *w, int N, int IC, int OC, float alpha, float beta);
void cpu_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int IC,
                         int OC, float alpha);
void ref_matmul(float *out, const float *inp, const float *w, int N, int IC, int OC, float alpha, float beta);
void ref_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int IC,
                         int OC, float alpha);

// bf16.c (fast backend only: oneDNN)
void *cpu_pack_bf16(const float *w, int OC, int IC);
void cpu_release_bf16(void *packed);
void cpu_matmul_bf16(float *out, const float *inp, const void *packed, int N, int IC, int OC, float beta);
void cpu_matmul_bf16_backward(float *dinp, const float *dout, const void *packed, int N, int IC, int OC, float beta);
// The same two products on an input already in bf16 (x [N, IC] forward, dout [N, OC] backward).
void cpu_matmul_bf16_from(float *out, const uint16_t *inp, const void *packed, int N, int IC, int OC, float beta);
void cpu_matmul_bf16_backward_from(float *dinp, const uint16_t *dout, const void *packed, int N, int IC, int OC,
                                   float beta);

// norm.c
void cpu_rmsnorm(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
void cpu_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *rstd, int N, int C);
void ref_rmsnorm(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
void ref_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *rstd, int N, int C);

// attention.c
void cpu_attention(float *out, float *probs, const float *q, const float *k, const float *v, const float *bias,
                   const int *kv_start, const int *kv_end, int causal, float scale, int B, int Tq, int Tk, int H,
                   int KVH, int hs);
void cpu_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *probs,
                            const float *q, const float *k, const float *v, int causal, float scale, int B, int Tq,
                            int Tk, int H, int KVH, int hs);
void ref_attention(float *out, float *probs, const float *q, const float *k, const float *v, const float *bias,
                   const int *kv_start, const int *kv_end, int causal, float scale, int B, int Tq, int Tk, int H,
                   int KVH, int hs);
void ref_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *probs,
                            const float *q, const float *k, const float *v, int causal, float scale, int B, int Tq,
                            int Tk, int H, int KVH, int hs);

// activation.c
void cpu_activation(float *out, const float *inp, size_t n, int act);
void cpu_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act);
void cpu_gated(float *out, const float *gate, const float *up, size_t n, int act);
void cpu_gated_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                        int act);
void ref_activation(float *out, const float *inp, size_t n, int act);
void ref_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act);
void ref_gated(float *out, const float *gate, const float *up, size_t n, int act);
void ref_gated_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                        int act);
// The gated pair with bf16 outputs (fast backend only): what to_bf16 would make of cpu_gated's and
// cpu_gated_backward's.
void cpu_gated_to_bf16(uint16_t *out, const float *gate, const float *up, size_t n, int act);
void cpu_gated_backward_to_bf16(uint16_t *dgate, uint16_t *dup, const float *dout, const float *gate,
                                const float *up, size_t n, int act);

// ffn_bf16.c (fast backend only): the gated activation fused with the bf16 products around it
void cpu_gated_matmul_bf16(float *y, const float *gate, const float *up, const void *w, int N, int F, int C, int act);
void cpu_gated_matmul_bf16_backward(float *dx, const float *dy, const float *gate, const float *up,
                                    const void *w_gate, const void *w_up, int N, int C, int F, int act);

// rope.c
void cpu_rope(float *x, const int *pos, const float *cos, const float *sin, int B, int T, int H, int hs, int sign);
void ref_rope(float *x, const int *pos, const float *cos, const float *sin, int B, int T, int H, int hs, int sign);

// embedding.c (shared)
void cpu_embedding(float *out, const int32_t *ids, const float *table, int N, int C, float scale);
void cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C, float scale);

// loss.c
double cpu_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int N, int V, float grad_scale);
double ref_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int N, int V, float grad_scale);
void cpu_argmax(int32_t *out, const float *logits, int N, int V);  // shared

// elementwise.c (shared)
void cpu_add(float *out, const float *a, const float *b, size_t n);
void cpu_scale(float *x, float s, size_t n);
void cpu_dropout(float *out, const float *inp, uint64_t seed, int N, int C, float p, int accumulate);

#endif
