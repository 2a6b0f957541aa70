// blocks.c: attention and feed-forward sublayers, forward and backward.
#include "model/blocks.h"

#include <stddef.h>

// The residual stream is updated in place, so the norm's backward pass needs
// a copy of what entered the block.
static const float *saved_copy(const backend *be, arena *ar, const float *x, size_t n) {
    float *c = arena_alloc(ar, n);
    be->copy(c, x, n);
    return c;
}

void attn_forward(const backend *be, arena *ar, attn_block *a, float *x, const float *kv_src,
                  const attn_geometry *g, rng *dropout) {
    int C = a->q.in, H = a->n_heads, KVH = a->n_kv_heads, hs = a->head_dim;
    int Nq = g->B * g->Tq, Nk = g->B * g->Tk;
    a->g = *g;
    a->x_in = saved_copy(be, ar, x, (size_t)Nq * C);
    a->ln = arena_alloc(ar, (size_t)Nq * C);
    a->rstd = arena_alloc(ar, (size_t)Nq);
    be->rmsnorm(a->ln, a->rstd, x, a->norm, Nq, C, a->eps);
    a->kv_in = kv_src ? kv_src : a->ln;

    a->qh = arena_alloc(ar, (size_t)Nq * H * hs);
    a->kh = arena_alloc(ar, (size_t)Nk * KVH * hs);
    a->vh = arena_alloc(ar, (size_t)Nk * KVH * hs);
    linear_forward(be, ar, &a->q, a->qh, a->ln, Nq, dropout);
    linear_forward(be, ar, &a->k, a->kh, a->kv_in, Nk, dropout);
    linear_forward(be, ar, &a->v, a->vh, a->kv_in, Nk, dropout);
    if (g->q_pos) {
        be->rope(a->qh, g->q_pos, g->rope_cos, g->rope_sin, g->B, g->Tq, H, hs, 1);
        be->rope(a->kh, g->k_pos, g->rope_cos, g->rope_sin, g->B, g->Tk, KVH, hs, 1);
    }
    a->probs = arena_alloc(ar, (size_t)g->B * H * g->Tq * g->Tk);
    a->att = arena_alloc(ar, (size_t)Nq * H * hs);
    be->attention(a->att, a->probs, a->qh, a->kh, a->vh, g->bias, g->kv_start, g->kv_end, g->causal, a->scale, g->B,
                  g->Tq, g->Tk, H, KVH, hs);
    float *out = arena_alloc(ar, (size_t)Nq * C);
    linear_forward(be, ar, &a->o, out, a->att, Nq, dropout);
    be->add(x, x, out, (size_t)Nq * C);
}

void attn_backward(const backend *be, arena *ar, attn_block *a, float *dx, float *dkv_src) {
    const attn_geometry *g = &a->g;
    int C = a->q.in, H = a->n_heads, KVH = a->n_kv_heads, hs = a->head_dim;
    int Nq = g->B * g->Tq, Nk = g->B * g->Tk;
    float *datt = arena_alloc_zero(ar, (size_t)Nq * H * hs);
    linear_backward(be, ar, &a->o, datt, dx);

    float *dq = arena_alloc_zero(ar, (size_t)Nq * H * hs);
    float *dk = arena_alloc_zero(ar, (size_t)Nk * KVH * hs);
    float *dv = arena_alloc_zero(ar, (size_t)Nk * KVH * hs);
    be->attention_backward(dq, dk, dv, g->dbias, datt, a->probs, a->qh, a->kh, a->vh, a->scale, g->B, g->Tq, g->Tk, H,
                           KVH, hs);
    if (g->q_pos) {  // the gradient of a rotation is the inverse rotation
        be->rope(dq, g->q_pos, g->rope_cos, g->rope_sin, g->B, g->Tq, H, hs, -1);
        be->rope(dk, g->k_pos, g->rope_cos, g->rope_sin, g->B, g->Tk, KVH, hs, -1);
    }
    float *dln = arena_alloc_zero(ar, (size_t)Nq * C);
    float *dkv = dkv_src ? dkv_src : dln;  // self-attention: k and v read the normed x too
    linear_backward(be, ar, &a->q, dln, dq);
    linear_backward(be, ar, &a->k, dkv, dk);
    linear_backward(be, ar, &a->v, dkv, dv);
    be->rmsnorm_backward(dx, a->dnorm, dln, a->x_in, a->norm, a->rstd, Nq, C);
}

