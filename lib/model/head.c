// head.c: final norm -> vocabulary logits -> cross-entropy.
#include "model/head.h"

#include <string.h>

double lm_head_forward(const backend *be, arena *ar, lm_head *h, const float *x, int N, const int32_t *targets,
                       float dloss_scale) {
    h->N = N;
    h->x = x;
    h->ln = arena_alloc(ar, (size_t)N * h->C);
    h->rstd = arena_alloc(ar, (size_t)N);
    be->rmsnorm(h->ln, h->rstd, x, h->norm, N, h->C, h->eps);
    if (h->scale != 1.0f) be->scale(h->ln, h->scale, (size_t)N * h->C);
    h->logits = arena_alloc(ar, (size_t)N * h->V);
    if (h->wb) be->matmul_bf16(h->logits, h->ln, h->wb, N, h->C, h->V, 0.0f);
    else be->matmul(h->logits, h->ln, h->w, N, h->C, h->V, 1.0f, 0.0f);
    if (!targets) return 0.0;
    h->dlogits = dloss_scale != 0.0f ? arena_alloc(ar, (size_t)N * h->V) : NULL;
    return be->cross_entropy(h->dlogits, h->logits, targets, N, h->V, dloss_scale);
}

void lm_head_backward(const backend *be, arena *ar, lm_head *h, float *dx) {
    int N = h->N, C = h->C;
    float *dln = arena_alloc_zero(ar, (size_t)N * C);
    // ln was scaled in place, so dW = dlogits^T (scale * norm(x)) is exact; the
    // scale's own backward is applied to dln.
    if (h->wb) be->matmul_bf16_backward(dln, h->dlogits, h->wb, N, C, h->V, 1.0f);  // frozen: no dw
    else be->matmul_backward(dln, h->dw, h->dlogits, h->ln, h->w, N, C, h->V, 1.0f);
    if (h->scale != 1.0f) be->scale(dln, h->scale, (size_t)N * C);
    be->rmsnorm_backward(dx, h->dnorm, dln, h->x, h->norm, h->rstd, N, C);
}

void lm_head_download_padded(const backend *be, const lm_head *h, float *out, const int *seq, int B, int T) {
    size_t V = (size_t)h->V;
    memset(out, 0, (size_t)B * T * V * sizeof *out);
    for (int i = 0; i < B; i++)
        be->download(out + (size_t)i * T * V, h->logits + (size_t)seq[i] * V, (size_t)(seq[i + 1] - seq[i]) * V);
}
