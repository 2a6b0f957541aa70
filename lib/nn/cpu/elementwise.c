// elementwise.c: vector arithmetic over n floats (one kernel for both CPU
// backends: memory-bound loops the compiler vectorises).
#include "nn/cpu/cpu.h"

// out = a + b (out may be a or b)
void cpu_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// x *= s
void cpu_scale(float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

// out = a * b (dropout: b a mask of 0 and 1/(1-p))
void cpu_mul(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}
