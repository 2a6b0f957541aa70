// ffn_bf16.c: under --bf16, a gated feed-forward's activation fused with the
// bf16 products on either side of it (fast backend only):
//   forward   y[N,C] += bf16(act(gate) * up) @ w_down^T
//   backward  dx[N,C] = bf16(dgate) @ w_gate + bf16(dup) @ w_up,
//             (dgate, dup) the gated activation's gradients given dy [N,F]
// The activation writes its result in bf16 straight away, instead of an fp32
// tensor that the product would read back only to convert it: the same
// numbers (rounded once, the same way) for three fewer passes over N x F
// values. For layers whose down (forward) or gate and up (backward)
// projections carry no LoRA branch, which would need the fp32 values.
#include <stdint.h>

#include "nn/cpu/cpu.h"

void cpu_gated_matmul_bf16(float *y, const float *gate, const float *up, const void *w, int N, int F, int C, int act) {
    static void *buf;
    static size_t cap;
    size_t n = (size_t)N * F;
    uint16_t *hidden = cpu_scratch(&buf, &cap, n * sizeof *hidden);
    cpu_gated_to_bf16(hidden, gate, up, n, act);
    cpu_matmul_bf16_from(y, hidden, w, N, F, C, 1.0f);
}

void cpu_gated_matmul_bf16_backward(float *dx, const float *dy, const float *gate, const float *up,
                                    const void *w_gate, const void *w_up, int N, int C, int F, int act) {
    static void *buf;
    static size_t cap;
    size_t n = (size_t)N * F;
    uint16_t *dgate = cpu_scratch(&buf, &cap, 2 * n * sizeof *dgate), *dup = dgate + n;
    cpu_gated_backward_to_bf16(dgate, dup, dy, gate, up, n, act);
    cpu_matmul_bf16_backward_from(dx, dup, w_up, N, C, F, 0.0f);
    cpu_matmul_bf16_backward_from(dx, dgate, w_gate, N, C, F, 1.0f);
}
