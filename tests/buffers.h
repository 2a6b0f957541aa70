// buffers.h: random and zero float buffers on the host, and the comparisons the
// kernel tests share (test_kernels.c, test_cuda_kernels.c). TEST_RNG is the
// including file's generator; seed it in main.
#ifndef DEAL_TEST_BUFFERS_H
#define DEAL_TEST_BUFFERS_H

#include <math.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"

static rng TEST_RNG;

// n uniform values in [lo, hi).
static inline float *rand_buf(size_t n, float lo, float hi) {
    float *x = xmalloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_float(&TEST_RNG);
    return x;
}

static inline float *copy_buf(const float *x, size_t n) {
    float *y = xmalloc(sizeof(float) * (n ? n : 1));
    memcpy(y, x, sizeof(float) * n);
    return y;
}

static inline float *zero_buf(size_t n) { return xcalloc(n ? n : 1, sizeof(float)); }

static inline double max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

// max |a - b| relative to max |b| (NaN anywhere counts as infinitely wrong).
static inline double rel_err(const float *a, const float *b, size_t n) {
    double e = 0.0, m = max_abs(b, n);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d != d) return INFINITY;
        e = fmax(e, d);
    }
    return m > 0 ? e / m : e;
}

#endif
