// t5.c: T5 v1.0 (ReLU feed-forward, tied embeddings) and v1.1 / FLAN-T5
// (gated-GELU, untied lm_head): encoder-decoder with relative position biases,
// no 1/sqrt(d) scaling of the attention scores, pre-norm T5 layer norms.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/blocks.h"
#include "model/head.h"
#include "model/model.h"
#include "model/safetensors.h"

typedef struct {
    attn_block self, cross;  // cross: decoder layers only
    ffn_block ffn;
} t5_layer;

typedef struct {
    float *shared;  // token embedding [V, C]
    float *enc_rel, *dec_rel;  // relative attention bias tables [buckets, H] (first layer of each stack)
    t5_layer *enc, *dec;
    float *enc_norm;  // encoder final layer norm [C]
    lm_head head;  // decoder final norm + lm_head
} t5;

// ---- relative position buckets ---------------------------------------------

// The bucket of a key at relative position rel = key - query, as HF's
// T5Attention._relative_position_bucket: exact buckets for small distances,
// log-spaced up to max_distance; the encoder tells left from right.
static int rel_bucket(int rel, int bidirectional, int num_buckets, int max_distance) {
    int bucket = 0, n = num_buckets;
    if (bidirectional) {
        n /= 2;
        if (rel > 0) bucket += n;
        rel = abs(rel);
    } else {
        rel = rel < 0 ? -rel : 0;
    }
    int max_exact = n / 2;
    if (rel < max_exact) return bucket + rel;
    // float32 arithmetic, as torch does it, so borderline distances agree.
    float f = logf((float)rel / (float)max_exact) / (float)log((double)max_distance / max_exact) * (float)(n - max_exact);
    int large = max_exact + (int)f;
    return bucket + (large < n - 1 ? large : n - 1);
}

// One block of bias [H, Tq, Tk]: queries at positions q0..q0+Tq-1, keys 0..Tk-1.
// The bucket depends on the relative position alone: one per distance (a
// logarithm each), not one per (query, key) pair.
static void bias_block(float *block, const float *host_table, const model_config *c, int bidirectional, int Tq,
                       int Tk, int q0) {
    int H = c->n_heads, lo = -(q0 + Tq - 1), n = Tk - lo;  // rel = key - query in [lo, Tk - 1]
    int *bucket = xmalloc((size_t)n * sizeof *bucket);
    for (int r = 0; r < n; r++) bucket[r] = rel_bucket(lo + r, bidirectional, c->rel_buckets, c->rel_max_distance);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < Tq; i++) {
            const int *b = bucket + (-(q0 + i) - lo);  // b[j]: key j's bucket for query i
            float *row = block + ((size_t)h * Tq + i) * Tk;
            for (int j = 0; j < Tk; j++) row[j] = host_table[b[j] * H + h];
        }
    free(bucket);
}

static float *table_on_host(model *m, const float *table) {
    size_t n = (size_t)m->cfg.rel_buckets * m->cfg.n_heads;
    float *host = xmalloc(n * sizeof *host);
    m->be->download(host, table, n);
    return host;
}

// host [n] copied into the arena (and freed).
static float *to_arena(model *m, float *host, size_t n) {
    float *dev = arena_alloc(&m->ar, n);
    m->be->upload(dev, host, n);
    free(host);
    return dev;
}

// The size of a packed batch's bias (blocks.h): one block [H, T_i, T_i] per
// sequence (T_i = seq[i+1] - seq[i]), end to end.
static size_t bias_size(const model *m, const int *seq, int B) {
    size_t n = 0;
    for (int i = 0; i < B; i++) n += (size_t)m->cfg.n_heads * (seq[i + 1] - seq[i]) * (seq[i + 1] - seq[i]);
    return n;
}

// The bias of a packed batch.
static float *position_bias(model *m, const float *table, int bidirectional, const int *seq, int B) {
    size_t n = bias_size(m, seq, B);
    float *host_table = table_on_host(m, table), *host = xmalloc((n ? n : 1) * sizeof *host), *block = host;
    for (int i = 0; i < B; i++) {
        int T = seq[i + 1] - seq[i];
        bias_block(block, host_table, &m->cfg, bidirectional, T, T, 0);
        block += (size_t)m->cfg.n_heads * T * T;
    }
    free(host_table);
    return to_arena(m, host, n);
}

// A decoding step's bias [H, 1, len]: the query at position len - 1 (unidirectional).
static float *step_position_bias(model *m, const float *table, int len) {
    size_t n = (size_t)m->cfg.n_heads * len;
    float *host_table = table_on_host(m, table), *host = xmalloc(n * sizeof *host);
    bias_block(host, host_table, &m->cfg, 0, 1, len, len - 1);
    free(host_table);
    return to_arena(m, host, n);
}

