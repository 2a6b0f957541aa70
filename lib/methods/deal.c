// deal.c: the DEAL method: a pair of branches per adapted linear, wired to
// the model's LoRA factors (see deal.h).
#include "methods/deal.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    linear *l;
    deal_branch *a, *b;  // Y = A_p^T [in, r] and Y = B_p [out, r]; NULL: the factor stays as loaded
    float *host, *host_t;  // scratch for transfers and transposes, r x max(in, out)
} deal_module;

typedef struct {
    deal_options o;
    deal_module *mods;
    int n;
    float *materialised;  // the parameters A', B' were last made from (all trainables in a row); NULL: never
} deal_state;

static void transpose(float *dst, const float *src, int rows, int cols) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

// Whether the parameters differ from those A', B' were made from, and if so
// remembers them: between the micro-batches of one optimizer step they do
// not, and the model's factors are still right.
static int parameters_changed(method *me) {
    deal_state *s = me->state;
    size_t total = 0;
    for (int i = 0; i < me->n_params; i++) total += me->params[i].n;
    int changed = s->materialised == NULL;
    if (changed) s->materialised = xmalloc(total * sizeof *s->materialised);
    float *at = s->materialised;
    for (int i = 0; i < me->n_params; i++) {
        size_t bytes = me->params[i].n * sizeof *at;
        if (changed || memcmp(at, me->params[i].data, bytes) != 0) changed = 1, memcpy(at, me->params[i].data, bytes);
        at += me->params[i].n;
    }
    return changed;
}

// The modules are independent and each one's maths is small: one thread per
// module (the products inside then run on that thread alone) rather than a
// thread team per small product, whose start-up costs more than the product.
static void deal_before_forward(method *me, model *m) {
    deal_state *s = me->state;
    if (!parameters_changed(me)) return;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < s->n; i++) {
        deal_module *d = &s->mods[i];
        lora_factors *lo = d->l->lora;
        if (d->a) {  // A' = Y'_A^T
            transpose(d->host, deal_branch_forward(d->a), d->l->in, lo->r);
            m->be->upload(lo->A, d->host, (size_t)lo->r * d->l->in);
        }
        if (d->b) m->be->upload(lo->B, deal_branch_forward(d->b), (size_t)d->l->out * lo->r);
    }
}

static void deal_after_backward(method *me, model *m) {
    deal_state *s = me->state;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < s->n; i++) {
        deal_module *d = &s->mods[i];
        lora_factors *lo = d->l->lora;
        size_t na = (size_t)lo->r * d->l->in, nb = (size_t)d->l->out * lo->r;
        if (d->a) {
            m->be->download(d->host, lo->dA, na);
            transpose(d->host_t, d->host, lo->r, d->l->in);
            deal_branch_backward(d->a, d->host_t);
            m->be->zero(lo->dA, na);
        }
        if (d->b) {
            m->be->download(d->host, lo->dB, nb);
            deal_branch_backward(d->b, d->host);
            m->be->zero(lo->dB, nb);
        }
    }
}

static double deal_regularizer(method *me, model *m, float scale) {
    (void)m;
    deal_state *s = me->state;
    double sum = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->mods[i].a) sum += deal_branch_regularizer(s->mods[i].a, &s->o, scale);
        if (s->mods[i].b) sum += deal_branch_regularizer(s->mods[i].b, &s->o, scale);
    }
    return sum;
}

static void deal_free(method *me) {
    deal_state *s = me->state;
    for (int i = 0; i < s->n; i++) {
        if (s->mods[i].a) deal_branch_free(s->mods[i].a);
        if (s->mods[i].b) deal_branch_free(s->mods[i].b);
        free(s->mods[i].host), free(s->mods[i].host_t);
    }
    free(s->mods), free(s->materialised), free(s);
    method_free_common(me);
}

// The branch over one factor: transformed if chosen by --branches, else the
// identity (retention none, no MLP) when the factors train, else none at all.
static deal_branch *make_branch(const deal_options *o, int chosen, const float *Y, int d, int r, rng *init) {
    if (!chosen && !o->train_factors) return NULL;
    int hidden = o->mlp_hidden ? o->mlp_hidden : (r / 2 > 128 ? r / 2 : 128);
    return deal_branch_new(Y, d, r, chosen ? o->retention : RETENTION_NONE, chosen && o->mlp, o->kernels, hidden,
                           o->train_factors, init);
}

method *method_deal(model *m, const deal_options *o, rng *init) {
    if (o->norm_a < o->norm_b) die("--norm-a (%g) must be at least --norm-b (%g)", o->norm_a, o->norm_b);
    if (o->norm_b < 1) die("--norm-a and --norm-b must be at least 1 (norms)");
    if (!o->branch_a && !o->branch_b) die("--branches: choose A, B or both");
    if (o->retention == RETENTION_NONE && !o->mlp && !o->train_factors)
        die("DEAL with --retention none and --update none trains nothing (add --deal-train-factors)");
    method *me = method_new("deal");
    deal_state *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->mods = xcalloc((size_t)m->n_linears, sizeof *s->mods);
    for (int i = 0; i < m->n_linears; i++) {
        linear *l = m->linears[i];
        lora_factors *lo = l->lora;
        if (!lo) continue;
        size_t na = (size_t)lo->r * l->in, nb = (size_t)l->out * lo->r, most = na > nb ? na : nb;
        float *A = xmalloc(na * sizeof *A), *Yb = xmalloc(nb * sizeof *Yb), *Ya = xmalloc(na * sizeof *Ya);
        m->be->download(A, lo->A, na);
        m->be->download(Yb, lo->B, nb);
        transpose(Ya, A, lo->r, l->in);
        deal_module *d = &s->mods[s->n++];
        *d = (deal_module){l, make_branch(o, o->branch_a, Ya, l->in, lo->r, init),
                           make_branch(o, o->branch_b, Yb, l->out, lo->r, init), xmalloc(most * sizeof(float)),
                           xmalloc(most * sizeof(float))};
        char *name = xasprintf("%s.deal_A", l->name);
        if (d->a) deal_branch_params(d->a, me, name);
        free(name);
        name = xasprintf("%s.deal_B", l->name);
        if (d->b) deal_branch_params(d->b, me, name);
        free(name), free(A), free(Ya), free(Yb);
        // The model computes gradients only for the factors a branch maps back.
        if (!d->a && lo->dA) m->be->release(lo->dA), lo->dA = NULL;
        if (!d->b && lo->dB) m->be->release(lo->dB), lo->dB = NULL;
        if ((d->a && !lo->dA) || (d->b && !lo->dB)) die_internal("%s: LoRA factors without gradients", l->name);
    }
    if (s->n == 0) die("DEAL needs the previous task's LoRA adapter (--init)");
    me->state = s;
    me->before_forward = deal_before_forward;
    me->after_backward = deal_after_backward;
    me->regularizer = deal_regularizer;
    me->free = deal_free;
    return me;
}
