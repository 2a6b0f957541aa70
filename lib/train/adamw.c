// adamw.c: the optimizer, in double where it matters (norms, corrections).
#include "train/adamw.h"

#include <math.h>
#include <omp.h>
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

// Clipping and the update run every tensor in one team of threads, each
// thread taking its slice of each tensor with no barrier in between: LoRA's
// tensors are many and small (T5's 72 of 8,192 values each), too small for a
// team apiece, and with one thread per tensor the other thread of bench_train's
// T5 epoch sat idle for 60 ms of it (now 10).

// This thread's slice [*lo, *hi) of n values (inside a parallel region).
static void my_slice(size_t n, size_t *lo, size_t *hi) {
    size_t id = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
    *lo = n * id / nt, *hi = n * (id + 1) / nt;
}

double clip_grad_norm(trainable *t, int n, double max_norm) {
    double sum = 0;
#pragma omp parallel reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        const float *g = t[i].grad;
        size_t lo, hi;
        my_slice(t[i].n, &lo, &hi);
        double part = 0;
#pragma omp simd reduction(+ : part)
        for (size_t k = lo; k < hi; k++) part += (double)g[k] * g[k];
        sum += part;
    }
    double norm = sqrt(sum);
    if (max_norm > 0 && norm > max_norm) {
        float coef = (float)(max_norm / (norm + 1e-6));  // torch adds the same 1e-6
#pragma omp parallel
        for (int i = 0; i < n; i++) {
            float *g = t[i].grad;
            size_t lo, hi;
            my_slice(t[i].n, &lo, &hi);
#pragma omp simd
            for (size_t k = lo; k < hi; k++) g[k] *= coef;
        }
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
    const trainable *t = o->t;
    float **ms = o->m, **vs = o->v;
    int n_tensors = o->n;
#pragma omp parallel
    for (int i = 0; i < n_tensors; i++) {
        float *p = t[i].data, *g = t[i].grad, *m = ms[i], *v = vs[i];
        size_t lo, hi;
        my_slice(t[i].n, &lo, &hi);
#pragma omp simd
        for (size_t k = lo; k < hi; k++) {
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
