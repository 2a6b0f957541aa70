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

// The row offsets of a packed batch's keys; rows of queries and of keys; the
// size of the saved softmax.
static const int *kv_rows_of(const attn_geometry *g) { return g->kv_seq ? g->kv_seq : g->seq; }
static int query_rows(const attn_geometry *g) { return g->seq ? g->seq[g->B] : g->B * g->Tq; }
static int key_rows(const attn_geometry *g) { return g->seq ? kv_rows_of(g)[g->B] : g->B * g->Tk; }
static size_t probs_size(const attn_geometry *g, int H) {
    if (!g->seq) return (size_t)g->B * H * g->Tq * g->Tk;
    const int *ks = kv_rows_of(g);
    size_t n = 0;
    for (int i = 0; i < g->B; i++) n += (size_t)H * (g->seq[i + 1] - g->seq[i]) * (ks[i + 1] - ks[i]);
    return n;
}

void attn_forward(const backend *be, arena *ar, attn_block *a, float *x, const float *kv_src,
                  const attn_geometry *g, rng *dropout) {
    int C = a->q.in, H = a->n_heads, KVH = a->n_kv_heads, hs = a->head_dim;
    int Nq = query_rows(g), Nk = key_rows(g);
    a->g = *g;
    a->x_in = g->forward_only ? NULL : saved_copy(be, ar, x, (size_t)Nq * C);
    a->ln = arena_alloc(ar, (size_t)Nq * C);
    a->rstd = arena_alloc(ar, (size_t)Nq);
    be->rmsnorm(a->ln, a->rstd, x, a->norm, Nq, C, a->eps);
    a->kv_in = kv_src ? kv_src : a->ln;

    a->qh = arena_alloc(ar, (size_t)Nq * H * hs);
    a->kh = arena_alloc(ar, (size_t)Nk * KVH * hs);
    a->vh = arena_alloc(ar, (size_t)Nk * KVH * hs);
    linear_forward(be, ar, &a->q, a->qh, a->ln, Nq, 0.0f, dropout);
    linear_forward(be, ar, &a->k, a->kh, a->kv_in, Nk, 0.0f, dropout);
    linear_forward(be, ar, &a->v, a->vh, a->kv_in, Nk, 0.0f, dropout);
    if (g->q_pos) {  // positions per row: rows of a packed batch are one sequence of Nq
        be->rope(a->qh, g->q_pos, g->rope_cos, g->rope_sin, 1, Nq, H, hs, 1);
        be->rope(a->kh, g->k_pos, g->rope_cos, g->rope_sin, 1, Nk, KVH, hs, 1);
    }
    a->probs = arena_alloc(ar, probs_size(g, H));
    a->att = arena_alloc(ar, (size_t)Nq * H * hs);
    if (!g->seq) {
        be->attention(a->att, a->probs, a->qh, a->kh, a->vh, g->bias, g->kv_start, g->kv_end, g->causal, a->scale,
                      g->B, g->Tq, g->Tk, H, KVH, hs);
    } else {
        const int *ks = kv_rows_of(g);
        size_t block = 0;  // of sequence i in probs and bias
        for (int i = 0; i < g->B; i++) {
            size_t q0 = (size_t)g->seq[i], k0 = (size_t)ks[i];
            int Tq = g->seq[i + 1] - g->seq[i], Tk = ks[i + 1] - ks[i];
            be->attention(a->att + q0 * H * hs, a->probs + block, a->qh + q0 * H * hs, a->kh + k0 * KVH * hs,
                          a->vh + k0 * KVH * hs, g->bias ? g->bias + block : NULL, NULL, NULL, g->causal, a->scale,
                          1, Tq, Tk, H, KVH, hs);
            block += (size_t)H * Tq * Tk;
        }
    }
    linear_forward(be, ar, &a->o, x, a->att, Nq, 1.0f, dropout);  // x += o(att)
}

