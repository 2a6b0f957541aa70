// matmul.c: linear layers, weights stored as HF nn.Linear [OC,IC].
//   forward   out[N,OC]  = beta * out + alpha * inp[N,IC] @ w[OC,IC]^T
//   backward  dinp[N,IC] += alpha * dout[N,OC] @ w
//             dw[OC,IC]  += alpha * dout^T @ inp
// beta == 0 overwrites out (whatever it held, NaN included), as BLAS does.
#include "nn/cpu/blas.h"

#include "nn/cpu/cpu.h"

// out = beta * out when there is nothing to multiply (IC == 0).
static void scale_out(float *out, size_t n, float beta) {
    for (size_t i = 0; i < n; i++) out[i] = beta == 0.0f ? 0.0f : beta * out[i];
}

// ---- fast: oneDNN sgemm (blas.h) ----

void cpu_matmul(float *out, const float *inp, const float *w, int N, int IC, int OC, float alpha, float beta) {
    if (N <= 0 || OC <= 0) return;
    if (IC <= 0) {
        scale_out(out, (size_t)N * OC, beta);
        return;
    }
    blas_sgemm('N', 'T', N, OC, IC, alpha, inp, IC, w, IC, beta, out, OC);
}

void cpu_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int IC,
                         int OC, float alpha) {
    if (N <= 0 || IC <= 0 || OC <= 0) return;
    if (dinp)  // [N,IC] += [N,OC] @ [OC,IC]
        blas_sgemm('N', 'N', N, IC, OC, alpha, dout, OC, w, IC, 1.0f, dinp, IC);
    if (dw)  // [OC,IC] += [N,OC]^T @ [N,IC]
        blas_sgemm('T', 'N', OC, IC, N, alpha, dout, OC, inp, IC, 1.0f, dw, IC);
}

// ---- reference: triple loops, double accumulation ----

void ref_matmul(float *out, const float *inp, const float *w, int N, int IC, int OC, float alpha, float beta) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double acc = 0.0;
            for (int i = 0; i < IC; i++) acc += (double)inp[(size_t)n * IC + i] * w[(size_t)o * IC + i];
            float *y = &out[(size_t)n * OC + o];
            *y = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *y));
        }
}

void ref_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int IC,
                         int OC, float alpha) {
    if (dinp)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < IC; i++) {
                double acc = 0.0;
                for (int o = 0; o < OC; o++) acc += (double)dout[(size_t)n * OC + o] * w[(size_t)o * IC + i];
                dinp[(size_t)n * IC + i] += (float)(alpha * acc);
            }
    if (dw)
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < IC; i++) {
                double acc = 0.0;
                for (int n = 0; n < N; n++) acc += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * IC + i];
                dw[(size_t)o * IC + i] += (float)(alpha * acc);
            }
}
