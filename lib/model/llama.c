// llama.c: the LLaMA family (decoder-only): RMSNorm, rotary position
// embeddings (with the llama3 frequency rule), grouped-query attention,
// SwiGLU, tied or untied embeddings.
#include <math.h>
#include <stdlib.h>

#include "base/util.h"
#include "model/blocks.h"
#include "model/head.h"
#include "model/model.h"
#include "model/safetensors.h"

typedef struct {
    attn_block attn;
    ffn_block ffn;
} llama_layer;

typedef struct {
    float *embed;  // [V, C]
    llama_layer *layers;
    lm_head head;  // model.norm + lm_head (the embedding when tied)
    float *rope_cos, *rope_sin;  // [rope_len, head_dim/2]
    int rope_len;
} llama;

// ---- rotary embeddings -------------------------------------------------------

// The inverse frequency of rotary pair i, as HF computes it in float32,
// with Llama-3.1's rule: long wavelengths slowed by `factor`, short ones kept,
// a smooth blend between.
static float inv_freq(const model_config *c, int i) {
    float f = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
    if (!c->rope_llama3) return f;
    float old_len = (float)c->rope_original_max_position;
    float low_wavelen = old_len / c->rope_low_freq_factor, high_wavelen = old_len / c->rope_high_freq_factor;
    float wavelen = 2.0f * (float)M_PI / f;
    if (wavelen < high_wavelen) return f;
    if (wavelen > low_wavelen) return f / c->rope_factor;
    float smooth = (old_len / wavelen - c->rope_low_freq_factor) / (c->rope_high_freq_factor - c->rope_low_freq_factor);
    return (1.0f - smooth) * f / c->rope_factor + smooth * f;
}

// Makes the cos/sin tables cover positions 0..n-1.
static void ensure_rope(model *m, llama *t, int n) {
    const model_config *c = &m->cfg;
    if (n <= t->rope_len) return;
    if (n > c->max_position_embeddings)
        die("a sequence of %d tokens is longer than the model's max_position_embeddings (%d)", n, c->max_position_embeddings);
    int len = n > 2 * t->rope_len ? n : 2 * t->rope_len;
    if (len > c->max_position_embeddings) len = c->max_position_embeddings;
    int half = c->head_dim / 2;
    size_t size = (size_t)len * half;
    float *cs = xmalloc(size * sizeof *cs), *sn = xmalloc(size * sizeof *sn);
    for (int i = 0; i < half; i++) {
        float f = inv_freq(c, i);
        for (int p = 0; p < len; p++) {
            float angle = (float)p * f;
            cs[(size_t)p * half + i] = cosf(angle);
            sn[(size_t)p * half + i] = sinf(angle);
        }
    }
    if (t->rope_cos) m->be->release(t->rope_cos), m->be->release(t->rope_sin);
    t->rope_cos = m->be->alloc(size);
    t->rope_sin = m->be->alloc(size);
    m->be->upload(t->rope_cos, cs, size);
    m->be->upload(t->rope_sin, sn, size);
    t->rope_len = len;
    free(cs);
    free(sn);
}

// ---- loading ------------------------------------------------------------------------