void attn_backward(const backend *be, arena *ar, attn_block *a, float *dx, float *dkv_src, int input_grad) {
    const attn_geometry *g = &a->g;
    int C = a->q.in, H = a->n_heads, KVH = a->n_kv_heads, hs = a->head_dim;
    int Nq = query_rows(g), Nk = key_rows(g);
    float *datt = arena_alloc(ar, (size_t)Nq * H * hs);
    linear_backward(be, ar, &a->o, datt, dx, 0.0f);

    float *dq = arena_alloc_zero(ar, (size_t)Nq * H * hs);
    float *dk = arena_alloc_zero(ar, (size_t)Nk * KVH * hs);
    float *dv = arena_alloc_zero(ar, (size_t)Nk * KVH * hs);
    if (!g->seq) {
        be->attention_backward(dq, dk, dv, g->dbias, datt, a->probs, a->qh, a->kh, a->vh, g->causal, a->scale, g->B,
                               g->Tq, g->Tk, H, KVH, hs);
    } else {
        const int *ks = kv_rows_of(g);
        size_t block = 0;
        for (int i = 0; i < g->B; i++) {
            size_t q0 = (size_t)g->seq[i], k0 = (size_t)ks[i];
            int Tq = g->seq[i + 1] - g->seq[i], Tk = ks[i + 1] - ks[i];
            be->attention_backward(dq + q0 * H * hs, dk + k0 * KVH * hs, dv + k0 * KVH * hs,
                                   g->dbias ? g->dbias + block : NULL, datt + q0 * H * hs, a->probs + block,
                                   a->qh + q0 * H * hs, a->kh + k0 * KVH * hs, a->vh + k0 * KVH * hs, g->causal,
                                   a->scale, 1, Tq, Tk, H, KVH, hs);
            block += (size_t)H * Tq * Tk;
        }
    }
    if (g->q_pos) {  // the gradient of a rotation is the inverse rotation
        be->rope(dq, g->q_pos, g->rope_cos, g->rope_sin, 1, Nq, H, hs, -1);
        be->rope(dk, g->k_pos, g->rope_cos, g->rope_sin, 1, Nk, KVH, hs, -1);
    }
    // The normed input's gradient: for the input's, or the norm weight's.
    float *dln = input_grad || a->dnorm ? arena_alloc(ar, (size_t)Nq * C) : NULL;
    float *dkv = dkv_src ? dkv_src : dln;  // self-attention: k and v read the normed x too
    linear_backward(be, ar, &a->q, dln, dq, 0.0f);
    linear_backward(be, ar, &a->k, dkv, dk, 1.0f);
    linear_backward(be, ar, &a->v, dkv, dv, 1.0f);
    if (dln) be->rmsnorm_backward(input_grad ? dx : NULL, a->dnorm, dln, a->x_in, a->norm, a->rstd, Nq, C);
}

void kv_cache_fill(const backend *be, const kv_cache *c, const float *k, const float *v, const int *seq, int B, int D) {
    for (int i = 0; i < B; i++) {
        size_t from = (size_t)seq[i] * D, to = (size_t)i * c->Tmax * D, n = (size_t)(seq[i + 1] - seq[i]) * D;
        be->copy(c->k + to, k + from, n);
        be->copy(c->v + to, v + from, n);
    }
}

void attn_step(const backend *be, arena *ar, attn_block *a, float *x, int B, const kv_cache *c, int self,
               const int *len, const float *bias, const int *pos, const float *rope_cos, const float *rope_sin) {
    int C = a->q.in, H = a->n_heads, KVH = a->n_kv_heads, hs = a->head_dim;
    size_t D = (size_t)KVH * hs;
    float *ln = arena_alloc(ar, (size_t)B * C), *rstd = arena_alloc(ar, (size_t)B);
    be->rmsnorm(ln, rstd, x, a->norm, B, C, a->eps);
    float *q = arena_alloc(ar, (size_t)B * H * hs);
    linear_forward(be, ar, &a->q, q, ln, B, 0.0f, NULL);
    if (pos) be->rope(q, pos, rope_cos, rope_sin, B, 1, H, hs, 1);
    if (self) {
        float *k = arena_alloc(ar, B * D), *v = arena_alloc(ar, B * D);
        linear_forward(be, ar, &a->k, k, ln, B, 0.0f, NULL);
        linear_forward(be, ar, &a->v, v, ln, B, 0.0f, NULL);
        if (pos) be->rope(k, pos, rope_cos, rope_sin, B, 1, KVH, hs, 1);
        for (int b = 0; b < B; b++) {
            size_t at = ((size_t)b * c->Tmax + len[b] - 1) * D;
            be->copy(c->k + at, k + b * D, D);
            be->copy(c->v + at, v + b * D, D);
        }
    }
    float *att = arena_alloc(ar, (size_t)B * H * hs);
    if (!bias) {  // one call: example b sees the first len[b] keys of its slab
        float *probs = arena_alloc(ar, (size_t)B * H * c->Tmax);
        be->attention(att, probs, q, c->k, c->v, NULL, NULL, len, 0, a->scale, B, 1, c->Tmax, H, KVH, hs);
    } else {  // the bias [H, len] is laid out for exactly len keys: one example at a time
        int max_len = 0;
        for (int b = 0; b < B; b++) max_len = len[b] > max_len ? len[b] : max_len;
        float *probs = arena_alloc(ar, (size_t)H * max_len);
        for (int b = 0; b < B; b++) {
            size_t slab = (size_t)b * c->Tmax * D;
            be->attention(att + (size_t)b * H * hs, probs, q + (size_t)b * H * hs, c->k + slab, c->v + slab, bias,
                          NULL, NULL, 0, a->scale, 1, 1, len[b], H, KVH, hs);
        }
    }
    linear_forward(be, ar, &a->o, x, att, B, 1.0f, NULL);  // x += o(att)
}

