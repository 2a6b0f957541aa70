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
//   there and the backward pass needs no masks; the causal flag only lets it
//   skip the keys after each block of queries.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/backend_checks.h"
#include "nn/cpu/blas.h"
#include "nn/cpu/cpu.h"
#include "nn/scalar_kernels.h"

// ---- fast: OpenMP over (batch, head) pairs, in blocks of query rows, sgemm for the products ----

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

// One decoding step's query (hs values) against keys [lo,hi) of rows ks apart:
// p[j] = scale * q . k_j, four keys per pass so each load of q serves four.
static inline __attribute__((always_inline)) void decode_scores(float *p, const float *q, const float *k, int ks,
                                                                float scale, int lo, int hi, int hs) {
    int j = lo;
    for (; j + 4 <= hi; j += 4) {
        const float *k0 = k + (size_t)j * ks, *k1 = k0 + ks, *k2 = k1 + ks, *k3 = k2 + ks;
        float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
#pragma omp simd reduction(+ : d0, d1, d2, d3)
        for (int c = 0; c < hs; c++) d0 += q[c] * k0[c], d1 += q[c] * k1[c], d2 += q[c] * k2[c], d3 += q[c] * k3[c];
        p[j] = scale * d0, p[j + 1] = scale * d1, p[j + 2] = scale * d2, p[j + 3] = scale * d3;
    }
    for (; j < hi; j++) {
        const float *kj = k + (size_t)j * ks;
        float d = 0.0f;
#pragma omp simd reduction(+ : d)
        for (int c = 0; c < hs; c++) d += q[c] * kj[c];
        p[j] = scale * d;
    }
}

// o = sum over keys [lo,hi) of p[j] * v_j, four keys per pass over o (the
// simd pragma: o never overlaps v, which the compiler cannot tell).
static inline __attribute__((always_inline)) void decode_output(float *o, const float *p, const float *v, int ks, int lo,
                                                                int hi, int hs) {
#pragma omp simd
    for (int c = 0; c < hs; c++) o[c] = 0.0f;
    int j = lo;
    for (; j + 4 <= hi; j += 4) {
        const float *v0 = v + (size_t)j * ks, *v1 = v0 + ks, *v2 = v1 + ks, *v3 = v2 + ks;
        float p0 = p[j], p1 = p[j + 1], p2 = p[j + 2], p3 = p[j + 3];
#pragma omp simd
        for (int c = 0; c < hs; c++) o[c] += p0 * v0[c] + p1 * v1[c] + p2 * v2[c] + p3 * v3[c];
    }
    for (; j < hi; j++) {
        const float *vj = v + (size_t)j * ks;
        float pj = p[j];
#pragma omp simd
        for (int c = 0; c < hs; c++) o[c] += pj * vj[c];
    }
}

// Rows per block of work (of queries; of keys in the backward pass's second
// half): under a causal mask, blocks of ATT_ROWS let the products skip most
// of the masked pairs (a quarter of the work for 100 rows); without one, a
// block is every row (one product each, the most efficient).
#define ATT_ROWS 32
static int block_rows(int causal, int n) { return causal && n > ATT_ROWS ? ATT_ROWS : n; }

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
    if (Tq == 1) {  // one decoding step: dot products per (b,h) beat tiny BLAS calls
        long rows = (long)B * H;
#pragma omp parallel for if ((size_t)rows * Tk * hs >= CPU_PAR_MIN)
        for (long r = 0; r < rows; r++) {
            int b = (int)(r / H), h = (int)(r % H), lo, hi;
            const float *kb = k + (size_t)b * Tk * ks + h / group * hs, *vb = v + (size_t)b * Tk * ks + h / group * hs;
            float *p = probs + (size_t)r * Tk;
            visible_keys(&lo, &hi, kv_start, kv_end, causal, b, 0, 1, Tk);
            decode_scores(p, q + (size_t)b * qs + h * hs, kb, ks, scale, lo, hi, hs);
            softmax_row(p, bias ? bias + (size_t)h * Tk : NULL, lo, hi, Tk);
            decode_output(out + (size_t)b * qs + h * hs, p, vb, ks, lo, hi, hs);
        }
        return;
    }
    // Tasks of (batch, head, block of query rows), on one thread each: the
    // scores, their softmax row by row, and the weighted sum of the values;
    // the products are single-threaded sgemm calls (inside the parallel loop),
    // too small to split further. A block's products cover only the keys one
    // of its rows sees (under a causal mask, a block skips the keys after its
    // last row); softmax_row zeroes the rest of each row.
    int rows = block_rows(causal, Tq), blocks = (Tq + rows - 1) / rows;
    long tasks = (long)B * H * blocks;
