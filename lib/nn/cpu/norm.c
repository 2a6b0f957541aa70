// norm.c: RMSNorm (LLaMA) = T5LayerNorm: no mean subtraction, no bias.
//   forward   rstd[n] = 1 / sqrt(mean_c inp[n,c]^2 + eps)
//             out[n,c] = inp[n,c] * rstd[n] * weight[c]          inp, out [N,C]
//   backward  dinp[n,c] += rstd*w[c]*dout[n,c] - rstd^3/C * inp[n,c] * sum_j dout[n,j]*w[j]*inp[n,j]
//             dweight[c] += sum_n dout[n,c] * inp[n,c] * rstd[n]
// Each row is computed in double by the same code in both backends; the fast
// one runs rows (and column tiles of dweight) in parallel. The row functions
// are inlined so that they are compiled for each of the caller's instruction
// sets (CPU_CLONES), not only for plain x86-64.
#include "nn/cpu/cpu.h"

#include <math.h>

static inline __attribute__((always_inline)) void rmsnorm_row(float *out, float *rstd, const float *x,
                                                              const float *weight, int C, float eps) {
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
    float r = (float)(1.0 / sqrt(ss / C + eps));
#pragma omp simd  // out may be x itself, value for value; the compiler cannot tell, and kept this loop scalar
    for (int c = 0; c < C; c++) out[c] = x[c] * r * weight[c];
    *rstd = r;
}

static inline __attribute__((always_inline)) void rmsnorm_backward_row(float *dx, const float *dy, const float *x,
                                                                       const float *weight, float r, int C) {
    double dot = 0.0;  // sum_j dy[j] * w[j] * x[j]
#pragma omp simd reduction(+ : dot)
    for (int c = 0; c < C; c++) dot += (double)dy[c] * weight[c] * x[c];
    float k = (float)((double)r * r * r * dot / C);
#pragma omp simd  // as above
    for (int c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - k * x[c];
}

// dweight over the columns [c0, c0 + DW_TILE): rows outer (cache-friendly), a
// double accumulator per column.
#define DW_TILE 64
static void rmsnorm_dweight_tile(float *dweight, const float *dout, const float *inp, const float *rstd, int N, int C,
                                 int c0) {
    int c1 = c0 + DW_TILE < C ? c0 + DW_TILE : C;
    double acc[DW_TILE] = {0};
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *x = inp + (size_t)n * C;
        for (int c = c0; c < c1; c++) acc[c - c0] += (double)dy[c] * x[c] * rstd[n];
    }
    for (int c = c0; c < c1; c++) dweight[c] += (float)acc[c - c0];
}

CPU_CLONES void cpu_rmsnorm(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps) {
#pragma omp parallel for if ((size_t)N * C >= CPU_PAR_MIN)
    for (int n = 0; n < N; n++)
        rmsnorm_row(out + (size_t)n * C, &rstd[n], inp + (size_t)n * C, weight, C, eps);
}

void ref_rmsnorm(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps) {
    for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * C, &rstd[n], inp + (size_t)n * C, weight, C, eps);
}

CPU_CLONES void cpu_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *rstd, int N, int C) {
    int par = (size_t)N * C >= CPU_PAR_MIN;
    if (dinp) {
#pragma omp parallel for if (par)
        for (int n = 0; n < N; n++)
            rmsnorm_backward_row(dinp + (size_t)n * C, dout + (size_t)n * C, inp + (size_t)n * C, weight, rstd[n], C);
    }
    if (dweight) {
#pragma omp parallel for if (par)
        for (int c0 = 0; c0 < C; c0 += DW_TILE) rmsnorm_dweight_tile(dweight, dout, inp, rstd, N, C, c0);
    }
}

void ref_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *rstd, int N, int C) {
    if (dinp)
        for (int n = 0; n < N; n++)
            rmsnorm_backward_row(dinp + (size_t)n * C, dout + (size_t)n * C, inp + (size_t)n * C, weight, rstd[n], C);
    if (dweight)
        for (int c0 = 0; c0 < C; c0 += DW_TILE) rmsnorm_dweight_tile(dweight, dout, inp, rstd, N, C, c0);
}