// Under --bf16 a gated feed-forward's activation can make its output (or,
// backward, its gradients) in bf16 for the products alone, where no LoRA
// branch reads them in fp32 (nn/cpu/ffn_bf16.c).
static int fused_down(const backend *be, const ffn_block *f) {
    return f->gated && f->down.wb && !f->down.lora && be->gated_matmul_bf16;
}

static int fused_gate_up_backward(const backend *be, const ffn_block *f) {
    return f->gated && f->gate.wb && f->up.wb && !f->gate.lora && !f->up.lora && be->gated_matmul_bf16_backward;
}

void ffn_forward(const backend *be, arena *ar, ffn_block *f, float *x, int N, rng *dropout, int forward_only) {
    int C = f->gate.in, F = f->gate.out;
    size_t nh = (size_t)N * F;
    f->N = N;
    f->x_in = forward_only ? NULL : saved_copy(be, ar, x, (size_t)N * C);
    f->ln = arena_alloc(ar, (size_t)N * C);
    f->rstd = arena_alloc(ar, (size_t)N);
    be->rmsnorm(f->ln, f->rstd, x, f->norm, N, C, f->eps);
    f->a_gate = arena_alloc(ar, nh);
    linear_forward(be, ar, &f->gate, f->a_gate, f->ln, N, 0.0f, dropout);
    if (f->gated) {
        f->a_up = arena_alloc(ar, nh);
        linear_forward(be, ar, &f->up, f->a_up, f->ln, N, 0.0f, dropout);
    }
    if (fused_down(be, f)) {  // x += down(hidden), the hidden activation made in bf16 only
        f->down.N = N;  // all that the down projection's backward (frozen, no LoRA) reads
        f->hidden = NULL;
        be->gated_matmul_bf16(x, f->a_gate, f->a_up, f->down.wb, N, F, C, f->act);
        return;
    }
    f->hidden = arena_alloc(ar, nh);
    if (f->gated) be->gated(f->hidden, f->a_gate, f->a_up, nh, f->act);
    else be->activation(f->hidden, f->a_gate, nh, f->act);
    linear_forward(be, ar, &f->down, x, f->hidden, N, 1.0f, dropout);  // x += down(hidden)
}

void ffn_backward(const backend *be, arena *ar, ffn_block *f, float *dx) {
    int N = f->N, C = f->gate.in, F = f->gate.out;
    size_t nh = (size_t)N * F;
    float *dhidden = arena_alloc(ar, nh);
    linear_backward(be, ar, &f->down, dhidden, dx, 0.0f);
    float *dln = arena_alloc(ar, (size_t)N * C);
    if (fused_gate_up_backward(be, f)) {  // dgate and dup made in bf16 only
        be->gated_matmul_bf16_backward(dln, dhidden, f->a_gate, f->a_up, f->gate.wb, f->up.wb, N, C, F, f->act);
    } else {
        float *dgate = arena_alloc(ar, nh);  // written by the activation's backward pass
        if (f->gated) {
            float *dup = arena_alloc(ar, nh);
            be->gated_backward(dgate, dup, dhidden, f->a_gate, f->a_up, nh, f->act);
            linear_backward(be, ar, &f->up, dln, dup, 0.0f);
        } else {
            be->activation_backward(dgate, dhidden, f->a_gate, nh, f->act);
        }
        linear_backward(be, ar, &f->gate, dln, dgate, f->gated ? 1.0f : 0.0f);
    }
    be->rmsnorm_backward(dx, f->dnorm, dln, f->x_in, f->norm, f->rstd, N, C);
}