// The table's gradient from the bias gradient of a packed batch (full fine-tuning).
static void position_bias_backward(model *m, float *dtable, const float *dbias, int bidirectional, const int *seq,
                                   int B) {
    const model_config *c = &m->cfg;
    int H = c->n_heads, nb = c->rel_buckets;
    size_t n = bias_size(m, seq, B);
    float *host = xmalloc((n ? n : 1) * sizeof *host), *dt = xcalloc((size_t)nb * H, sizeof *dt);
    m->be->download(host, dbias, n);
    const float *block = host;
    for (int s = 0; s < B; s++) {
        int T = seq[s + 1] - seq[s];
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++) {
                int b = rel_bucket(j - i, bidirectional, nb, c->rel_max_distance);
                for (int h = 0; h < H; h++) dt[b * H + h] += block[((size_t)h * T + i) * T + j];
            }
        block += (size_t)H * T * T;
    }
    m->be->add(dtable, dtable, to_arena(m, dt, (size_t)nb * H), (size_t)nb * H);
    free(host);
}

// ---- loading -----------------------------------------------------------------

static void load_attn(model *m, const safetensors *st, attn_block *a, const char *prefix, const char *kind) {
    const model_config *c = &m->cfg;
    int C = c->d_model, inner = c->n_heads * c->head_dim;
    char *name = xasprintf("%s.layer_norm.weight", prefix);
    a->norm = model_load_param(m, st, name, C, 0);
    free(name);
    static const char *proj[] = {"q", "k", "v", "o"};
    linear *lin[] = {&a->q, &a->k, &a->v, &a->o};
    for (int i = 0; i < 4; i++) {
        name = xasprintf("%s.%s.%s", prefix, kind, proj[i]);
        model_load_linear(m, st, lin[i], name, i < 3 ? C : inner, i < 3 ? inner : C);
        free(name);
    }
    a->n_heads = a->n_kv_heads = c->n_heads;
    a->head_dim = c->head_dim;
    a->scale = 1.0f;  // T5 folds the 1/sqrt(d) into its initialisation
    a->eps = c->norm_eps;
}

static void load_ffn(model *m, const safetensors *st, ffn_block *f, const char *prefix) {
    const model_config *c = &m->cfg;
    char *name = xasprintf("%s.layer_norm.weight", prefix);
    f->norm = model_load_param(m, st, name, c->d_model, 0);
    free(name);
    f->gated = c->gated;
    f->act = c->act;
    f->eps = c->norm_eps;
    const char *in_names[2] = {c->gated ? "wi_0" : "wi", "wi_1"};
    for (int i = 0; i < 1 + c->gated; i++) {
        name = xasprintf("%s.DenseReluDense.%s", prefix, in_names[i]);
        model_load_linear(m, st, i ? &f->up : &f->gate, name, c->d_model, c->d_ff);
        free(name);
    }
    name = xasprintf("%s.DenseReluDense.wo", prefix);
    model_load_linear(m, st, &f->down, name, c->d_ff, c->d_model);
    free(name);
}