static void llama_load(model *m, const char *dir) {
    const model_config *c = &m->cfg;
    llama *t = xcalloc(1, sizeof *t);
    m->impl = t;
    safetensors *st = st_open_dir(dir);
    int C = c->d_model, V = c->vocab_size, q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    t->embed = model_load_param(m, st, "model.embed_tokens.weight", V, C);
    t->layers = xcalloc((size_t)c->n_layers, sizeof *t->layers);
    for (int l = 0; l < c->n_layers; l++) {
        attn_block *a = &t->layers[l].attn;
        ffn_block *f = &t->layers[l].ffn;
        char *name = xasprintf("model.layers.%d.input_layernorm.weight", l);
        a->norm = model_load_param(m, st, name, C, 0);
        free(name);
        static const char *proj[] = {"q_proj", "k_proj", "v_proj", "o_proj"};
        linear *lin[] = {&a->q, &a->k, &a->v, &a->o};
        int outs[] = {q, kv, kv, C}, ins[] = {C, C, C, q};
        for (int i = 0; i < 4; i++) {
            name = xasprintf("model.layers.%d.self_attn.%s", l, proj[i]);
            model_load_linear(m, st, lin[i], name, ins[i], outs[i]);
            free(name);
        }
        a->n_heads = c->n_heads;
        a->n_kv_heads = c->n_kv_heads;
        a->head_dim = c->head_dim;
        a->scale = 1.0f / sqrtf((float)c->head_dim);
        a->eps = c->norm_eps;

        name = xasprintf("model.layers.%d.post_attention_layernorm.weight", l);
        f->norm = model_load_param(m, st, name, C, 0);
        free(name);
        static const char *mlp[] = {"gate_proj", "up_proj", "down_proj"};
        linear *mlin[] = {&f->gate, &f->up, &f->down};
        for (int i = 0; i < 3; i++) {
            name = xasprintf("model.layers.%d.mlp.%s", l, mlp[i]);
            model_load_linear(m, st, mlin[i], name, i < 2 ? C : c->d_ff, i < 2 ? c->d_ff : C);
            free(name);
        }
        f->gated = 1;
        f->act = c->act;
        f->eps = c->norm_eps;
    }
    lm_head *h = &t->head;
    h->norm = model_load_param(m, st, "model.norm.weight", C, 0);
    h->w = c->tie_word_embeddings ? t->embed : model_load_param(m, st, "lm_head.weight", V, C);
    h->scale = 1.0f;
    h->eps = c->norm_eps;
    h->C = C;
    h->V = V;
    st_close(st);
    ensure_rope(m, t, 64);
}

static void llama_free(model *m) {
    llama *t = m->impl;
    if (t->rope_cos) m->be->release(t->rope_cos), m->be->release(t->rope_sin);
    free(t->layers);
    free(t);
}

// ---- training and logits ----------------------------------------------------------------

// A packed batch: example i is ids = source ++ target on rows seq[i]..seq[i+1]-1,
// no padding; the row at position t predicts ids[t+1] where that token is part
// of the target.
typedef struct {
    int B, N, T;  // examples, rows, the longest example
    int *seq;  // [B + 1] row offsets
    int32_t *ids, *labels;
    int *pos;
} llama_pass;

static llama_pass make_pass(const batch *b) {
    llama_pass p = {.B = b->B};
    p.seq = xmalloc((size_t)(p.B + 1) * sizeof *p.seq);
    p.seq[0] = 0;
    for (int i = 0; i < b->B; i++) {
        int len = b->n_source[i] + b->n_target[i];
        if (len > p.T) p.T = len;
        p.seq[i + 1] = p.seq[i] + len;
    }
    p.N = p.seq[p.B];
    size_t n = p.N ? (size_t)p.N : 1;
    p.ids = xmalloc(n * sizeof *p.ids);
    p.labels = xmalloc(n * sizeof *p.labels);
    p.pos = xmalloc(n * sizeof *p.pos);
    for (int i = 0; i < p.B; i++) {
        int ns = b->n_source[i], len = p.seq[i + 1] - p.seq[i];
        for (int t = 0; t < len; t++) {
            size_t k = (size_t)p.seq[i] + t;
            p.ids[k] = t < ns ? b->source[i][t] : b->target[i][t - ns];
            p.labels[k] = t + 1 >= ns && t + 1 < len ? b->target[i][t + 1 - ns] : -1;
            p.pos[k] = t;
        }
    }
    return p;
}

static void free_pass(llama_pass *p) { free(p->seq), free(p->ids), free(p->labels), free(p->pos); }

static void bind_grads(model *m, llama *t) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        t->layers[l].attn.dnorm = model_grad_of(m, t->layers[l].attn.norm);
        t->layers[l].ffn.dnorm = model_grad_of(m, t->layers[l].ffn.norm);
    }
    t->head.dnorm = model_grad_of(m, t->head.norm);
    t->head.dw = model_grad_of(m, t->head.w);
    t->head.wb = model_bf16_of(m, t->head.w);
}

