// registry.c: the methods by name, and one task's set-up and save.
#include "methods/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "methods/inclora.h"
#include "methods/replay.h"

static method *create_lora(model *m, const method_options *o, int block_r, rng *init) {
    (void)o, (void)block_r, (void)init;
    return method_lora(m);
}

static method *create_pertask(model *m, const method_options *o, int block_r, rng *init) {
    if (o->init) die("pertask trains a fresh adapter for every task: no --init");
    return create_lora(m, o, block_r, init);
}

static method *create_deal(model *m, const method_options *o, int block_r, rng *init) {
    if (!o->init) return create_lora(m, o, block_r, init);  // task 1: plain LoRA
    deal_options d = o->deal;
    d.lambda1 = o->lambda1, d.lambda2 = o->lambda2;
    return method_deal(m, &d, init);
}

static method *create_inclora(model *m, const method_options *o, int block_r, rng *init) {
    return method_inclora(m, block_r, o->init != NULL, init);
}

static method *create_olora(model *m, const method_options *o, int block_r, rng *init) {
    return method_olora(m, block_r, o->init != NULL, init, o->lambda1, o->lambda2);
}

static method *create_replay(model *m, const method_options *o, int block_r, rng *init) {
    (void)block_r, (void)init;
    return method_replay(m, o->init, o->replay_fraction, o->seed);
}

static const method_kind kinds[] = {
    {"seqlora", 1e-5f, 0, 0, 0, 0, create_lora},
    {"deal", 1e-5f, 0, 0.01f, 0.001f, 0, create_deal},
    {"inclora", 1e-5f, 0, 0, 0, 1, create_inclora},
    {"olora", 1e-3f, 8, 0.5f, 0.0f, 1, create_olora},
    {"pertask", 1e-5f, 0, 0, 0, 0, create_pertask},
    {"replay", 1e-5f, 0, 0, 0, 0, create_replay},
};
#define N_KINDS (int)(sizeof kinds / sizeof *kinds)

const char *method_names(void) {
    static char names[128];
    if (!names[0])
        for (int i = 0; i < N_KINDS; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", kinds[i].name);
    return names;
}

const method_kind *method_find(const char *name) {
    for (int i = 0; i < N_KINDS; i++)
        if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
    die("unknown method \"%s\" (one of %s)", name, method_names());
}

// The previous task's adapter, trainable (its r, alpha and targets).
static void load_init(model *m, const method_options *o, lora_config *lc) {
    *lc = adapter_read_config(o->init);
    lc->dropout = o->dropout;
    adapter_load(m, o->init);
    for (int i = 0; i < m->n_linears; i++) {
        lora_factors *lo = m->linears[i]->lora;
        if (!lo) continue;
        lo->dropout = o->dropout;
        lo->dA = m->be->alloc((size_t)lo->r * m->linears[i]->in);
        lo->dB = m->be->alloc((size_t)m->linears[i]->out * lo->r);
    }
}

static void add_fresh(model *m, const method_options *o, lora_config *lc, rng *init) {
    int t5 = m->cfg.arch == ARCH_T5;
    *lc = (lora_config){.r = o->r ? o->r : o->kind->r ? o->kind->r : t5 ? 16 : 32, .alpha = o->alpha, .dropout = o->dropout};
    static char *t5_targets[] = {"q", "v"}, *llama_targets[] = {"q_proj", "v_proj"};
    char **targets = o->targets ? o->targets : t5 ? t5_targets : llama_targets;
    lc->n_targets = o->targets ? o->n_targets : 2;
    lc->targets = xmalloc((size_t)lc->n_targets * sizeof *lc->targets);
    for (int i = 0; i < lc->n_targets; i++) lc->targets[i] = xstrdup(targets[i]);
    model_add_lora(m, lc->r, lc->alpha, lc->dropout, lc->targets, lc->n_targets, init);
}

method *method_start(model *m, const method_options *o, lora_config *lc, adapter_record *rec) {
    const method_kind *k = o->kind;
    method_options resolved = *o;
    if (isnan(resolved.lambda1)) resolved.lambda1 = k->lambda1;
    if (isnan(resolved.lambda2)) resolved.lambda2 = k->lambda2;
    rng init;
    rng_seed(&init, o->seed);
    // One task's LoRA: a block of the stack for inclora and olora, else the adapter.
    int block_r;
    float block_alpha;
    if (o->init) {
        *rec = record_read(o->init);
        free(rec->method);
        rec->method = NULL;
        load_init(m, o, lc);
        block_r = k->stacks ? rec->r : lc->r;
        block_alpha = k->stacks ? rec->alpha : lc->alpha;
    } else {
        *rec = (adapter_record){0};
        add_fresh(m, o, lc, &init);
        block_r = lc->r, block_alpha = lc->alpha;
    }
    method *me = k->create(m, &resolved, block_r, &init);
    me->name = k->name;
    if (k->stacks) {  // PEFT's form of the stack: r' = r t, alpha' = alpha t (inclora.h)
        int blocks = 0;
        for (int i = 0; i < m->n_linears && !blocks; i++)
            if (m->linears[i]->lora) blocks = m->linears[i]->lora->r / block_r;
        lc->r = block_r * blocks;
        lc->alpha = block_alpha * (float)blocks;
    }
    rec->method = xstrdup(k->name);
    rec->r = block_r, rec->alpha = block_alpha;
    record_add_task(rec, o->task);
    return me;
}

typedef struct {
    method *me;
    const adapter_record *rec;
} extra_files;

static void write_extra(const char *dir, void *arg) {
    extra_files *x = arg;
    record_write(x->rec, dir);
    if (x->me->save) x->me->save(x->me, dir);
}

void method_save(method *me, model *m, const lora_config *lc, const adapter_record *rec, const char *base,
                 const char *dir) {
    if (me->before_forward) me->before_forward(me, m);
    extra_files x = {me, rec};
    adapter_save(m, lc, base, dir, write_extra, &x);
}
