// pointwise.cu: the memory-bound operations, a thread per value (or per
// token or row where nn/scalar_kernels.h works on one): activations plain and
// gated, RoPE, embeddings, add, scale and dropout.
#include "nn/cuda/cuda.h"
#include "nn/backend_checks.h"
#include "nn/scalar_kernels.h"

// A grid-sized loop over n values.
#define FOR_EACH(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

// Launch configuration for n values: enough blocks, within the grid's limit.
static unsigned grid_for(size_t n) {
    size_t b = cuda_blocks(n);
    return (unsigned)(b < 65535 ? (b ? b : 1) : 65535);
}

__global__ static void activation_kernel(float *out, const float *inp, size_t n, int act) {
    FOR_EACH(i, n) out[i] = act_forward(inp[i], act);
}
__global__ static void activation_backward_kernel(float *dinp, const float *dout, const float *inp, size_t n, int act) {
    FOR_EACH(i, n) dinp[i] = dout[i] * act_grad(inp[i], act);
}
__global__ static void gated_kernel(float *out, const float *gate, const float *up, size_t n, int act) {
    FOR_EACH(i, n) out[i] = act_forward(gate[i], act) * up[i];
}
__global__ static void gated_backward_kernel(float *dgate, float *dup, const float *dout, const float *gate,
                                             const float *up, size_t n, int act) {
    FOR_EACH(i, n) {
        if (dgate) dgate[i] = dout[i] * up[i] * act_grad(gate[i], act);
        if (dup) dup[i] = dout[i] * act_forward(gate[i], act);
    }
}

void cuda_activation(float *out, const float *inp, size_t n, int act) {
    check_act(act);
    if (!n) return;
    activation_kernel<<<grid_for(n), CUDA_THREADS>>>(out, inp, n, act);
    cuda_done("activation");
}
void cuda_activation_backward(float *dinp, const float *dout, const float *inp, size_t n, int act) {
    check_act(act);
    if (!n) return;
    activation_backward_kernel<<<grid_for(n), CUDA_THREADS>>>(dinp, dout, inp, n, act);
    cuda_done("activation backward");
}
void cuda_gated(float *out, const float *gate, const float *up, size_t n, int act) {
    check_act(act);
    if (!n) return;
    gated_kernel<<<grid_for(n), CUDA_THREADS>>>(out, gate, up, n, act);
    cuda_done("gated activation");
}
void cuda_gated_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n,
                         int act) {
    check_act(act);
    if (!n) return;
    gated_backward_kernel<<<grid_for(n), CUDA_THREADS>>>(dgate, dup, dout, gate, up, n, act);
    cuda_done("gated activation backward");
}

// ---- RoPE: a thread per token ----
__global__ static void rope_kernel(float *x, const int *pos, const float *cos, const float *sin, size_t tokens, int H,
                                   int hs, int sign) {
    size_t half = (size_t)hs / 2;
    FOR_EACH(n, tokens) rope_token(x + n * H * hs, cos + pos[n] * half, sin + pos[n] * half, H, hs, sign);
}

void cuda_rope(float *x, const int *pos, const float *cos, const float *sin, int B, int T, int H, int hs, int sign) {
    check_rope_head_size(hs);
    size_t tokens = (size_t)B * T;
    if (!tokens) return;
    rope_kernel<<<grid_for(tokens), CUDA_THREADS>>>(x, cuda_ints(SCRATCH_IDS, pos, tokens), cos, sin, tokens, H, hs,
                                                     sign);
    cuda_done("rope");
}

// ---- embeddings: a block per token ----
__global__ static void embedding_kernel(float *out, const int32_t *ids, const float *table, int C, float scale) {
    const float *row = table + (size_t)ids[blockIdx.x] * C;
    float *o = out + (size_t)blockIdx.x * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = scale * row[c];
}
__global__ static void embedding_backward_kernel(float *dtable, const float *dout, const int32_t *ids, int C,
                                                 float scale) {
    float *row = dtable + (size_t)ids[blockIdx.x] * C;  // ids repeat: atomic adds
    const float *d = dout + (size_t)blockIdx.x * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(&row[c], scale * d[c]);
}

void cuda_embedding(float *out, const int32_t *ids, const float *table, int N, int C, float scale) {
    if (N <= 0 || C <= 0) return;
    embedding_kernel<<<N, CUDA_THREADS>>>(out, cuda_ints(SCRATCH_IDS, ids, (size_t)N), table, C, scale);
    cuda_done("embedding");
}
void cuda_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C, float scale) {
    if (N <= 0 || C <= 0) return;
    embedding_backward_kernel<<<N, CUDA_THREADS>>>(dtable, dout, cuda_ints(SCRATCH_IDS, ids, (size_t)N), C, scale);
    cuda_done("embedding backward");
}

// ---- elementwise ----
__global__ static void add_kernel(float *out, const float *a, const float *b, size_t n) {
    FOR_EACH(i, n) out[i] = a[i] + b[i];
}
__global__ static void scale_kernel(float *x, float s, size_t n) {
    FOR_EACH(i, n) x[i] *= s;
}
__global__ static void dropout_kernel(float *out, const float *inp, uint64_t seed, int N, int C, float keep,
                                      uint64_t cut, int accumulate) {
    FOR_EACH(r, (size_t)N) dropout_row(out + r * C, inp + r * C, seed, (int)r, C, keep, cut, accumulate);
}

void cuda_add(float *out, const float *a, const float *b, size_t n) {
    if (!n) return;
    add_kernel<<<grid_for(n), CUDA_THREADS>>>(out, a, b, n);
    cuda_done("add");
}
void cuda_scale(float *x, float s, size_t n) {
    if (!n) return;
    scale_kernel<<<grid_for(n), CUDA_THREADS>>>(x, s, n);
    cuda_done("scale");
}
void cuda_dropout(float *out, const float *inp, uint64_t seed, int N, int C, float p, int accumulate) {
    if (N <= 0 || C <= 0) return;
    dropout_kernel<<<grid_for((size_t)N), CUDA_THREADS>>>(out, inp, seed, N, C, dropout_keep(p), dropout_cut(p),
                                                          accumulate);
    cuda_done("dropout");
}
