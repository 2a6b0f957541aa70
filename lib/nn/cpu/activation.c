// activation.c: elementwise activations over n values, plain and gated.
//   act 0 relu, 1 gelu (tanh approximation), 2 silu (x * sigmoid(x)).
//   activation  out = act(inp);   backward  dinp += dout * act'(inp)
//   gated       out = act(gate) * up (T5 v1.1 gated-GELU, LLaMA SwiGLU);
//               backward  dgate += dout * up * act'(gate), dup += dout * act(gate)
// The scalar functions are nn/scalar_kernels.h's (shared with CUDA); the fast
// kernels run the loops with OpenMP, the reference ones serially.
#include <math.h>

#include "base/util.h"
#include "nn/cpu/cpu.h"
#include "nn/scalar_kernels.h"

static void check_act(int act) {
    if (act < 0 || act > 2) die_internal("unknown activation %d", act);
}

// The fast kernels: OpenMP over the values.
#define PAR_N _Pragma("omp parallel for if (n >= CPU_PAR_MIN)")

void cpu_activation(float *out, const float *inp, size_t n, int act) {
    check_act(act);
    PAR_N for (size_t i = 0; i < n; i++) out[i] = act_forward(inp[i], act);
}

void cpu_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act) {
    check_act(act);
    PAR_N for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * act_grad(inp[i], act);
}

void cpu_gated(float *out, const float *gate, const float *up, size_t n, int act) {
    check_act(act);
    PAR_N for (size_t i = 0; i < n; i++) out[i] = act_forward(gate[i], act) * up[i];
}

// One value of the gated backward (NULL outputs skipped).
static inline void gated_backward_one(float *dgate, float *dup, const float *dout, const float *gate,
                                      const float *up, size_t i, int act) {
    if (dgate) dgate[i] += dout[i] * up[i] * act_grad(gate[i], act);
    if (dup) dup[i] += dout[i] * act_forward(gate[i], act);
}

void cpu_gated_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                        int act) {
    check_act(act);
    PAR_N for (size_t i = 0; i < n; i++) gated_backward_one(dgate, dup, dout, gate, up, i, act);
}

// The reference kernels: the same scalar functions, serial loops.

void ref_activation(float *out, const float *inp, size_t n, int act) {
    check_act(act);
    for (size_t i = 0; i < n; i++) out[i] = act_forward(inp[i], act);
}

void ref_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act) {
    check_act(act);
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * act_grad(inp[i], act);
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
