// lora.c: plain LoRA training, the method with no hooks, and what every
// method's constructor shares.
#include <stdlib.h>

#include "base/util.h"
#include "methods/method.h"

method *method_new(const char *name) {
    method *me = xcalloc(1, sizeof *me);
    me->name = name;
    me->free = method_free_common;
    return me;
}

void method_free_common(method *me) {
    for (int i = 0; i < me->n_params; i++) free((char *)me->params[i].name);
    free(me->params);
    free(me);
}

void method_add_param(method *me, float *data, float *grad, size_t n, char *name) {
    me->params = xrealloc(me->params, (size_t)(me->n_params + 1) * sizeof *me->params);
    me->params[me->n_params++] = (trainable){data, grad, n, name};
}

method *method_lora(model *m) {
    method *me = method_new("lora");
    for (int i = 0; i < m->n_linears; i++) {
        const linear *l = m->linears[i];
        if (!l->lora) continue;
        method_add_param(me, l->lora->A, l->lora->dA, (size_t)l->lora->r * l->in, xasprintf("%s.lora_A", l->name));
        method_add_param(me, l->lora->B, l->lora->dB, (size_t)l->out * l->lora->r, xasprintf("%s.lora_B", l->name));
    }
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad)
            method_add_param(me, m->params[i].data, m->params[i].grad, m->params[i].n, xstrdup(m->params[i].name));
    if (me->n_params == 0) die("nothing to train: no LoRA layers and no trainable weights");
    return me;
}
