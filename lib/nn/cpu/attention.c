// attention.c: multi-head scaled dot-product attention with grouped-query
// heads, an optional additive bias (T5 relative positions) and masks.
//   q [B,Tq,H,hs]; k, v [B,Tk,KVH,hs]; out [B,Tq,H,hs]; probs [B,H,Tq,Tk];
//   bias [H,Tq,Tk] (shared over the batch) or NULL.
//   Query head h reads kv head h / (H / KVH).
//   scores[i,j] = scale * q_i . k_j + bias[h,i,j], over the visible keys j of
//   query i (see visible_keys); probs = softmax(scores), exactly 0 on hidden
//   keys, a row of zeros (and a zero output) for a query that sees no key.
// Backward, with dS = P * (dP - rowsum(P * dP)) and dP = dout @ v^T:
//   dq += scale * dS @ k; dk += scale * dS^T @ q; dv += P^T @ dout;
//   dbias[h] += sum over the batch of dS. Hidden keys have P = 0, so dS = 0
//   there and the backward pass needs no masks.
#include "nn/cpu/blas.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/cpu/cpu.h"
#include "nn/backend_checks.h"
#include "nn/scalar_kernels.h"

// ---- fast: sgemm per (batch, head) for the two products, OpenMP over rows for the softmax ----

// Softmax in place over one row of probs that holds scale * q.k: adds the
// bias row (if any) on the visible keys [lo,hi), zeroes the hidden ones.
static inline __attribute__((always_inline)) void softmax_row(float *p, const float *bias_row, int lo, int hi,
                                                              int Tk) {
    if (bias_row)
#pragma omp simd
        for (int j = lo; j < hi; j++) p[j] += bias_row[j];
    float max = -INFINITY;
#pragma omp simd reduction(max : max)
    for (int j = lo; j < hi; j++) max = p[j] > max ? p[j] : max;
    if (max == -INFINITY) lo = hi = 0;  // no key visible (or every score -inf)
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int j = lo; j < hi; j++) {
        p[j] = exp_fast(p[j] - max);
        sum += p[j];
    }
    float inv = lo < hi ? (float)(1.0 / sum) : 0.0f;
#pragma omp simd
    for (int j = 0; j < Tk; j++) p[j] = j >= lo && j < hi ? p[j] * inv : 0.0f;
}

CPU_CLONES void cpu_attention(float *out, float *probs, const float *q, const float *k, const float *v, const float *bias,
                   const int *kv_start, const int *kv_end, int causal, float scale, int B, int Tq, int Tk, int H,
                   int KVH, int hs) {
    check_heads(H, KVH);
    if (B <= 0 || Tq <= 0 || hs <= 0) return;
    int group = H / KVH, qs = H * hs, ks = KVH * hs;  // row strides of q/out and of k/v
    if (Tk <= 0) {  // nothing to see
        memset(out, 0, sizeof(float) * B * Tq * qs);
        return;
    }
    if (Tq == 1) {  // one decoding step: a row of dot products per (b,h) beats tiny BLAS calls
        long rows = (long)B * H;
#pragma omp parallel for if ((size_t)rows * Tk * hs >= CPU_PAR_MIN)
        for (long r = 0; r < rows; r++) {
            int b = (int)(r / H), h = (int)(r % H), lo, hi;
            const float *qr = q + (size_t)b * qs + h * hs;
            const float *kb = k + (size_t)b * Tk * ks + h / group * hs, *vb = v + (size_t)b * Tk * ks + h / group * hs;
            float *p = probs + (size_t)r * Tk, *o = out + (size_t)b * qs + h * hs;
            visible_keys(&lo, &hi, kv_start, kv_end, causal, b, 0, 1, Tk);
            for (int j = lo; j < hi; j++) {
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int c = 0; c < hs; c++) dot += qr[c] * kb[(size_t)j * ks + c];
                p[j] = scale * dot;
            }
            softmax_row(p, bias ? bias + (size_t)h * Tk : NULL, lo, hi, Tk);
            for (int c = 0; c < hs; c++) o[c] = 0.0f;
            for (int j = lo; j < hi; j++)
                for (int c = 0; c < hs; c++) o[c] += p[j] * vb[(size_t)j * ks + c];
        }
        return;
    }
    // 1. probs[b,h] = scale * q[b,:,h] @ k[b,:,h/group]^T        [Tq,Tk]
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, hs, scale, q + (size_t)b * Tq * qs + h * hs,
                        qs, k + (size_t)b * Tk * ks + h / group * hs, ks, 0.0f, probs + ((size_t)b * H + h) * Tq * Tk,
                        Tk);
    // 2. bias, masks and softmax, one row (b,h,i) at a time
    long rows = (long)B * H * Tq;
