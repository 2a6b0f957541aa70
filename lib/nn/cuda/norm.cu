// norm.cu: RMSNorm (LLaMA) = T5LayerNorm, as in lib/nn/cpu/norm.c:
//   forward   rstd[n] = 1 / sqrt(mean_c inp[n,c]^2 + eps); out = inp * rstd * weight
//   backward  dinp[n,c] += rstd*w[c]*dout[n,c] - rstd^3/C * inp[n,c] * sum_j dout[n,j]*w[j]*inp[n,j]
//             dweight[c] += sum_n dout[n,c] * inp[n,c] * rstd[n]
// A block per row for the row-wise parts, a thread per column for dweight.
#include "nn/cuda/cuda.h"

__global__ static void rmsnorm_kernel(float *out, float *rstd, const float *inp, const float *weight, int C,
                                      float eps) {
    const float *x = inp + (size_t)blockIdx.x * C;
    float *y = out + (size_t)blockIdx.x * C;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) ss += x[c] * x[c];
    ss = block_sum(ss);
    float r = 1.0f / sqrtf(ss / C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) y[c] = x[c] * r * weight[c];
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
}

__global__ static void rmsnorm_dinp_kernel(float *dinp, const float *dout, const float *inp, const float *weight,
                                           const float *rstd, int C) {
    size_t o = (size_t)blockIdx.x * C;
    const float *x = inp + o, *dy = dout + o;
    float *dx = dinp + o, r = rstd[blockIdx.x];
    float dot = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dot += dy[c] * weight[c] * x[c];
    dot = block_sum(dot);
    float k = r * r * r * dot / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dx[c] += r * weight[c] * dy[c] - k * x[c];
}

__global__ static void rmsnorm_dweight_kernel(float *dweight, const float *dout, const float *inp, const float *rstd,
                                              int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float acc = 0.0f;
    for (int n = 0; n < N; n++) acc += dout[(size_t)n * C + c] * inp[(size_t)n * C + c] * rstd[n];
    dweight[c] += acc;
}

void cuda_rmsnorm(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps) {
    if (N <= 0 || C <= 0) return;
    rmsnorm_kernel<<<N, CUDA_THREADS>>>(out, rstd, inp, weight, C, eps);
    cuda_done("rmsnorm");
}

void cuda_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                           const float *rstd, int N, int C) {
    if (N <= 0 || C <= 0) return;
    if (dinp) {
        rmsnorm_dinp_kernel<<<N, CUDA_THREADS>>>(dinp, dout, inp, weight, rstd, C);
        cuda_done("rmsnorm backward (inputs)");
    }
    if (dweight) {
        rmsnorm_dweight_kernel<<<cuda_blocks(C), CUDA_THREADS>>>(dweight, dout, inp, rstd, N, C);
        cuda_done("rmsnorm backward (weight)");
    }
}