#pragma omp parallel for schedule(dynamic) if ((size_t)B * H * Tq * Tk * hs >= CPU_PAR_MIN)
    for (long t = 0; t < tasks; t++) {
        long bh = t / blocks;
        int b = (int)(bh / H), h = (int)(bh % H), i0 = (int)(t % blocks) * rows;
        int i1 = i0 + rows < Tq ? i0 + rows : Tq, lo, hi, lo_row, hi_row;
        visible_keys(&lo, &hi, kv_start, kv_end, causal, b, i1 - 1, Tq, Tk);  // the widest row: the last
        float *P = probs + ((size_t)bh * Tq + i0) * Tk, *o = out + ((size_t)b * Tq + i0) * qs + h * hs;
        const float *qb = q + ((size_t)b * Tq + i0) * qs + h * hs;
        const float *kb = k + ((size_t)b * Tk + lo) * ks + h / group * hs;
        const float *vb = v + ((size_t)b * Tk + lo) * ks + h / group * hs;
        if (hi > lo)  // probs[b,h] rows i0..i1, keys lo..hi = scale * q @ k^T
            blas_sgemm('N', 'T', i1 - i0, hi - lo, hs, scale, qb, qs, kb, ks, 0.0f, P + lo, Tk);
        for (int i = i0; i < i1; i++) {
            visible_keys(&lo_row, &hi_row, kv_start, kv_end, causal, b, i, Tq, Tk);
            softmax_row(P + (size_t)(i - i0) * Tk, bias ? bias + ((size_t)h * Tq + i) * Tk : NULL, lo_row, hi_row, Tk);
        }
        if (hi > lo)  // out[b, i0..i1, h] = probs @ v[b, lo..hi, h/group]
            blas_sgemm('N', 'N', i1 - i0, hs, hi - lo, 1.0f, P + lo, Tk, vb, ks, 0.0f, o, qs);
        else
            for (int i = 0; i < i1 - i0; i++) memset(o + (size_t)i * qs, 0, sizeof(float) * hs);
    }
}

