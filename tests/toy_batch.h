// toy_batch.h: a fixed two-example batch for the unit tests that run a model
// (test_deal.c, test_methods.c), and its logits through a method's forward.
#ifndef DEAL_TEST_TOY_BATCH_H
#define DEAL_TEST_TOY_BATCH_H

#include <stdint.h>
#include <stdlib.h>

#include "base/util.h"
#include "methods/registry.h"
#include "model/model.h"

typedef struct {
    batch b;
    int32_t ids[2][2][9];
    int n_source[2], n_target[2];
    int32_t *src[2], *tgt[2];
} toy_batch;

// Sources of 7 and 5 ids, targets of 3 and 4, all in [2, vocab).
static inline void toy_init(toy_batch *t, int vocab) {
    int ns[2] = {7, 5}, nt[2] = {3, 4};
    for (int e = 0; e < 2; e++) {
        for (int i = 0; i < 9; i++) t->ids[e][0][i] = (int32_t)(2 + (13 * i + 5 * e + 1) % (vocab - 2));
        for (int i = 0; i < 9; i++) t->ids[e][1][i] = (int32_t)(2 + (7 * i + 11 * e + 3) % (vocab - 2));
        t->src[e] = t->ids[e][0], t->tgt[e] = t->ids[e][1];
        t->n_source[e] = ns[e], t->n_target[e] = nt[e];
    }
    t->b = (batch){2, t->src, t->tgt, t->n_source, t->n_target};
}

// The n logits of b (model_step's layout), after the method's before_forward if any.
static inline float *logits_of(model *m, method *me, const batch *b, size_t n) {
    float *logits = xmalloc(n * sizeof *logits);
    if (me && me->before_forward) me->before_forward(me, m);
    model_step(m, b, NULL, 0.0f, logits);
    return logits;
}

#endif
