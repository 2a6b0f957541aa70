// linear.c: the forward and backward passes of a linear layer with LoRA.
// The dropped-out LoRA input is kept for dA (one [N, in] buffer per adapted
// layer, cheaper than drawing the mask again); the mask itself is not: the
// backward pass draws it from the dropout seed once more, applying it to the
// input gradient as it adds that to dx.
#include "model/linear.h"

void linear_forward(const backend *be, arena *ar, linear *l, float *y, const float *x, int N, float beta,
                    rng *dropout_rng) {
    l->N = N;
    l->x = x;
    if (l->wb) be->matmul_bf16(y, x, l->wb, N, l->in, l->out, beta);
    else be->matmul(y, x, l->w, N, l->in, l->out, 1.0f, beta);
    lora_factors *lo = l->lora;
    if (!lo) return;
    l->h = arena_alloc(ar, (size_t)N * lo->r);
    l->dropped = dropout_rng && lo->dropout > 0;
    l->xd = x;
    if (l->dropped) {
        l->dropout_seed = rng_next(dropout_rng);
        float *d = arena_alloc(ar, (size_t)N * l->in);
        be->dropout(d, x, l->dropout_seed, N, l->in, lo->dropout, 0);
        l->xd = d;
    }
    be->matmul(l->h, l->xd, lo->A, N, l->in, lo->r, 1.0f, 0.0f);
    be->matmul(y, l->h, lo->B, N, lo->r, l->out, lo->scale, 1.0f);
}

void linear_backward(const backend *be, arena *ar, linear *l, float *dx, const float *dy, float beta) {
    int N = l->N;
    if (l->wb) {
        be->matmul_bf16_backward(dx, dy, l->wb, N, l->in, l->out, beta);  // frozen: no dw
    } else {
        if (dx && beta == 0.0f) be->zero(dx, (size_t)N * l->in);  // the fp32 product adds
        be->matmul_backward(dx, l->dw, dy, l->x, l->w, N, l->in, l->out, 1.0f);
    }
    lora_factors *lo = l->lora;
    if (!lo) return;
    // Through B: dh = s * dy B, dB += s * dy^T h.
    float *dh = arena_alloc_zero(ar, (size_t)N * lo->r);
    be->matmul_backward(dh, lo->dB, dy, l->h, lo->B, N, lo->r, l->out, lo->scale);
    if (!dx && !lo->dA) return;
    // Through A: d(drop(x)) = dh A, dA += dh^T drop(x); dropout's backward is
    // the same mask applied to the gradient.
    if (!l->dropped) {
        be->matmul_backward(dx, lo->dA, dh, l->x, lo->A, N, l->in, lo->r, 1.0f);
        return;
    }
    float *dxd = dx ? arena_alloc_zero(ar, (size_t)N * l->in) : NULL;
    be->matmul_backward(dxd, lo->dA, dh, l->xd, lo->A, N, l->in, lo->r, 1.0f);
    if (dx) be->dropout(dx, dxd, l->dropout_seed, N, l->in, lo->dropout, 1);  // dx += mask * dxd
}