// Runs the embedding and the first n_layers layers over the packed batch into
// x [N, C]. Training keeps every layer's activations for the backward pass.
// Generation (cache != NULL, each example's slab room for Tmax positions) keeps
// only the keys and values, copied into the caches, and drops the rest layer
// by layer.
static float *run_layers(model *m, llama *t, const llama_pass *p, int n_layers, rng *dropout, kv_cache *cache) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    int N = p->N;
    size_t D = (size_t)c->n_kv_heads * c->head_dim;
    ensure_rope(m, t, p->T);
    float *x = arena_alloc(&m->ar, (size_t)N * c->d_model);
    be->embedding(x, p->ids, t->embed, N, c->d_model, 1.0f);
    attn_geometry g = {.B = p->B, .seq = p->seq, .causal = 1, .q_pos = p->pos, .k_pos = p->pos,
                       .rope_cos = t->rope_cos, .rope_sin = t->rope_sin, .forward_only = cache != NULL};
    for (int l = 0; l < n_layers; l++) {
        arena_mark layer = arena_get_mark(&m->ar);
        attn_block *a = &t->layers[l].attn;
        attn_forward(be, &m->ar, a, x, NULL, &g, dropout);
        ffn_forward(be, &m->ar, &t->layers[l].ffn, x, N, dropout, g.forward_only);
        if (!cache) continue;
        kv_cache_fill(be, &cache[l], a->kh, a->vh, p->seq, p->B, (int)D);
        arena_rewind(&m->ar, layer);
    }
    return x;
}

// Copies the rows idx[0..n) of x [*, C] into a new [n, C] buffer.
static float *gather_rows(model *m, const float *x, const int *idx, int n, int C) {
    float *out = arena_alloc(&m->ar, (size_t)n * C);
    for (int i = 0; i < n; i++) m->be->copy(out + (size_t)i * C, x + (size_t)idx[i] * C, (size_t)C);
    return out;
}

// ---- the last layer on the rows the head reads --------------------------------------------
//
// The head reads the last layer's output only on some rows: in training those
// that predict a target token, in generation each source's last one. So the
// last layer runs its queries, output projection and feed-forward on each
// example's tail (its rows from first[i] on) and only its keys and values on
// every row: the same outputs on the tail, for about 1/L less work.
typedef struct {
    int N;  // tail rows
    int *seq;  // [B + 1] offsets of example i's tail among the tail rows
    int *rows;  // [N] their rows in the whole batch
    int *pos;  // [N] their positions
    const float *x;  // the last layer's input, every row
    float *ln, *rstd;  // its attention norm over every row: the keys' and values' input
} tail_rows;

static tail_rows tail_from(const llama_pass *p, const int *first) {
    tail_rows tr = {0};
    tr.seq = xmalloc((size_t)(p->B + 1) * sizeof *tr.seq);
    tr.seq[0] = 0;
    for (int i = 0; i < p->B; i++) tr.seq[i + 1] = tr.seq[i] + (p->seq[i + 1] - p->seq[i] - first[i]);
    tr.N = tr.seq[p->B];
    tr.rows = xmalloc((size_t)(tr.N ? tr.N : 1) * sizeof *tr.rows);
    tr.pos = xmalloc((size_t)(tr.N ? tr.N : 1) * sizeof *tr.pos);
    for (int i = 0; i < p->B; i++)
        for (int k = tr.seq[i]; k < tr.seq[i + 1]; k++) {
            tr.rows[k] = p->seq[i] + first[i] + (k - tr.seq[i]);
            tr.pos[k] = p->pos[tr.rows[k]];
        }
    return tr;
}

static void free_tail(tail_rows *tr) { free(tr->seq), free(tr->rows), free(tr->pos); }

