// activation.c: elementwise activations over n values, plain and gated.
//   act 0 relu, 1 gelu (tanh approximation), 2 silu (x * sigmoid(x)).
//   activation  out = act(inp);   backward  dinp = dout * act'(inp)
//   gated       out = act(gate) * up (T5 v1.1 gated-GELU, LLaMA SwiGLU);
//               backward  dgate = dout * up * act'(gate), dup = dout * act(gate)
// The backward passes write their outputs (the feed-forward block's are its
// own scratch): no zero-fill before, no read of them.
// The scalar functions are nn/scalar_kernels.h's (shared with CUDA); the fast
// kernels run the loops with OpenMP, the reference ones serially.
#include <math.h>

#include "base/util.h"
#include "nn/cpu/cpu.h"
#include "nn/backend_checks.h"
#include "nn/scalar_kernels.h"

// The fast kernels: OpenMP threads over the values, SIMD lanes within each
// thread's share. The loops are written once per activation (act a literal,
// so act_forward's switch folds away and the loop vectorises) and compiled for
// AVX-512, AVX2 and plain x86-64 (CPU_CLONES).
#define PAR_SIMD _Pragma("omp parallel for simd if (n >= CPU_PAR_MIN)")
#define FAST_KERNEL CPU_CLONES static void

#define ACTIVATION_KERNELS(A)                                                                               \
    FAST_KERNEL activation_##A(float *out, const float *inp, size_t n) {                                   \
        PAR_SIMD for (size_t i = 0; i < n; i++) out[i] = act_forward(inp[i], A);                            \
    }                                                                                                       \
    FAST_KERNEL activation_backward_##A(float *dinp, const float *dout, const float *inp, size_t n) {      \
        PAR_SIMD for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * act_grad(inp[i], A);                    \
    }                                                                                                       \
    FAST_KERNEL gated_##A(float *out, const float *gate, const float *up, size_t n) {                      \
        PAR_SIMD for (size_t i = 0; i < n; i++) out[i] = act_forward(gate[i], A) * up[i];                   \
    }                                                                                                       \
    FAST_KERNEL gated_backward_##A(float *dgate, float *dup, const float *dout, const float *gate,        \
                                   const float *up, size_t n) {                                            \
        if (dgate && dup) { /* one pass: the activation's exp is shared */                                \
            PAR_SIMD for (size_t i = 0; i < n; i++) {                                                         \
                dgate[i] = dout[i] * up[i] * act_grad(gate[i], A);                                            \
                dup[i] = dout[i] * act_forward(gate[i], A);                                                   \
            }                                                                                                 \
        } else if (dgate) {                                                                                   \
            PAR_SIMD for (size_t i = 0; i < n; i++) dgate[i] = dout[i] * up[i] * act_grad(gate[i], A);        \
        } else if (dup) {                                                                                     \
            PAR_SIMD for (size_t i = 0; i < n; i++) dup[i] = dout[i] * act_forward(gate[i], A);               \
        }                                                                                                     \
    }                                                                                                         \
    /* The gated pair with bf16 outputs: the products' inputs (ffn_bf16.c), the */                           \
    /* fp32 values rounded as to_bf16 would round them. */                                                    \
    FAST_KERNEL gated_to_bf16_##A(uint16_t *out, const float *gate, const float *up, size_t n) {            \
        PAR_SIMD for (size_t i = 0; i < n; i++) out[i] = bf16_of(act_forward(gate[i], A) * up[i]);            \
    }                                                                                                         \
    FAST_KERNEL gated_backward_to_bf16_##A(uint16_t *dgate, uint16_t *dup, const float *dout,               \
                                           const float *gate, const float *up, size_t n) {                  \
        PAR_SIMD for (size_t i = 0; i < n; i++) {                                                             \
            dgate[i] = bf16_of(dout[i] * up[i] * act_grad(gate[i], A));                                       \
            dup[i] = bf16_of(dout[i] * act_forward(gate[i], A));                                              \
        }                                                                                                     \
    }
ACTIVATION_KERNELS(0)
ACTIVATION_KERNELS(1)
ACTIVATION_KERNELS(2)

// The kernel of activation act (0, 1, 2) called with the arguments that follow.
#define BY_ACT(kernel, act, ...) \
    ((act) == 0 ? kernel##_0(__VA_ARGS__) : (act) == 1 ? kernel##_1(__VA_ARGS__) : kernel##_2(__VA_ARGS__))

void cpu_activation(float *out, const float *inp, size_t n, int act) {
    check_act(act);
    BY_ACT(activation, act, out, inp, n);
}

void cpu_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act) {
    check_act(act);
    BY_ACT(activation_backward, act, dinp, dout, inp, n);
}

void cpu_gated(float *out, const float *gate, const float *up, size_t n, int act) {
    check_act(act);
    BY_ACT(gated, act, out, gate, up, n);
}

void cpu_gated_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                        int act) {
    check_act(act);
    BY_ACT(gated_backward, act, dgate, dup, dout, gate, up, n);
}

void cpu_gated_to_bf16(uint16_t *out, const float *gate, const float *up, size_t n, int act) {
    check_act(act);
    BY_ACT(gated_to_bf16, act, out, gate, up, n);
}

void cpu_gated_backward_to_bf16(uint16_t *dgate, uint16_t *dup, const float *dout, const float *gate,
                                const float *up, size_t n, int act) {
    check_act(act);
    BY_ACT(gated_backward_to_bf16, act, dgate, dup, dout, gate, up, n);
}

// The reference kernels: the same scalar functions, serial loops.

// One value of the gated backward (NULL outputs skipped).
static inline void gated_backward_one(float *dgate, float *dup, const float *dout, const float *gate,
                                      const float *up, size_t i, int act) {
    if (dgate) dgate[i] = dout[i] * up[i] * act_grad(gate[i], act);
    if (dup) dup[i] = dout[i] * act_forward(gate[i], act);
}

void ref_activation(float *out, const float *inp, size_t n, int act) {
    check_act(act);
    for (size_t i = 0; i < n; i++) out[i] = act_forward(inp[i], act);
}

void ref_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act) {
    check_act(act);
    for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * act_grad(inp[i], act);
}

void ref_gated(float *out, const float *gate, const float *up, size_t n, int act) {
    check_act(act);
    for (size_t i = 0; i < n; i++) out[i] = act_forward(gate[i], act) * up[i];
}

void ref_gated_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                        int act) {
    check_act(act);
    for (size_t i = 0; i < n; i++) gated_backward_one(dgate, dup, dout, gate, up, i, act);
}
