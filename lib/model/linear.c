// linear.c: the forward and backward passes of a linear layer with LoRA.
#include "model/linear.h"

#include <stdlib.h>

#include "base/util.h"

// Draws an inverted-dropout mask on the host and hands it to the backend.
static float *dropout_mask(const backend *be, arena *ar, rng *r, size_t n, float p) {
    float *host = xmalloc(n * sizeof *host);
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) host[i] = rng_float(r) < p ? 0.0f : keep;
    float *mask = arena_alloc(ar, n);
    be->upload(mask, host, n);
    free(host);
    return mask;
}

void linear_forward(const backend *be, arena *ar, linear *l, float *y, const float *x, int N, rng *dropout_rng) {
    l->N = N;
    l->x = x;
    be->matmul(y, x, l->w, N, l->in, l->out, 1.0f, 0.0f);
    lora_factors *lo = l->lora;
    if (!lo) return;
    l->mask = NULL;
    l->xd = (float *)x;
    if (dropout_rng && lo->dropout > 0) {
        size_t n = (size_t)N * l->in;
        l->mask = dropout_mask(be, ar, dropout_rng, n, lo->dropout);
        l->xd = arena_alloc(ar, n);
        be->mul(l->xd, x, l->mask, n);
    }
    l->h = arena_alloc(ar, (size_t)N * lo->r);
    be->matmul(l->h, l->xd, lo->A, N, l->in, lo->r, 1.0f, 0.0f);
    be->matmul(y, l->h, lo->B, N, lo->r, l->out, lo->scale, 1.0f);
}

void linear_backward(const backend *be, arena *ar, linear *l, float *dx, const float *dy) {
    int N = l->N;
    be->matmul_backward(dx, l->dw, dy, l->x, l->w, N, l->in, l->out, 1.0f);
    lora_factors *lo = l->lora;
    if (!lo) return;
    // Through B: dh = s * dy B, dB += s * dy^T h.
    float *dh = arena_alloc_zero(ar, (size_t)N * lo->r);
    be->matmul_backward(dh, lo->dB, dy, l->h, lo->B, N, lo->r, l->out, lo->scale);
    if (!dx && !lo->dA) return;
    // Through A: dxd = dh A, dA += dh^T xd; dropout's backward is the same mask.
    float *dxd = dx && l->mask ? arena_alloc_zero(ar, (size_t)N * l->in) : dx;
    be->matmul_backward(dxd, lo->dA, dh, l->xd, lo->A, N, l->in, lo->r, 1.0f);
    if (dxd != dx) {
        size_t n = (size_t)N * l->in;
        be->mul(dxd, dxd, l->mask, n);
        be->add(dx, dx, dxd, n);
    }
}
