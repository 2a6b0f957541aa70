// olora.c: O-LoRA's regulariser over the stacked blocks (see inclora.h):
// the new block's A kept orthogonal to every earlier block's A.
#include <math.h>
#include <stdlib.h>

#include "methods/inclora.h"
#include "methods/lpnorm.h"

// lambda1 sum |A_prev A^T| (P = A_prev A^T is [k r, r]; dA = sign(P)^T A_prev).
static double orthogonality(const stack_module *d, int r, float lambda1, float scale) {
    int in = d->l->in, rows = d->k * r;
    double sum = 0;
    for (int p = 0; p < rows; p++)
        for (int q = 0; q < r; q++) {
            const float *ap = d->A_prev + (size_t)p * in, *aq = d->A + (size_t)q * in;
            double dot = 0;
            for (int i = 0; i < in; i++) dot += (double)ap[i] * aq[i];
            sum += fabs(dot);
            if (dot == 0) continue;
            float g = (float)(dot > 0 ? lambda1 * scale : -lambda1 * scale);
            for (int i = 0; i < in; i++) d->dA[(size_t)q * in + i] += g * ap[i];
        }
    return lambda1 * sum;
}

static double olora_regularizer(method *me, model *m, float scale) {
    (void)m;
    stack_state *s = me->state;
    double sum = 0;
    for (int i = 0; i < s->n; i++) {
        const stack_module *d = &s->mods[i];
        lp_piece a = {d->A, d->dA, (size_t)s->r * d->l->in}, b = {d->B, d->dB, (size_t)d->l->out * s->r};
        sum += orthogonality(d, s->r, s->lambda1, scale);
        sum += lp_penalty(&a, 1, 2, 0, s->lambda2, scale) + lp_penalty(&b, 1, 2, 0, s->lambda2, scale);
    }
    return sum;
}

method *method_olora(model *m, int r, int grow, rng *init, float lambda1, float lambda2) {
    method *me = method_inclora(m, r, grow, init);
    me->name = "olora";
    stack_state *s = me->state;
    s->lambda1 = lambda1, s->lambda2 = lambda2;
    me->regularizer = olora_regularizer;
    return me;
}
