// timing.h: the clock and the median-of-5 timing that bench/*.c share.
#ifndef DEAL_BENCH_TIMING_H
#define DEAL_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Seconds of run(ctx): the median of 5 timed runs, after a warm-up.
static inline double median_time(void (*run)(void *), void *ctx) {
    double t[5];
    run(ctx);
    for (int i = 0; i < 5; i++) {
        double t0 = now();
        run(ctx);
        t[i] = now() - t0;
    }
    qsort(t, 5, sizeof *t, by_value);
    return t[2];
}

#endif