static void t5_load(model *m, const char *dir) {
    const model_config *c = &m->cfg;
    t5 *t = xcalloc(1, sizeof *t);
    m->impl = t;
    safetensors *st = st_open_dir(dir);
    int C = c->d_model, V = c->vocab_size;
    // Some exports keep the embedding only under encoder.embed_tokens.
    t->shared = model_load_param(m, st, st_find(st, "shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight", V, C);
    t->enc_rel = model_load_param(m, st, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                  c->rel_buckets, c->n_heads);
    t->dec_rel = model_load_param(m, st, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                  c->rel_buckets, c->n_heads);
    t->enc = xcalloc((size_t)c->n_layers, sizeof *t->enc);
    t->dec = xcalloc((size_t)c->n_decoder_layers, sizeof *t->dec);
    for (int l = 0; l < c->n_layers; l++) {
        char *p0 = xasprintf("encoder.block.%d.layer.0", l), *p1 = xasprintf("encoder.block.%d.layer.1", l);
        load_attn(m, st, &t->enc[l].self, p0, "SelfAttention");
        load_ffn(m, st, &t->enc[l].ffn, p1);
        free(p0), free(p1);
    }
    t->enc_norm = model_load_param(m, st, "encoder.final_layer_norm.weight", C, 0);
    for (int l = 0; l < c->n_decoder_layers; l++) {
        char *p0 = xasprintf("decoder.block.%d.layer.0", l), *p1 = xasprintf("decoder.block.%d.layer.1", l),
             *p2 = xasprintf("decoder.block.%d.layer.2", l);
        load_attn(m, st, &t->dec[l].self, p0, "SelfAttention");
        load_attn(m, st, &t->dec[l].cross, p1, "EncDecAttention");
        load_ffn(m, st, &t->dec[l].ffn, p2);
        free(p0), free(p1), free(p2);
    }
    lm_head *h = &t->head;
    h->norm = model_load_param(m, st, "decoder.final_layer_norm.weight", C, 0);
    // The head is lm_head.weight where the checkpoint has one (a transformers 5
    // config says "tied" for untied checkpoints too), else the shared table.
    int own_head = st_find(st, "lm_head.weight") || !c->tie_word_embeddings;
    h->w = own_head ? model_load_param(m, st, "lm_head.weight", V, C) : t->shared;
    h->scale = c->scale_decoder_outputs ? 1.0f / sqrtf((float)C) : 1.0f;
    h->eps = c->norm_eps;
    h->C = C;
    h->V = V;
    st_close(st);
}

static void t5_free(model *m) {
    t5 *t = m->impl;
    free(t->enc);
    free(t->dec);
    free(t);
}

// ---- training and logits ---------------------------------------------------------

// The gradient buffers of what may train besides the linear layers (NULL
// while frozen), refreshed each step since full training can be switched on.
static void bind_grads(model *m, t5 *t) {
    const model_config *c = &m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        t->enc[l].self.dnorm = model_grad_of(m, t->enc[l].self.norm);
        t->enc[l].ffn.dnorm = model_grad_of(m, t->enc[l].ffn.norm);
    }
    for (int l = 0; l < c->n_decoder_layers; l++) {
        t->dec[l].self.dnorm = model_grad_of(m, t->dec[l].self.norm);
        t->dec[l].cross.dnorm = model_grad_of(m, t->dec[l].cross.norm);
        t->dec[l].ffn.dnorm = model_grad_of(m, t->dec[l].ffn.norm);
    }
    t->head.dnorm = model_grad_of(m, t->head.norm);
    t->head.dw = model_grad_of(m, t->head.w);
    t->head.wb = model_bf16_of(m, t->head.w);
}

// One pass over a packed batch (no padding: example i's source on encoder
// rows src[i]..src[i+1]-1, its target on decoder rows tgt[i]..tgt[i+1]-1),
// and what the backward pass needs.
typedef struct {
    int B, Ts, Tt;  // examples, the longest source and target
    int *src, *tgt;  // [B + 1] row offsets
    int *src_len;  // [B] source lengths (the decoding steps' cross-attention)
    int32_t *src_ids, *dec_ids, *labels;
    float *x_enc, *enc_out, *enc_rstd, *enc_bias, *denc_bias, *dec_bias, *ddec_bias;
} t5_pass;

// Runs the encoder over the packed sources into p->enc_out [src[B], C];
// keeps its activations only if a backward pass follows (want_grads).
static void encode(model *m, t5 *t, t5_pass *p, rng *dropout, int want_grads) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    arena *ar = &m->ar;
    int C = c->d_model, N = p->src[p->B];
    p->x_enc = arena_alloc(ar, (size_t)N * C);
    be->embedding(p->x_enc, p->src_ids, t->shared, N, C, 1.0f);
    p->enc_bias = position_bias(m, t->enc_rel, 1, p->src, p->B);
    p->denc_bias = want_grads && model_grad_of(m, t->enc_rel) ? arena_alloc_zero(ar, bias_size(m, p->src, p->B)) : NULL;
    attn_geometry g = {.B = p->B, .seq = p->src, .bias = p->enc_bias, .dbias = p->denc_bias, .forward_only = !want_grads};
    for (int l = 0; l < c->n_layers; l++) {
        arena_mark layer = arena_get_mark(ar);
        attn_forward(be, ar, &t->enc[l].self, p->x_enc, NULL, &g, dropout);
        ffn_forward(be, ar, &t->enc[l].ffn, p->x_enc, N, dropout, !want_grads);
        if (!want_grads) arena_rewind(ar, layer);  // no backward pass: the activations are scratch
    }
    p->enc_out = arena_alloc(ar, (size_t)N * C);
    p->enc_rstd = arena_alloc(ar, (size_t)N);
    be->rmsnorm(p->enc_out, p->enc_rstd, p->x_enc, t->enc_norm, N, C, c->norm_eps);
}

