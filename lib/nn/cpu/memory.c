// memory.c: CPU "device" buffers are host memory: 64-byte aligned (one cache
// line, one AVX-512 vector), zero-filled; upload and download are copies.
#include "nn/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

float *cpu_alloc(size_t n) {
    if (n > SIZE_MAX / sizeof(float) - 64) die_internal("allocation of %zu floats is too large", n);
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;  // aligned_alloc wants a multiple of the alignment
    if (bytes == 0) bytes = 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) die_internal("out of memory (%zu floats)", n);
    memset(p, 0, bytes);
    return p;
}

void cpu_release(float *p) { free(p); }

void cpu_zero(float *p, size_t n) {
    if (n) memset(p, 0, n * sizeof(float));
}

void cpu_copy(float *dst, const float *src, size_t n) {
    if (n && dst != src) memmove(dst, src, n * sizeof(float));
}
