// loss.c: softmax cross-entropy over logits [N,V] with targets [N], and argmax.
//   Row n with targets[n] >= 0: loss_n = logsumexp(logits[n]) - logits[n,target]
//   (exp_fast of the logits minus the row max, summed in double, so huge logits
//   stay finite);
//   dlogits[n] = grad_scale * (softmax(logits[n]) - onehot(target)), written.
//   Rows with targets[n] < 0 are ignored: loss 0, dlogits 0.
// Returns the sum of the row losses. The fast kernel runs rows in parallel.
#include <math.h>

#include "base/util.h"
#include "nn/cpu/cpu.h"
#include "nn/backend_checks.h"
#include "nn/scalar_kernels.h"

static inline __attribute__((always_inline)) double cross_entropy_row(float *dl, const float *x, int32_t target,
                                                                     int V, float grad_scale) {
    if (target < 0) {
        if (dl)
            for (int j = 0; j < V; j++) dl[j] = 0.0f;
        return 0.0;
    }
    float max = -INFINITY;
#pragma omp simd reduction(max : max)
    for (int j = 0; j < V; j++) max = x[j] > max ? x[j] : max;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < V; j++) sum += exp_fast(x[j] - max);
    double lse = max + log(sum);
    if (dl) {
#pragma omp simd
        for (int j = 0; j < V; j++) dl[j] = grad_scale * exp_fast((float)(x[j] - lse));
        dl[target] -= grad_scale;
    }
    return lse - x[target];
}

CPU_CLONES double cpu_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                                     float grad_scale) {
    check_targets(targets, N, V);  // before any parallel loop
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) if ((size_t)N * V >= CPU_PAR_MIN)
    for (int n = 0; n < N; n++)
        total += cross_entropy_row(dlogits ? dlogits + (size_t)n * V : NULL, logits + (size_t)n * V, targets[n], V,
                                   grad_scale);
    return total;
}

double ref_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int N, int V, float grad_scale) {
    check_targets(targets, N, V);
    double total = 0.0;
    for (int n = 0; n < N; n++)
        total += cross_entropy_row(dlogits ? dlogits + (size_t)n * V : NULL, logits + (size_t)n * V, targets[n], V,
                                   grad_scale);
    return total;
}

// out[n] = the first index of the largest logit of row n, NaNs passed over (0
// if every one is NaN); shared by both backends. The row's maximum first
// (vectorised), then the first index holding it.
CPU_CLONES void cpu_argmax(int32_t *out, const float *logits, int N, int V) {
#pragma omp parallel for if ((size_t)N * V >= CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float max = -INFINITY;
#pragma omp simd reduction(max : max)
        for (int j = 0; j < V; j++) max = x[j] > max ? x[j] : max;
        int best = 0;
        while (best < V && !(x[best] == max)) best++;
        out[n] = best < V ? best : 0;
    }
}
