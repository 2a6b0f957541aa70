// Unit tests of the LoRA linear layer (lib/model/linear.c): with dropout on,
// the backward pass regenerates the mask from its seed instead of storing it,
// so its gradients are checked against central finite differences of
// L = sum(y * R) where every forward evaluation draws the same mask (the
// dropout generator restarted from the same seed).
#include "../test.h"

#include "base/rng.h"
#include "base/util.h"
#include "model/linear.h"
#include "nn/arena.h"

enum { N = 6, IN = 7, OUT = 5, R = 3 };

static float frand(rng *r) { return 2.0f * rng_float(r) - 1.0f; }

// L = sum(y * Rw) for y = layer(x) with the dropout generator seeded with seed.
static double loss(const backend *be, arena *ar, linear *l, const float *x, const float *Rw, uint64_t seed) {
    float y[N * OUT];
    rng d;
    rng_seed(&d, seed);
    arena_reset(ar);
    linear_forward(be, ar, l, y, x, N, 0.0f, &d);
    double s = 0.0;
    for (int i = 0; i < N * OUT; i++) s += (double)y[i] * Rw[i];
    return s;
}

// Largest |analytic - numeric| / (|numeric| + 1e-2) over the entries of p.
static double worst_error(const backend *be, arena *ar, linear *l, float *x, const float *Rw, float *p,
                          const float *grad, int n) {
    double worst = 0.0, h = 1e-2;
    for (int i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + (float)h;
        double up = loss(be, ar, l, x, Rw, 7);
        p[i] = keep - (float)h;
        double down = loss(be, ar, l, x, Rw, 7);
        p[i] = keep;
        double num = (up - down) / (2 * h), err = fabs(grad[i] - num) / (fabs(num) + 1e-2);
        if (err > worst) worst = err;
    }
    return worst;
}

static void test_dropout_gradients(void) {
    const backend *be = backend_cpu_reference();
    rng r;
    rng_seed(&r, 11);
    static float w[OUT * IN], A[R * IN], B[OUT * R], dA[R * IN], dB[OUT * R], x[N * IN], dx[N * IN], Rw[N * OUT];
    for (int i = 0; i < OUT * IN; i++) w[i] = frand(&r);
    for (int i = 0; i < R * IN; i++) A[i] = frand(&r);
    for (int i = 0; i < OUT * R; i++) B[i] = frand(&r);
    for (int i = 0; i < N * IN; i++) x[i] = frand(&r);
    for (int i = 0; i < N * OUT; i++) Rw[i] = frand(&r);
    lora_factors lo = {.r = R, .scale = 2.0f, .dropout = 0.4f, .A = A, .B = B, .dA = dA, .dB = dB};
    linear l = {.in = IN, .out = OUT, .w = w, .lora = &lo};
    arena ar;
    arena_init(&ar, be);

    // Analytic gradients: forward with seed 7, backward with dy = R.
    loss(be, &ar, &l, x, Rw, 7);
    CHECK(l.dropped);
    linear_backward(be, &ar, &l, dx, Rw, 1.0f);
    // The check above would also pass without dropout; make sure some inputs were dropped.
    float y_drop[N * OUT], y_keep[N * OUT];
    rng d;
    rng_seed(&d, 7);
    linear_forward(be, &ar, &l, y_drop, x, N, 0.0f, &d);
    linear_forward(be, &ar, &l, y_keep, x, N, 0.0f, NULL);
    CHECK(memcmp(y_drop, y_keep, sizeof y_drop) != 0);

    double e_x = worst_error(be, &ar, &l, x, Rw, x, dx, N * IN);
    double e_a = worst_error(be, &ar, &l, x, Rw, A, dA, R * IN);
    double e_b = worst_error(be, &ar, &l, x, Rw, B, dB, OUT * R);
    printf("  dropout gradients vs finite differences: dx %.2e, dA %.2e, dB %.2e (tolerance 1e-3)\n", e_x, e_a, e_b);
    CHECK(e_x < 1e-3);
    CHECK(e_a < 1e-3);
    CHECK(e_b < 1e-3);
    arena_free(&ar);
}

int main(void) {
    deal_set_tool("test_linear");
    RUN(test_dropout_gradients);
    return test_summary();
}