// Packs the batch: the sources end to end; decoder input = start + target[:-1],
// labels = target, the targets end to end.
static t5_pass make_pass(const model *m, const batch *b) {
    const model_config *c = &m->cfg;
    t5_pass p = {.B = b->B};
    p.src = xmalloc((size_t)(p.B + 1) * sizeof *p.src);
    p.tgt = xmalloc((size_t)(p.B + 1) * sizeof *p.tgt);
    p.src_len = xmalloc((size_t)(p.B ? p.B : 1) * sizeof *p.src_len);
    p.src[0] = p.tgt[0] = 0;
    for (int i = 0; i < p.B; i++) {
        if (b->n_source[i] > p.Ts) p.Ts = b->n_source[i];
        if (b->n_target[i] > p.Tt) p.Tt = b->n_target[i];
        p.src_len[i] = b->n_source[i];
        p.src[i + 1] = p.src[i] + b->n_source[i];
        p.tgt[i + 1] = p.tgt[i] + b->n_target[i];
    }
    p.src_ids = xmalloc((size_t)(p.src[p.B] ? p.src[p.B] : 1) * sizeof *p.src_ids);
    p.dec_ids = xmalloc((size_t)(p.tgt[p.B] ? p.tgt[p.B] : 1) * sizeof *p.dec_ids);
    p.labels = xmalloc((size_t)(p.tgt[p.B] ? p.tgt[p.B] : 1) * sizeof *p.labels);
    for (int i = 0; i < p.B; i++) {
        memcpy(p.src_ids + p.src[i], b->source[i], (size_t)b->n_source[i] * sizeof *p.src_ids);
        for (int t = 0; t < b->n_target[i]; t++) {
            p.dec_ids[p.tgt[i] + t] = t == 0 ? c->decoder_start_id : b->target[i][t - 1];
            p.labels[p.tgt[i] + t] = b->target[i][t];
        }
    }
    return p;
}

static void free_pass(t5_pass *p) {
    free(p->src), free(p->tgt), free(p->src_len), free(p->src_ids), free(p->dec_ids), free(p->labels);
}

static double t5_step(model *m, const batch *b, rng *dropout, float dloss_scale, float *logits) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    t5 *t = m->impl;
    arena *ar = &m->ar;
    int C = c->d_model, backward = dloss_scale != 0.0f;
    bind_grads(m, t);
    t5_pass p = make_pass(m, b);
    int Ne = p.src[p.B], Nd = p.tgt[p.B];
    encode(m, t, &p, dropout, backward);

    float *x = arena_alloc(ar, (size_t)Nd * C);
    be->embedding(x, p.dec_ids, t->shared, Nd, C, 1.0f);
    p.dec_bias = position_bias(m, t->dec_rel, 0, p.tgt, p.B);
    p.ddec_bias = backward && model_grad_of(m, t->dec_rel) ? arena_alloc_zero(ar, bias_size(m, p.tgt, p.B)) : NULL;
    attn_geometry self = {.B = p.B, .seq = p.tgt, .bias = p.dec_bias, .dbias = p.ddec_bias, .causal = 1,
                          .forward_only = !backward};
    attn_geometry cross = {.B = p.B, .seq = p.tgt, .kv_seq = p.src, .forward_only = !backward};
    for (int l = 0; l < c->n_decoder_layers; l++) {
        attn_forward(be, ar, &t->dec[l].self, x, NULL, &self, dropout);
        attn_forward(be, ar, &t->dec[l].cross, x, p.enc_out, &cross, dropout);
        ffn_forward(be, ar, &t->dec[l].ffn, x, Nd, dropout, !backward);
    }
    double loss = lm_head_forward(be, ar, &t->head, x, Nd, p.labels, dloss_scale);
    if (logits) lm_head_download_padded(be, &t->head, logits, p.tgt, p.B, p.Tt);

    if (backward) {
        float *dshared = model_grad_of(m, t->shared);  // below layer 0, only the embedding could train
        float *dx = arena_alloc_zero(ar, (size_t)Nd * C);
        float *denc = arena_alloc_zero(ar, (size_t)Ne * C);
        lm_head_backward(be, ar, &t->head, dx);
        for (int l = c->n_decoder_layers - 1; l >= 0; l--) {
            arena_mark scratch = arena_get_mark(ar);  // a layer's gradients are scratch
            ffn_backward(be, ar, &t->dec[l].ffn, dx);
            attn_backward(be, ar, &t->dec[l].cross, dx, denc, 1);
            attn_backward(be, ar, &t->dec[l].self, dx, NULL, l > 0 || dshared);
            arena_rewind(ar, scratch);
        }
        if (dshared) be->embedding_backward(dshared, dx, p.dec_ids, Nd, C, 1.0f);
        float *dxe = arena_alloc_zero(ar, (size_t)Ne * C);
        be->rmsnorm_backward(dxe, model_grad_of(m, t->enc_norm), denc, p.x_enc, t->enc_norm, p.enc_rstd, Ne, C);
        for (int l = c->n_layers - 1; l >= 0; l--) {
            arena_mark scratch = arena_get_mark(ar);
            ffn_backward(be, ar, &t->enc[l].ffn, dxe);
            attn_backward(be, ar, &t->enc[l].self, dxe, NULL, l > 0 || dshared);
            arena_rewind(ar, scratch);
        }
        if (dshared) be->embedding_backward(dshared, dxe, p.src_ids, Ne, C, 1.0f);
        if (p.denc_bias) position_bias_backward(m, model_grad_of(m, t->enc_rel), p.denc_bias, 1, p.src, p.B);
        if (p.ddec_bias) position_bias_backward(m, model_grad_of(m, t->dec_rel), p.ddec_bias, 0, p.tgt, p.B);
    }
    free_pass(&p);
    return loss;
}