#pragma omp parallel for if ((size_t)rows * Tk >= CPU_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / ((long)H * Tq)), h = (int)(r / Tq % H), i = (int)(r % Tq), lo, hi;
        visible_keys(&lo, &hi, kv_start, kv_end, causal, b, i, Tq, Tk);
        softmax_row(probs + (size_t)r * Tk, bias ? bias + ((size_t)h * Tq + i) * Tk : NULL, lo, hi, Tk);
    }
    // 3. out[b,:,h] = probs[b,h] @ v[b,:,h/group]                  [Tq,hs]
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, hs, Tk, 1.0f,
                        probs + ((size_t)b * H + h) * Tq * Tk, Tk, v + (size_t)b * Tk * ks + h / group * hs, ks, 0.0f,
                        out + (size_t)b * Tq * qs + h * hs, qs);
}

CPU_CLONES void cpu_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *probs,
                            const float *q, const float *k, const float *v, float scale, int B, int Tq, int Tk, int H,
                            int KVH, int hs) {
    check_heads(H, KVH);
    if (B <= 0 || Tq <= 0 || Tk <= 0 || hs <= 0) return;
    int group = H / KVH, qs = H * hs, ks = KVH * hs;
    int need_ds = dq || dk || dbias;
    float *ds = need_ds ? xmalloc(sizeof(float) * H * Tq * Tk) : NULL;  // dS of one batch element [H,Tq,Tk]
    // One batch element at a time: the rows of a step are then distinct
    // (h,i), so dbias can be accumulated from them in parallel; the kv heads
    // shared by several query heads are accumulated by serial loops over h.
    for (int b = 0; b < B; b++) {
        const float *P = probs + (size_t)b * H * Tq * Tk;  // [H,Tq,Tk]
        const float *qb = q + (size_t)b * Tq * qs, *dob = dout + (size_t)b * Tq * qs;
        const float *kb = k + (size_t)b * Tk * ks, *vb = v + (size_t)b * Tk * ks;
        if (dv)  // dv[b,:,h/group] += P[h]^T @ dout[b,:,h]           [Tk,hs]
            for (int h = 0; h < H; h++)
                blas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, hs, Tq, 1.0f, P + (size_t)h * Tq * Tk, Tk,
                            dob + h * hs, qs, 1.0f, dv + (size_t)b * Tk * ks + h / group * hs, ks);
        if (!need_ds) continue;
        // dP[h] = dout[b,:,h] @ v[b,:,h/group]^T                      [Tq,Tk]
        for (int h = 0; h < H; h++)
            blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, hs, 1.0f, dob + h * hs, qs,
                        vb + h / group * hs, ks, 0.0f, ds + (size_t)h * Tq * Tk, Tk);
        // dS = P * (dP - rowsum(P * dP)), in place; dbias += dS
        long rows = (long)H * Tq;
#pragma omp parallel for if ((size_t)rows * Tk >= CPU_PAR_MIN)
        for (long r = 0; r < rows; r++) {
            const float *p = P + (size_t)r * Tk;
            float *d = ds + (size_t)r * Tk;
            double dot = 0.0;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < Tk; j++) dot += (double)p[j] * d[j];
            for (int j = 0; j < Tk; j++) d[j] = p[j] * (d[j] - (float)dot);
            if (dbias) {
                float *db = dbias + (size_t)r * Tk;  // r = h * Tq + i
                for (int j = 0; j < Tk; j++) db[j] += d[j];
            }
        }
        for (int h = 0; h < H; h++) {
            const float *dsh = ds + (size_t)h * Tq * Tk;
            if (dq)  // dq[b,:,h] += scale * dS[h] @ k[b,:,h/group]      [Tq,hs]
                blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, hs, Tk, scale, dsh, Tk,
                            kb + h / group * hs, ks, 1.0f, dq + (size_t)b * Tq * qs + h * hs, qs);
            if (dk)  // dk[b,:,h/group] += scale * dS[h]^T @ q[b,:,h]    [Tk,hs]
                blas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, hs, Tq, scale, dsh, Tk, qb + h * hs, qs,
                            1.0f, dk + (size_t)b * Tk * ks + h / group * hs, ks);
        }
    }
    free(ds);
}

