// attention.cu: multi-head attention with grouped-query heads, an optional
// bias and masks, as in lib/nn/cpu/attention.c (the reference for semantics):
//   scores[i,j] = scale * q_i . k_j + bias[h,i,j] on the visible keys,
//   probs = softmax (exactly 0 on hidden keys, a zero row and a zero output
//   for a query that sees no key); backward with
//   dS = P * (dP - rowsum(P * dP)), dP = dout @ v^T.
// One block per query row (b, h, i), numbered as the rows of probs
// [B,H,Tq,Tk]; the forward pass keeps the row's scores in probs itself. In the
// backward pass the key and value gradients, shared by every query (and by
// the query heads of a group), are accumulated with atomic adds.
#include "nn/cuda/cuda.h"
#include "nn/backend_checks.h"

#include "nn/scalar_kernels.h"

// The geometry of one query row: pointers into q, k, v, out for (b, h, i).
struct row_geometry {
    int b, h, i;
    size_t q, kv;  // offsets of q_i / out_i, and of key 0 of the row's kv head
    int ks;        // row stride of k and v
};

__device__ static row_geometry row_of(size_t r, int Tq, int Tk, int H, int KVH, int hs) {
    row_geometry g;
    g.i = (int)(r % Tq);
    g.h = (int)(r / Tq % H);
    g.b = (int)(r / ((size_t)Tq * H));
    g.ks = KVH * hs;
    g.q = ((size_t)g.b * Tq + g.i) * H * hs + (size_t)g.h * hs;
    g.kv = (size_t)g.b * Tk * g.ks + (size_t)(g.h / (H / KVH)) * hs;
    return g;
}

__global__ static void attention_kernel(float *out, float *probs, const float *q, const float *k, const float *v,
                                        const float *bias, const int *kv_start, const int *kv_end, int causal,
                                        float scale, int Tq, int Tk, int H, int KVH, int hs) {
    size_t r = blockIdx.x;
    row_geometry g = row_of(r, Tq, Tk, H, KVH, hs);
    const float *qi = q + g.q, *kb = k + g.kv, *vb = v + g.kv;
    const float *brow = bias ? bias + ((size_t)g.h * Tq + g.i) * Tk : NULL;
    float *p = probs + r * Tk, *o = out + g.q;
    int lo, hi;
    visible_keys(&lo, &hi, kv_start, kv_end, causal, g.b, g.i, Tq, Tk);
    float max = -INFINITY;
    for (int j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        float dot = 0.0f;
        for (int c = 0; c < hs; c++) dot += qi[c] * kb[(size_t)j * g.ks + c];
        float s = scale * dot + (brow ? brow[j] : 0.0f);
        p[j] = s;
        max = fmaxf(max, s);
    }
    max = block_max(max);
    if (max == -INFINITY) lo = hi = 0;  // no key visible (or every score -inf)
    float sum = 0.0f;
    for (int j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        float e = expf(p[j] - max);
        p[j] = e;
        sum += e;
    }
    sum = block_sum(sum);
    float inv = lo < hi ? 1.0f / sum : 0.0f;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) p[j] = j >= lo && j < hi ? p[j] * inv : 0.0f;
    __syncthreads();
    for (int c = threadIdx.x; c < hs; c += blockDim.x) {
        float acc = 0.0f;
        for (int j = lo; j < hi; j++) acc += p[j] * vb[(size_t)j * g.ks + c];
        o[c] = acc;
    }
}

// ds: Tk floats of dynamic shared memory, dS of this row.
__global__ static void attention_backward_kernel(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                                 const float *probs, const float *q, const float *k, const float *v,
                                                 float scale, int Tq, int Tk, int H, int KVH, int hs) {
    extern __shared__ float ds[];
    size_t r = blockIdx.x;
    row_geometry g = row_of(r, Tq, Tk, H, KVH, hs);
    const float *p = probs + r * Tk, *qi = q + g.q, *doi = dout + g.q, *kb = k + g.kv, *vb = v + g.kv;
    float dot = 0.0f;  // sum_j P_j dP_j
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        float dp = 0.0f;
        if (p[j] != 0.0f)  // hidden keys: P = 0, so dS = 0 whatever dP is
            for (int c = 0; c < hs; c++) dp += doi[c] * vb[(size_t)j * g.ks + c];
        ds[j] = dp;
        dot += p[j] * dp;
    }
    dot = block_sum(dot);
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        ds[j] = p[j] * (ds[j] - dot);
        if (dbias && p[j] != 0.0f) atomicAdd(&dbias[((size_t)g.h * Tq + g.i) * Tk + j], ds[j]);  // summed over b
    }
    __syncthreads();
    if (dq)  // this block's own row of dq
        for (int c = threadIdx.x; c < hs; c += blockDim.x) {
            float acc = 0.0f;
            for (int j = 0; j < Tk; j++) acc += ds[j] * kb[(size_t)j * g.ks + c];
            dq[g.q + c] += scale * acc;
        }
    if (dk || dv)
        for (size_t t = threadIdx.x; t < (size_t)Tk * hs; t += blockDim.x) {
            int j = (int)(t / hs), c = (int)(t % hs);
            if (p[j] == 0.0f) continue;
            size_t o = g.kv + (size_t)j * g.ks + c;
            if (dk) atomicAdd(&dk[o], scale * ds[j] * qi[c]);
            if (dv) atomicAdd(&dv[o], p[j] * doi[c]);
        }
}

void cuda_attention(float *out, float *probs, const float *q, const float *k, const float *v, const float *bias,
                    const int *kv_start, const int *kv_end, int causal, float scale, int B, int Tq, int Tk, int H,
                    int KVH, int hs) {
    check_heads(H, KVH);
    if (B <= 0 || Tq <= 0 || hs <= 0) return;
    if (Tk <= 0) {  // nothing to see
        cuda_zero(out, (size_t)B * Tq * H * hs);
        return;
    }
    const int *start = cuda_ints(SCRATCH_START, kv_start, (size_t)B), *end = cuda_ints(SCRATCH_END, kv_end, (size_t)B);
    attention_kernel<<<(unsigned)((size_t)B * H * Tq), CUDA_THREADS>>>(out, probs, q, k, v, bias, start, end, causal,
                                                                        scale, Tq, Tk, H, KVH, hs);
    cuda_done("attention");
}

void cuda_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout, const float *probs,
                             const float *q, const float *k, const float *v, int causal, float scale, int B, int Tq,
                             int Tk, int H, int KVH, int hs) {
    check_heads(H, KVH);
    (void)causal;  // masked keys have P = 0: they add nothing
    if (B <= 0 || Tq <= 0 || Tk <= 0 || hs <= 0) return;
    size_t shared = (size_t)Tk * sizeof(float);
    if (shared > 48 * 1024)  // above the default, ask for more (fails clearly past the device's limit)
        cuda_check(cudaFuncSetAttribute(attention_backward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)shared),
                   "attention backward: keys per row");
    attention_backward_kernel<<<(unsigned)((size_t)B * H * Tq), CUDA_THREADS, shared>>>(
        dq, dk, dv, dbias, dout, probs, q, k, v, scale, Tq, Tk, H, KVH, hs);
    cuda_done("attention backward");
}
