// elementwise.c: vector arithmetic over n floats (one kernel for both CPU
// backends: memory-bound loops the compiler vectorises).
#include "nn/cpu/cpu.h"

#include "nn/scalar_kernels.h"

// out = a + b (out may be a or b)
void cpu_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// x *= s
void cpu_scale(float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

// Dropout: one generator per row (nn/scalar_kernels.h), rows in parallel.
CPU_CLONES void cpu_dropout(float *out, const float *inp, uint64_t seed, int N, int C, float p, int accumulate) {
    float keep = dropout_keep(p);
    uint64_t cut = dropout_cut(p);
#pragma omp parallel for if ((size_t)N * C >= CPU_PAR_MIN)
    for (int r = 0; r < N; r++) dropout_row(out + (size_t)r * C, inp + (size_t)r * C, seed, r, C, keep, cut, accumulate);
}