// ---- reference: one query at a time, double accumulation ----

void ref_attention(float *out, float *probs, const float *q, const float *k, const float *v, const float *bias,
                   const int *kv_start, const int *kv_end, int causal, float scale, int B, int Tq, int Tk, int H,
                   int KVH, int hs) {
    check_heads(H, KVH);
    int group = H / KVH;
    double *s = xmalloc(sizeof(double) * (Tk > 0 ? Tk : 1)), *o = xmalloc(sizeof(double) * (hs > 0 ? hs : 1));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                const float *qi = q + (((size_t)b * Tq + i) * H + h) * hs;
                float *oi = out + (((size_t)b * Tq + i) * H + h) * hs;
                float *p = probs + (((size_t)b * H + h) * Tq + i) * Tk;
                const float *bias_row = bias ? bias + ((size_t)h * Tq + i) * Tk : NULL;
                int lo, hi;
                visible_keys(&lo, &hi, kv_start, kv_end, causal, b, i, Tq, Tk);
                double max = -INFINITY;
                for (int j = lo; j < hi; j++) {
                    const float *kj = k + (((size_t)b * Tk + j) * KVH + h / group) * hs;
                    double dot = 0.0;
                    for (int c = 0; c < hs; c++) dot += (double)qi[c] * kj[c];
                    s[j] = scale * dot + (bias_row ? bias_row[j] : 0.0);
                    if (s[j] > max) max = s[j];
                }
                if (max == -INFINITY) lo = hi = 0;  // no key visible
                double sum = 0.0;
                for (int j = lo; j < hi; j++) sum += exp(s[j] - max);
                for (int c = 0; c < hs; c++) o[c] = 0.0;
                for (int j = 0; j < Tk; j++) p[j] = 0.0f;
                for (int j = lo; j < hi; j++) {
                    double pj = exp(s[j] - max) / sum;
                    const float *vj = v + (((size_t)b * Tk + j) * KVH + h / group) * hs;
                    for (int c = 0; c < hs; c++) o[c] += pj * vj[c];
                    p[j] = (float)pj;
                }
                for (int c = 0; c < hs; c++) oi[c] = (float)o[c];
            }
    free(s);
    free(o);
}

void ref_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *probs,
                            const float *q, const float *k, const float *v, float scale, int B, int Tq, int Tk, int H,
                            int KVH, int hs) {
    check_heads(H, KVH);
    int group = H / KVH;
    double *dp = xmalloc(sizeof(double) * (Tk > 0 ? Tk : 1)), *dqi = xmalloc(sizeof(double) * (hs > 0 ? hs : 1));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                size_t qoff = (((size_t)b * Tq + i) * H + h) * hs;
                const float *p = probs + (((size_t)b * H + h) * Tq + i) * Tk, *doi = dout + qoff, *qi = q + qoff;
                double dot = 0.0;  // sum_j P_j dP_j
                for (int j = 0; j < Tk; j++) {
                    const float *vj = v + (((size_t)b * Tk + j) * KVH + h / group) * hs;
                    dp[j] = 0.0;
                    for (int c = 0; c < hs; c++) dp[j] += (double)doi[c] * vj[c];
                    dot += p[j] * dp[j];
                }
                for (int c = 0; c < hs; c++) dqi[c] = 0.0;
                for (int j = 0; j < Tk; j++) {
                    size_t koff = (((size_t)b * Tk + j) * KVH + h / group) * hs;
                    double dsj = p[j] * (dp[j] - dot);
                    if (dbias) dbias[((size_t)h * Tq + i) * Tk + j] += (float)dsj;
                    for (int c = 0; c < hs; c++) {
                        dqi[c] += scale * dsj * k[koff + c];
                        if (dk) dk[koff + c] += (float)(scale * dsj * qi[c]);
                        if (dv) dv[koff + c] += (float)((double)p[j] * doi[c]);
                    }
                }
                if (dq)
                    for (int c = 0; c < hs; c++) dq[qoff + c] += (float)dqi[c];
            }
    free(dp);
    free(dqi);
}