// The last layer over x [N, C] (the other layers' output); returns its output
// on the tail rows [tr->N, C]. A tail's queries attend causally to their
// example's keys (a tail ends where its example does).
static float *last_layer_forward(model *m, llama *t, const llama_pass *p, tail_rows *tr, const float *x,
                                 rng *dropout, kv_cache *cache) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    llama_layer *layer = &t->layers[c->n_layers - 1];
    attn_block *a = &layer->attn;
    int C = c->d_model;
    tr->x = x;
    tr->ln = arena_alloc(&m->ar, (size_t)p->N * C);
    tr->rstd = arena_alloc(&m->ar, (size_t)p->N);
    be->rmsnorm(tr->ln, tr->rstd, x, a->norm, p->N, C, a->eps);
    float *xt = gather_rows(m, x, tr->rows, tr->N, C);
    attn_geometry g = {.B = p->B, .seq = tr->seq, .kv_seq = p->seq, .causal = 1, .q_pos = tr->pos, .k_pos = p->pos,
                       .rope_cos = t->rope_cos, .rope_sin = t->rope_sin, .forward_only = cache != NULL};
    attn_forward(be, &m->ar, a, xt, tr->ln, &g, dropout);
    ffn_forward(be, &m->ar, &layer->ffn, xt, tr->N, dropout, g.forward_only);
    if (cache) kv_cache_fill(be, cache, a->kh, a->vh, p->seq, p->B, c->n_kv_heads * c->head_dim);
    return xt;
}

// Given the gradient of the tail rows' output dxt, returns the gradient of the
// last layer's input on every row [N, C], or NULL when nothing below trains.
static float *last_layer_backward(model *m, llama *t, const llama_pass *p, const tail_rows *tr, float *dxt,
                                  int input_grad) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    llama_layer *layer = &t->layers[c->n_layers - 1];
    attn_block *a = &layer->attn;
    int C = c->d_model;
    float *dx = input_grad ? arena_alloc_zero(&m->ar, (size_t)p->N * C) : NULL;
    arena_mark scratch = arena_get_mark(&m->ar);
    ffn_backward(be, &m->ar, &layer->ffn, dxt);
    float *dln = arena_alloc_zero(&m->ar, (size_t)p->N * C);  // of the keys' and values' input
    attn_backward(be, &m->ar, a, dxt, dln, input_grad);
    be->rmsnorm_backward(dx, a->dnorm, dln, tr->x, a->norm, tr->rstd, p->N, C);
    if (dx)
        for (int k = 0; k < tr->N; k++)
            be->add(dx + (size_t)tr->rows[k] * C, dx + (size_t)tr->rows[k] * C, dxt + (size_t)k * C, (size_t)C);
    arena_rewind(&m->ar, scratch);
    return dx;
}

static double llama_step(model *m, const batch *b, rng *dropout, float dloss_scale, float *logits) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    llama *t = m->impl;
    int C = c->d_model;
    bind_grads(m, t);
    llama_pass p = make_pass(b);
    int L = c->n_layers;
    float *dembed = model_grad_of(m, t->embed);
    // The head reads every row when the logits are wanted, else only the rows
    // that predict a target token: each example's tail from its last source
    // token on, all the last layer has to compute.
    int *first = xmalloc((size_t)p.B * sizeof *first);
    for (int i = 0; i < p.B; i++) first[i] = logits || b->n_source[i] == 0 ? 0 : b->n_source[i] - 1;
    tail_rows tr = tail_from(&p, first);
    float *x = run_layers(m, t, &p, L - 1, dropout, NULL);
    float *xt = last_layer_forward(m, t, &p, &tr, x, dropout, NULL);

    // The head runs on the tail rows that predict a target token (the
    // vocabulary projection dominates), or on all when the logits are wanted.
    int *rows = xmalloc((size_t)(tr.N ? tr.N : 1) * sizeof *rows), n = 0;
    int32_t *targets = xmalloc((size_t)(tr.N ? tr.N : 1) * sizeof *targets);
    for (int k = 0; k < tr.N; k++)
        if (logits || p.labels[tr.rows[k]] >= 0) rows[n] = k, targets[n++] = p.labels[tr.rows[k]];
    float *xr = gather_rows(m, xt, rows, n, C);
    double loss = lm_head_forward(be, &m->ar, &t->head, xr, n, targets, dloss_scale);
    if (logits) lm_head_download_padded(be, &t->head, logits, p.seq, p.B, p.T);

    if (dloss_scale != 0.0f) {
        float *dxr = arena_alloc_zero(&m->ar, (size_t)n * C);
        lm_head_backward(be, &m->ar, &t->head, dxr);
        float *dxt = arena_alloc_zero(&m->ar, (size_t)tr.N * C);
        for (int i = 0; i < n; i++)
            be->add(dxt + (size_t)rows[i] * C, dxt + (size_t)rows[i] * C, dxr + (size_t)i * C, (size_t)C);
        float *dx = last_layer_backward(m, t, &p, &tr, dxt, L > 1 || dembed);
        for (int l = L - 2; l >= 0; l--) {
            arena_mark scratch = arena_get_mark(&m->ar);  // a layer's gradients are scratch
            ffn_backward(be, &m->ar, &t->layers[l].ffn, dx);
            attn_backward(be, &m->ar, &t->layers[l].attn, dx, NULL, l > 0 || dembed);
            arena_rewind(&m->ar, scratch);
        }
        if (dembed) be->embedding_backward(dembed, dx, p.ids, p.N, C, 1.0f);
    }
    free(rows);
    free(targets);
    free(first);
    free_tail(&tr);
    free_pass(&p);
    return loss;
}