// ---- generation ---------------------------------------------------------------------

static void t5_generate(model *m, const batch *b, int max_new, int eos, int32_t **out, int *n_out) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    t5 *t = m->impl;
    arena *ar = &m->ar;
    int C = c->d_model, B = b->B, D = c->n_heads * c->head_dim, L = c->n_decoder_layers;
    bind_grads(m, t);  // the head's bf16 weight, if any
    t5_pass p = make_pass(m, b);
    encode(m, t, &p, NULL, 0);

    // Cross-attention keys and values: computed once from the packed encoder
    // output, then copied to each example's slab of Ts positions.
    int Ne = p.src[B];
    kv_cache *cross = xmalloc((size_t)L * sizeof *cross), *self = xmalloc((size_t)L * sizeof *self);
    for (int l = 0; l < L; l++) {
        cross[l] = (kv_cache){arena_alloc(ar, (size_t)B * p.Ts * D), arena_alloc(ar, (size_t)B * p.Ts * D), p.Ts};
        arena_mark scratch = arena_get_mark(ar);
        float *packed[2] = {arena_alloc(ar, (size_t)Ne * D), arena_alloc(ar, (size_t)Ne * D)};
        linear_forward(be, ar, &t->dec[l].cross.k, packed[0], p.enc_out, Ne, 0.0f, NULL);
        linear_forward(be, ar, &t->dec[l].cross.v, packed[1], p.enc_out, Ne, 0.0f, NULL);
        kv_cache_fill(be, &cross[l], packed[0], packed[1], p.src, B, D);
        arena_rewind(ar, scratch);
        self[l] = (kv_cache){arena_alloc(ar, (size_t)B * max_new * D), arena_alloc(ar, (size_t)B * max_new * D), max_new};
    }
    int32_t *cur = xmalloc((size_t)B * sizeof *cur), *next = xmalloc((size_t)B * sizeof *next);
    int *len = xmalloc((size_t)B * sizeof *len), done = 0;
    for (int i = 0; i < B; i++) cur[i] = c->decoder_start_id, n_out[i] = 0;
    float *x = arena_alloc(ar, (size_t)B * C);
    for (int s = 0; s < max_new && done < B; s++) {
        arena_mark mark = arena_get_mark(ar);
        be->embedding(x, cur, t->shared, B, C, 1.0f);
        float *bias = step_position_bias(m, t->dec_rel, s + 1);
        for (int i = 0; i < B; i++) len[i] = s + 1;
        for (int l = 0; l < L; l++) {
            attn_step(be, ar, &t->dec[l].self, x, B, &self[l], 1, len, bias, NULL, NULL, NULL);
            attn_step(be, ar, &t->dec[l].cross, x, B, &cross[l], 0, p.src_len, NULL, NULL, NULL, NULL);
            ffn_forward(be, ar, &t->dec[l].ffn, x, B, NULL, 1);
        }
        lm_head_forward(be, ar, &t->head, x, B, NULL, 0.0f);
        be->argmax(next, t->head.logits, B, c->vocab_size);
        for (int i = 0; i < B; i++) {
            int finished = n_out[i] > 0 && out[i][n_out[i] - 1] == eos;
            if (!finished) {
                out[i][n_out[i]++] = next[i];
                if (next[i] == eos) done++;
            }
            cur[i] = finished || next[i] == eos ? c->pad_id : next[i];
        }
        arena_rewind(ar, mark);
    }
    free(cur), free(next), free(len), free(cross), free(self);
    free_pass(&p);
}

const model_arch_ops t5_ops = {t5_load, t5_step, t5_generate, t5_free};
