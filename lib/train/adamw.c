// adamw.c: the optimizer, in double where it matters (norms, corrections).
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void adamw_init(adamw *o, trainable *t, int n, float lr, float weight_decay) {
    *o = (adamw){.lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = weight_decay, .t = t, .n = n};
    o->m = xmalloc((size_t)n * sizeof *o->m);
    o->v = xmalloc((size_t)n * sizeof *o->v);
    for (int i = 0; i < n; i++) {
        o->m[i] = xcalloc(t[i].n, sizeof(float));
        o->v[i] = xcalloc(t[i].n, sizeof(float));
    }
}

void adamw_free(adamw *o) {
    for (int i = 0; i < o->n; i++) free(o->m[i]), free(o->v[i]);
    free(o->m);
    free(o->v);
}

double clip_grad_norm(trainable *t, int n, double max_norm) {
    double sum = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < t[i].n; k++) sum += (double)t[i].grad[k] * t[i].grad[k];
    double norm = sqrt(sum);
    if (max_norm > 0 && norm > max_norm) {
        float coef = (float)(max_norm / (norm + 1e-6));  // torch adds the same 1e-6
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < t[i].n; k++) t[i].grad[k] *= coef;
    }
    return norm;
}

void adamw_step(adamw *o) {
    o->step++;
    double c1 = 1.0 - pow(o->beta1, (double)o->step), c2 = 1.0 - pow(o->beta2, (double)o->step);
    float step_size = (float)(o->lr / c1), sqrt_c2 = (float)sqrt(c2);
    // The settings in locals: read through o inside the loop, they kept it
    // scalar (o might overlap the parameters, for all the compiler knows).
    float decay = 1.0f - o->lr * o->weight_decay, beta1 = o->beta1, beta2 = o->beta2, eps = o->eps;
    for (int i = 0; i < o->n; i++) {
        float *p = o->t[i].data, *g = o->t[i].grad, *m = o->m[i], *v = o->v[i];
        size_t n = o->t[i].n;
#pragma omp parallel for simd if (n >= 16384)  // a small tensor is not worth a team of threads
        for (size_t k = 0; k < n; k++) {
            p[k] *= decay;
            m[k] = beta1 * m[k] + (1.0f - beta1) * g[k];
            v[k] = beta2 * v[k] + (1.0f - beta2) * g[k] * g[k];
            p[k] -= step_size * m[k] / (sqrtf(v[k]) / sqrt_c2 + eps);
        }
    }
}

void zero_grads(trainable *t, int n) {
    for (int i = 0; i < n; i++) memset(t[i].grad, 0, t[i].n * sizeof(float));
}
