// elementwise.c: vector arithmetic over n floats (one kernel for both CPU
// backends: memory-bound loops the compiler vectorises).
#include "nn/cpu/cpu.h"

#include "base/rng.h"

// out = a + b (out may be a or b)
void cpu_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// x *= s
void cpu_scale(float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

// Dropout: row r's mask comes from its own generator seeded with seed + r, so
// rows run in parallel and the mask is the same however they are scheduled.
// Each 64-bit draw decides two values (a 32-bit uniform each against p).
void cpu_dropout(float *out, const float *inp, uint64_t seed, int N, int C, float p) {
    float keep = 1.0f / (1.0f - p);
    uint64_t cut = (uint64_t)((double)p * 4294967296.0);  // drop if the uniform is below
#pragma omp parallel for if ((size_t)N * C >= CPU_PAR_MIN)
    for (int r = 0; r < N; r++) {
        rng g;
        rng_seed(&g, seed + (uint64_t)r);
        size_t o = (size_t)r * C;
        for (int j = 0; j < C; j += 2) {
            uint64_t bits = rng_next(&g);
            out[o + j] = (bits & 0xffffffffu) < cut ? 0.0f : inp[o + j] * keep;
            if (j + 1 < C) out[o + j + 1] = (bits >> 32) < cut ? 0.0f : inp[o + j + 1] * keep;
        }
    }
}