// ---- generation ----------------------------------------------------------------------------

static void llama_generate(model *m, const batch *b, int max_new, int eos, int32_t **out, int *n_out) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    llama *t = m->impl;
    arena *ar = &m->ar;
    int B = b->B, C = c->d_model, L = c->n_layers, D = c->n_kv_heads * c->head_dim;
    bind_grads(m, t);  // the head's bf16 weight, if any
    // Prefill: the sources as one packed batch (no targets).
    batch src = *b;
    int *zero = xcalloc((size_t)B, sizeof *zero);
    src.n_target = zero;
    llama_pass p = make_pass(&src);
    ensure_rope(m, t, p.T + max_new);
    // Each example's keys and values go to its own cache, room for max_new more.
    int Tmax = p.T + max_new;
    kv_cache *cache = xmalloc((size_t)L * sizeof *cache);
    for (int l = 0; l < L; l++)
        cache[l] = (kv_cache){arena_alloc(ar, (size_t)B * Tmax * D), arena_alloc(ar, (size_t)B * Tmax * D), Tmax};
    int *last = xmalloc((size_t)B * sizeof *last), *len = xmalloc((size_t)B * sizeof *len);
    int32_t *next = xmalloc((size_t)B * sizeof *next);
    for (int i = 0; i < B; i++) last[i] = b->n_source[i] - 1, n_out[i] = 0;
    tail_rows tr = tail_from(&p, last);  // each source's last token
    float *x = run_layers(m, t, &p, L - 1, NULL, cache);
    float *xs = last_layer_forward(m, t, &p, &tr, x, NULL, &cache[L - 1]);
    int done = 0;
    for (int s = 0; done < B; s++) {
        arena_mark mark = arena_get_mark(ar);
        lm_head_forward(be, ar, &t->head, xs, B, NULL, 0.0f);
        be->argmax(next, t->head.logits, B, c->vocab_size);
        for (int i = 0; i < B; i++) {
            if (n_out[i] > 0 && out[i][n_out[i] - 1] == eos) continue;
            out[i][n_out[i]++] = next[i];
            if (next[i] == eos || n_out[i] == max_new) done++;
        }
        if (done == B) break;
        // Feed each example's newest token (finished ones repeat theirs, unused).
        for (int i = 0; i < B; i++) {
            next[i] = out[i][n_out[i] - 1];
            len[i] = b->n_source[i] + s + 1;
            last[i] = len[i] - 1;  // the new token's position
        }
        be->embedding(xs, next, t->embed, B, C, 1.0f);
        for (int l = 0; l < L; l++) {
            attn_step(be, ar, &t->layers[l].attn, xs, B, &cache[l], 1, len, NULL, last, t->rope_cos, t->rope_sin);
            ffn_forward(be, ar, &t->layers[l].ffn, xs, B, NULL, 1);
        }
        arena_rewind(ar, mark);
    }
    free(last), free(len), free(next), free(cache), free(zero);
    free_tail(&tr);
    free_pass(&p);
}

const model_arch_ops llama_ops = {llama_load, llama_step, llama_generate, llama_free};