void attn_step(const backend *be, arena *ar, attn_block *a, float *x, int B, const kv_cache *c, int self,
               const int *len, const float *bias, const int *pos, const float *rope_cos, const float *rope_sin) {
    int C = a->q.in, H = a->n_heads, KVH = a->n_kv_heads, hs = a->head_dim;
    size_t D = (size_t)KVH * hs;
    float *ln = arena_alloc(ar, (size_t)B * C), *rstd = arena_alloc(ar, (size_t)B);
    be->rmsnorm(ln, rstd, x, a->norm, B, C, a->eps);
    float *q = arena_alloc(ar, (size_t)B * H * hs);
    linear_forward(be, ar, &a->q, q, ln, B, NULL);
    if (pos) be->rope(q, pos, rope_cos, rope_sin, B, 1, H, hs, 1);
    if (self) {
        float *k = arena_alloc(ar, B * D), *v = arena_alloc(ar, B * D);
        linear_forward(be, ar, &a->k, k, ln, B, NULL);
        linear_forward(be, ar, &a->v, v, ln, B, NULL);
        if (pos) be->rope(k, pos, rope_cos, rope_sin, B, 1, KVH, hs, 1);
        for (int b = 0; b < B; b++) {
            size_t at = ((size_t)b * c->Tmax + len[b] - 1) * D;
            be->copy(c->k + at, k + b * D, D);
            be->copy(c->v + at, v + b * D, D);
        }
    }
    int max_len = 0;
    for (int b = 0; b < B; b++) max_len = len[b] > max_len ? len[b] : max_len;
    float *probs = arena_alloc(ar, (size_t)H * max_len);
    float *att = arena_alloc(ar, (size_t)B * H * hs);
    for (int b = 0; b < B; b++) {
        size_t slab = (size_t)b * c->Tmax * D;
        be->attention(att + (size_t)b * H * hs, probs, q + (size_t)b * H * hs, c->k + slab, c->v + slab, bias, NULL,
                      NULL, 0, a->scale, 1, 1, len[b], H, KVH, hs);
    }
    float *out = arena_alloc(ar, (size_t)B * C);
    linear_forward(be, ar, &a->o, out, att, B, NULL);
    be->add(x, x, out, (size_t)B * C);
}

void ffn_forward(const backend *be, arena *ar, ffn_block *f, float *x, int N, rng *dropout) {
    int C = f->gate.in, F = f->gate.out;
    size_t nh = (size_t)N * F;
    f->N = N;
    f->x_in = saved_copy(be, ar, x, (size_t)N * C);
    f->ln = arena_alloc(ar, (size_t)N * C);
    f->rstd = arena_alloc(ar, (size_t)N);
    be->rmsnorm(f->ln, f->rstd, x, f->norm, N, C, f->eps);
    f->a_gate = arena_alloc(ar, nh);
    f->hidden = arena_alloc(ar, nh);
    linear_forward(be, ar, &f->gate, f->a_gate, f->ln, N, dropout);
    if (f->gated) {
        f->a_up = arena_alloc(ar, nh);
        linear_forward(be, ar, &f->up, f->a_up, f->ln, N, dropout);
        be->gated(f->hidden, f->a_gate, f->a_up, nh, f->act);
    } else {
        be->activation(f->hidden, f->a_gate, nh, f->act);
    }
    float *out = arena_alloc(ar, (size_t)N * C);
    linear_forward(be, ar, &f->down, out, f->hidden, N, dropout);
    be->add(x, x, out, (size_t)N * C);
}

void ffn_backward(const backend *be, arena *ar, ffn_block *f, float *dx) {
    int N = f->N, C = f->gate.in, F = f->gate.out;
    size_t nh = (size_t)N * F;
    float *dhidden = arena_alloc_zero(ar, nh);
    linear_backward(be, ar, &f->down, dhidden, dx);
    float *dgate = arena_alloc_zero(ar, nh);
    float *dln = arena_alloc_zero(ar, (size_t)N * C);
    if (f->gated) {
        float *dup = arena_alloc_zero(ar, nh);
        be->gated_backward(dgate, dup, dhidden, f->a_gate, f->a_up, nh, f->act);
        linear_backward(be, ar, &f->up, dln, dup);
    } else {
        be->activation_backward(dgate, dhidden, f->a_gate, nh, f->act);
    }
    linear_backward(be, ar, &f->gate, dln, dgate);
    be->rmsnorm_backward(dx, f->dnorm, dln, f->x_in, f->norm, f->rstd, N, C);
}
