// loss.cu: softmax cross-entropy and argmax over logits [N,V], a block per
// row, as in lib/nn/cpu/loss.c:
//   row n with targets[n] >= 0: loss_n = logsumexp(logits[n]) - logits[n,target],
//   dlogits[n] = grad_scale * (softmax(logits[n]) - onehot(target)), written;
//   rows with targets[n] < 0: loss 0, dlogits 0. Returns the sum of the losses.
#include "nn/cuda/cuda.h"
#include "nn/backend_checks.h"

__global__ static void cross_entropy_kernel(float *dlogits, float *loss, const float *logits, const int32_t *targets,
                                            int V, float grad_scale) {
    size_t n = blockIdx.x;
    const float *x = logits + n * V;
    float *dl = dlogits ? dlogits + n * V : NULL;
    int t = targets[n];
    if (t < 0) {  // the same branch for the whole block
        if (dl)
            for (int j = threadIdx.x; j < V; j += blockDim.x) dl[j] = 0.0f;
        if (threadIdx.x == 0) loss[n] = 0.0f;
        return;
    }
    float max = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) max = fmaxf(max, x[j]);
    max = block_max(max);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) sum += expf(x[j] - max);
    sum = block_sum(sum);
    float lse = max + logf(sum);
    if (dl)
        for (int j = threadIdx.x; j < V; j += blockDim.x)
            dl[j] = grad_scale * expf(x[j] - lse) - (j == t ? grad_scale : 0.0f);
    if (threadIdx.x == 0) loss[n] = lse - x[t];
}

double cuda_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                          float grad_scale) {
    check_targets(targets, N, V);
    if (N <= 0) return 0.0;
    float *loss = (float *)cuda_scratch(SCRATCH_OUT, (size_t)N * sizeof(float));
    cross_entropy_kernel<<<N, CUDA_THREADS>>>(dlogits, loss, logits, cuda_ints(SCRATCH_IDS, targets, (size_t)N), V,
                                              grad_scale);
    cuda_done("cross entropy");
    float *host = (float *)xmalloc((size_t)N * sizeof(float));
    cuda_check(cudaMemcpy(host, loss, (size_t)N * sizeof(float), cudaMemcpyDeviceToHost), "cross entropy");
    double total = 0.0;
    for (int n = 0; n < N; n++) total += host[n];
    free(host);
    return total;
}

// out[n] = the first index of the largest logit of row n, NaNs passed over (0
// if every one is NaN), as on the CPU.
__global__ static void argmax_kernel(int32_t *out, const float *logits, int V) {
    __shared__ float best_v[CUDA_THREADS];
    __shared__ int best_i[CUDA_THREADS];
    const float *x = logits + (size_t)blockIdx.x * V;
    float bv = -INFINITY;
    int bi = -1;
    for (int j = threadIdx.x; j < V; j += blockDim.x)
        if (x[j] == x[j] && (bi < 0 || x[j] > bv)) bv = x[j], bi = j;  // indices rise: '>' keeps the first
    best_v[threadIdx.x] = bv, best_i[threadIdx.x] = bi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float ov = best_v[threadIdx.x + s];
            int oi = best_i[threadIdx.x + s];
            int mine = best_i[threadIdx.x];
            if (oi >= 0 && (mine < 0 || ov > best_v[threadIdx.x] || (ov == best_v[threadIdx.x] && oi < mine)))
                best_v[threadIdx.x] = ov, best_i[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = best_i[0] < 0 ? 0 : best_i[0];
}

void cuda_argmax(int32_t *out, const float *logits, int N, int V) {
    if (N <= 0) return;
    int32_t *d = (int32_t *)cuda_scratch(SCRATCH_OUT, (size_t)N * sizeof(int32_t));
    argmax_kernel<<<N, CUDA_THREADS>>>(d, logits, V);
    cuda_done("argmax");
    cuda_check(cudaMemcpy(out, d, (size_t)N * sizeof(int32_t), cudaMemcpyDeviceToHost), "argmax");
}
