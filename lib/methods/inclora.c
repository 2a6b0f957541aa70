// inclora.c: the stacked LoRA blocks of IncLoRA and O-LoRA (see inclora.h).
#include "methods/inclora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// Replaces l's rank-(k r) LoRA with a rank-((k + 1) r) one: the old blocks
// first, then a fresh block.
static void add_block(const backend *be, linear *l, int r, rng *init) {
    lora_factors *old = l->lora, *lo = xcalloc(1, sizeof *lo);
    int R = old->r + r;
    *lo = (lora_factors){.r = R, .scale = old->scale, .dropout = old->dropout};
    size_t na_old = (size_t)old->r * l->in, na = (size_t)R * l->in;
    float *A = xmalloc(na * sizeof *A), *Bold = xmalloc((size_t)l->out * old->r * sizeof *Bold);
    float *B = xcalloc((size_t)l->out * R, sizeof *B);
    be->download(A, old->A, na_old);
    float bound = 1.0f / sqrtf((float)l->in);  // PEFT's kaiming-uniform(a = sqrt 5)
    for (size_t i = na_old; i < na; i++) A[i] = (2.0f * rng_float(init) - 1.0f) * bound;
    be->download(Bold, old->B, (size_t)l->out * old->r);
    for (int o = 0; o < l->out; o++) memcpy(B + (size_t)o * R, Bold + (size_t)o * old->r, (size_t)old->r * sizeof *B);
    lo->A = be->alloc(na), lo->B = be->alloc((size_t)l->out * R);
    lo->dA = be->alloc(na), lo->dB = be->alloc((size_t)l->out * R);
    be->upload(lo->A, A, na);
    be->upload(lo->B, B, (size_t)l->out * R);
    be->release(old->A), be->release(old->B);
    if (old->dA) be->release(old->dA);
    if (old->dB) be->release(old->dB);
    free(old), free(A), free(Bold), free(B);
    l->lora = lo;
}

static void stack_before_forward(method *me, model *m) {
    stack_state *s = me->state;
    for (int i = 0; i < s->n; i++) {
        stack_module *d = &s->mods[i];
        int R = d->l->lora->r, k = d->k, r = s->r;
        m->be->upload(d->l->lora->A + (size_t)k * r * d->l->in, d->A, (size_t)r * d->l->in);
        for (int o = 0; o < d->l->out; o++)
            memcpy(d->B_stack + (size_t)o * R + (size_t)k * r, d->B + (size_t)o * r, (size_t)r * sizeof *d->B);
        m->be->upload(d->l->lora->B, d->B_stack, (size_t)d->l->out * R);
    }
}

static void stack_after_backward(method *me, model *m) {
    stack_state *s = me->state;
    for (int i = 0; i < s->n; i++) {
        stack_module *d = &s->mods[i];
        lora_factors *lo = d->l->lora;
        int R = lo->r, k = d->k, r = s->r;
        size_t na = (size_t)r * d->l->in, nb = (size_t)d->l->out * R;
        float *host = xmalloc((na > nb ? na : nb) * sizeof *host);
        m->be->download(host, lo->dA + (size_t)k * na, na);
        for (size_t j = 0; j < na; j++) d->dA[j] += host[j];
        m->be->download(host, lo->dB, nb);
        for (int o = 0; o < d->l->out; o++)
            for (int c = 0; c < r; c++) d->dB[(size_t)o * r + c] += host[(size_t)o * R + (size_t)k * r + c];
        m->be->zero(lo->dA, (size_t)R * d->l->in);
        m->be->zero(lo->dB, nb);
        free(host);
    }
}

static void stack_free(method *me) {
    stack_state *s = me->state;
    for (int i = 0; i < s->n; i++) {
        stack_module *d = &s->mods[i];
        free(d->A), free(d->dA), free(d->B), free(d->dB), free(d->A_prev), free(d->B_stack);
    }
    free(s->mods), free(s);
    method_free_common(me);
}

method *method_inclora(model *m, int r, int grow, rng *init) {
    method *me = method_new("inclora");
    stack_state *s = xcalloc(1, sizeof *s);
    s->r = r;
    s->mods = xcalloc((size_t)m->n_linears, sizeof *s->mods);
    for (int i = 0; i < m->n_linears; i++) {
        linear *l = m->linears[i];
        if (!l->lora) continue;
        if (l->lora->r % r != 0 || (!grow && l->lora->r != r))
            die("%s: a LoRA of rank %d is not a stack of rank-%d blocks", l->name, l->lora->r, r);
        if (grow) add_block(m->be, l, r, init);
        lora_factors *lo = l->lora;
        stack_module *d = &s->mods[s->n++];
        d->l = l;
        d->k = lo->r / r - 1;
        size_t na = (size_t)r * l->in, nb = (size_t)l->out * r, nprev = (size_t)d->k * na;
        d->A = xmalloc(na * sizeof *d->A), d->dA = xcalloc(na, sizeof *d->dA);
        d->B = xmalloc(nb * sizeof *d->B), d->dB = xcalloc(nb, sizeof *d->dB);
        d->A_prev = xmalloc((nprev ? nprev : 1) * sizeof *d->A_prev);
        d->B_stack = xmalloc((size_t)l->out * lo->r * sizeof *d->B_stack);
        m->be->download(d->A_prev, lo->A, nprev);
        m->be->download(d->A, lo->A + nprev, na);
        m->be->download(d->B_stack, lo->B, (size_t)l->out * lo->r);
        for (int o = 0; o < l->out; o++)
            memcpy(d->B + (size_t)o * r, d->B_stack + (size_t)o * lo->r + (size_t)d->k * r, (size_t)r * sizeof *d->B);
        method_add_param(me, d->A, d->dA, na, xasprintf("%s.lora_A.new", l->name));
        method_add_param(me, d->B, d->dB, nb, xasprintf("%s.lora_B.new", l->name));
    }
    if (s->n == 0) die("no LoRA layers to stack a block on");
    me->state = s;
    me->before_forward = stack_before_forward;
    me->after_backward = stack_after_backward;
    me->free = stack_free;
    return me;
}
