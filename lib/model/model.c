// model.c: what T5 and LLaMA share: loading, the weight registry, LoRA.
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/safetensors.h"

extern const model_arch_ops t5_ops, llama_ops;

model *model_load(const char *dir, const backend *be) {
    model *m = xcalloc(1, sizeof *m);
    m->cfg = config_load(dir);
    m->be = be;
    m->ops = m->cfg.arch == ARCH_T5 ? &t5_ops : &llama_ops;
    arena_init(&m->ar, be);
    m->ops->load(m, dir);
    return m;
}

void model_free(model *m) {
    for (int i = 0; i < m->n_params; i++) {
        m->be->release(m->params[i].data);
        if (m->params[i].grad) m->be->release(m->params[i].grad);
        if (m->params[i].bf16) m->be->release_bf16(m->params[i].bf16);
        free(m->params[i].name);
    }
    // The linear layers live in the architecture's structs: what they own
    // goes before those do.
    for (int i = 0; i < m->n_linears; i++) {
        linear *l = m->linears[i];
        if (l->lora) {
            lora_factors *lo = l->lora;
            m->be->release(lo->A), m->be->release(lo->B);
            if (lo->dA) m->be->release(lo->dA);
            if (lo->dB) m->be->release(lo->dB);
            free(lo);
        }
        free(l->name);
    }
    m->ops->free(m);
    free(m->params);
    free(m->linears);
    arena_free(&m->ar);
    free(m);
}

double model_step(model *m, const batch *b, rng *dropout, float dloss_scale, float *logits) {
    arena_reset(&m->ar);
    return m->ops->step(m, b, dropout, dloss_scale, logits);
}

void model_generate(model *m, const batch *b, int max_new, int eos, int32_t **out, int *n_out) {
    arena_reset(&m->ar);
    m->ops->generate(m, b, max_new, eos, out, n_out);
}

long batch_target_tokens(const batch *b) {
    long n = 0;
    for (int i = 0; i < b->B; i++) n += b->n_target[i];
    return n;
}

float *model_load_param(model *m, const struct safetensors *st, const char *name, int64_t d0, int64_t d1) {
    param p = {.name = xstrdup(name), .ndim = d1 ? 2 : 1, .shape = {d0, d1}};
    p.n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    p.data = m->be->alloc(p.n);
    if (m->be->device == DEVICE_CPU) {  // backend memory is host memory: no copy through a buffer
        st_read_f32(st, name, p.shape, p.ndim, p.data);
    } else {
        float *host = xmalloc(p.n * sizeof *host);
        st_read_f32(st, name, p.shape, p.ndim, host);
        m->be->upload(p.data, host, p.n);
        free(host);
    }
    m->params = xrealloc(m->params, (size_t)(m->n_params + 1) * sizeof *m->params);
    m->params[m->n_params++] = p;
    return p.data;
}

void model_load_linear(model *m, const struct safetensors *st, linear *l, const char *name, int in, int out) {
    char *wname = xasprintf("%s.weight", name);
    *l = (linear){.name = xstrdup(name), .in = in, .out = out};
    l->w = model_load_param(m, st, wname, out, in);
    free(wname);
    m->linears = xrealloc(m->linears, (size_t)(m->n_linears + 1) * sizeof *m->linears);
    m->linears[m->n_linears++] = l;
}

float *model_grad_of(const model *m, const float *data) {
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].data == data) return m->params[i].grad;
    return NULL;
}

void model_train_all_weights(model *m) {
    if (m->bf16) die("bf16 products need frozen weights (LoRA), not full fine-tuning");
    for (int i = 0; i < m->n_params; i++)
        if (!m->params[i].grad) m->params[i].grad = m->be->alloc(m->params[i].n);
    for (int i = 0; i < m->n_linears; i++) m->linears[i]->dw = model_grad_of(m, m->linears[i]->w);
}

void model_use_bf16(model *m) {
    if (!m->be->matmul_bf16) die("the %s backend has no bf16 products", m->be->name);
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad) die("bf16 products need frozen weights (LoRA), not full fine-tuning");
    m->bf16 = 1;
    for (int i = 0; i < m->n_linears; i++) m->linears[i]->wb = model_bf16_of(m, m->linears[i]->w);
}

const void *model_bf16_of(model *m, const float *data) {
    if (!m->bf16) return NULL;
    for (int i = 0; i < m->n_params; i++) {
        param *p = &m->params[i];
        if (p->data != data || p->grad) continue;
        if (!p->bf16) p->bf16 = m->be->pack_bf16(p->data, (int)p->shape[0], p->ndim == 2 ? (int)p->shape[1] : 1);
        return p->bf16;
    }
    return NULL;
}

linear *model_find_linear(const model *m, const char *name) {
    for (int i = 0; i < m->n_linears; i++)
        if (strcmp(m->linears[i]->name, name) == 0) return m->linears[i];
    return NULL;
}

static int is_target(const char *name, char *const *targets, int n) {
    const char *dot = strrchr(name, '.');
    const char *last = dot ? dot + 1 : name;
    for (int i = 0; i < n; i++)
        if (strcmp(last, targets[i]) == 0) return 1;
    return 0;
}

int model_add_lora(model *m, int r, float alpha, float dropout, char *const *targets, int n_targets, rng *init) {
    const backend *be = m->be;
    int count = 0;
    for (int i = 0; i < m->n_linears; i++) {
        linear *l = m->linears[i];
        if (!is_target(l->name, targets, n_targets)) continue;
        lora_factors *lo = xcalloc(1, sizeof *lo);
        *lo = (lora_factors){.r = r, .scale = alpha / (float)r, .dropout = dropout};
        // PEFT: kaiming_uniform_(A, a=sqrt(5)) = U(-b, b), b = sqrt(6 / ((1 + a^2) fan_in)) = 1/sqrt(fan_in).
        size_t na = (size_t)r * l->in;
        float bound = 1.0f / sqrtf((float)l->in), *host = xmalloc(na * sizeof *host);
        for (size_t k = 0; k < na; k++) host[k] = (2.0f * rng_float(init) - 1.0f) * bound;
        lo->A = be->alloc(na);
        be->upload(lo->A, host, na);
        free(host);
        lo->B = be->alloc((size_t)l->out * r);  // zero
        lo->dA = be->alloc(na);
        lo->dB = be->alloc((size_t)l->out * r);
        l->lora = lo;
        count++;
    }
    if (count == 0) die("no linear layer matches the LoRA targets (e.g. \"%s\")", n_targets ? targets[0] : "");
    return count;
}