// Two passes per batch element, each over tasks that write disjoint rows, so
// that the threads share the work evenly whatever the number of heads:
//   1. per (head, block of query rows): dP = dout @ v^T over the keys the
//      block sees, dS in place (zero on the keys it does not see), dbias, dq;
//   2. per (kv head, block of keys): dv += P^T @ dout and dk += scale * dS^T @ q,
//      summed over the group's query heads and over every query row that can
//      see the block (under a causal mask, from the first that sees its first key).
CPU_CLONES void cpu_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                       const float *probs, const float *q, const float *k, const float *v, int causal,
                                       float scale, int B, int Tq, int Tk, int H, int KVH, int hs) {
    check_heads(H, KVH);
    if (B <= 0 || Tq <= 0 || Tk <= 0 || hs <= 0) return;
    int group = H / KVH, qs = H * hs, ks = KVH * hs;
    int need_ds = dq || dk || dbias, par = (size_t)H * Tq * Tk * hs >= CPU_PAR_MIN;
    static void *ds_buf;
    static size_t ds_cap;
    float *ds = need_ds ? cpu_scratch(&ds_buf, &ds_cap, sizeof(float) * H * Tq * Tk) : NULL;  // dS of one batch element
    int rows = block_rows(causal, Tq), q_blocks = (Tq + rows - 1) / rows;
    int keys = block_rows(causal, Tk), k_blocks = (Tk + keys - 1) / keys;
    for (int b = 0; b < B; b++) {
        const float *qb = q + (size_t)b * Tq * qs, *dob = dout + (size_t)b * Tq * qs;
        const float *kb = k + (size_t)b * Tk * ks, *vb = v + (size_t)b * Tk * ks;
        const float *Pb = probs + (size_t)b * H * Tq * Tk;
        if (need_ds) {
#pragma omp parallel for schedule(dynamic) if (par)
            for (int t = 0; t < H * q_blocks; t++) {
                int h = t / q_blocks, i0 = t % q_blocks * rows, n = i0 + rows < Tq ? rows : Tq - i0;
                int lo, nk;  // the keys 0..nk that the block's last (widest) row sees
                visible_keys(&lo, &nk, NULL, NULL, causal, b, i0 + n - 1, Tq, Tk);
                nk = nk > 0 ? nk : 0;
                const float *P = Pb + ((size_t)h * Tq + i0) * Tk, *doi = dob + (size_t)i0 * qs + h * hs;
                float *dsh = ds + ((size_t)h * Tq + i0) * Tk;
                if (nk > 0)  // dP = dout[b,i0..,h] @ v[b,..nk,h/group]^T      [n,nk]
                    blas_sgemm('N', 'T', n, nk, hs, 1.0f, doi, qs, vb + h / group * hs, ks, 0.0f, dsh, Tk);
                // dS = P * (dP - rowsum(P * dP)), in place; dbias += dS
                for (int i = 0; i < n; i++) {
                    const float *p = P + (size_t)i * Tk;
                    float *d = dsh + (size_t)i * Tk;
                    double dot = 0.0;
#pragma omp simd reduction(+ : dot)
                    for (int j = 0; j < nk; j++) dot += (double)p[j] * d[j];
#pragma omp simd
                    for (int j = 0; j < nk; j++) d[j] = p[j] * (d[j] - (float)dot);
                    for (int j = nk; j < Tk; j++) d[j] = 0.0f;  // pass 2 may read them
                    if (dbias) {
                        float *db = dbias + ((size_t)h * Tq + i0 + i) * Tk;
#pragma omp simd
                        for (int j = 0; j < nk; j++) db[j] += d[j];
                    }
                }
                if (dq && nk > 0)  // dq[b,i0..,h] += scale * dS @ k[b,..nk,h/group]   [n,hs]
                    blas_sgemm('N', 'N', n, hs, nk, scale, dsh, Tk, kb + h / group * hs, ks, 1.0f,
                               dq + ((size_t)b * Tq + i0) * qs + h * hs, qs);
            }
        }
        if (!dk && !dv) continue;
#pragma omp parallel for schedule(dynamic) if (par)
        for (int t = 0; t < KVH * k_blocks; t++) {
            int g = t / k_blocks, j0 = t % k_blocks * keys, m = j0 + keys < Tk ? keys : Tk - j0;
            int first = causal && j0 - (Tk - Tq) > 0 ? j0 - (Tk - Tq) : 0, nr = Tq - first;  // rows first..Tq
            if (nr <= 0) continue;
            size_t at = (size_t)(b * Tk + j0) * ks + (size_t)g * hs;  // dk, dv [b, j0.., g]
            for (int h = g * group; h < (g + 1) * group; h++) {
                size_t row = ((size_t)h * Tq + first) * Tk + j0;
                const float *doi = dob + (size_t)first * qs + h * hs, *qi = qb + (size_t)first * qs + h * hs;
                if (dv)  // dv[b,j0..,g] += P[h, first.., j0..]^T @ dout[b,first..,h]       [m,hs]
                    blas_sgemm('T', 'N', m, hs, nr, 1.0f, Pb + row, Tk, doi, qs, 1.0f, dv + at, ks);
                if (dk)  // dk[b,j0..,g] += scale * dS[h, first.., j0..]^T @ q[b,first..,h]  [m,hs]
                    blas_sgemm('T', 'N', m, hs, nr, scale, ds + row, Tk, qi, qs, 1.0f, dk + at, ks);
            }
        }
    }
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
                            const float *q, const float *k, const float *v, int causal, float scale, int B, int Tq,
                            int Tk, int H, int KVH, int hs) {
    check_heads(H, KVH);
    (void)causal;  // masked keys have P = 0: they add nothing
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
