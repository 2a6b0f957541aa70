// memory.c: CPU "device" buffers are host memory: 64-byte aligned (one cache
// line, one AVX-512 vector), zero-filled; upload and download are copies.
//
// Large buffers (activations, weights) are mapped straight from the kernel,
// already zero, their pages faulted in when first used; small ones come from
// calloc. Either way a 64-byte header before the buffer says how to give it
// back. The mappings are not marked for transparent huge pages: where the
// kernel compacts memory for them on the spot (Debian's default "defrag =
// madvise"), a first step of training waited on it; measured on the 2-core
// machine, one epoch of T5 / LLaMA / SmolLM2 (bench_train.sh's) ran 9-10% faster
// without the mark (the first step 2x faster), a second epoch 2% faster.
#include "nn/cpu/cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/util.h"

#define HEADER 64  // bytes before each buffer: its header, padded to the alignment
#define MAP_MIN ((size_t)4 << 20)  // bytes from which buffers are mapped

typedef struct {
    void *raw;  // what calloc or mmap returned
    size_t mapped;  // the mapping's length, 0 if from calloc
} header;

float *cpu_alloc(size_t n) {
    if (n > (SIZE_MAX - 2 * HEADER) / sizeof(float)) die_internal("allocation of %zu floats is too large", n);
    size_t bytes = n * sizeof(float) + 2 * HEADER;
    char *raw;
    header h = {0};
    if (bytes >= MAP_MIN) {
        raw = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) die_internal("out of memory (%zu floats)", n);
        h.mapped = bytes;
    } else {
        raw = calloc(1, bytes);
        if (!raw) die_internal("out of memory (%zu floats)", n);
    }
    h.raw = raw;
    uintptr_t data = ((uintptr_t)raw + HEADER + 63) & ~(uintptr_t)63;
    memcpy((char *)data - sizeof h, &h, sizeof h);
    return (float *)data;
}

void cpu_release(float *p) {
    if (!p) return;
    header h;
    memcpy(&h, (char *)p - sizeof h, sizeof h);
    if (h.mapped) munmap(h.raw, h.mapped);
    else free(h.raw);
}

// Large buffers are zeroed and copied by every thread, in slices: one core
// does not reach the memory bandwidth, and the other threads would only wait
// for it at the next parallel kernel.
#define SLICE ((size_t)16384)  // floats per slice (64 KiB)

// (A small buffer skips the parallel loop altogether: even a team of one
// costs more than copying a KV cache row.)
void cpu_zero(float *p, size_t n) {
    if (n < 4 * SLICE) {
        memset(p, 0, n * sizeof(float));
        return;
    }
#pragma omp parallel for
    for (size_t i = 0; i < n; i += SLICE) memset(p + i, 0, (n - i < SLICE ? n - i : SLICE) * sizeof(float));
}

void cpu_copy(float *dst, const float *src, size_t n) {
    if (!n || dst == src) return;
    if (n < 4 * SLICE || !(dst + n <= src || src + n <= dst)) {  // small, or overlapping
        memmove(dst, src, n * sizeof(float));
        return;
    }
#pragma omp parallel for
    for (size_t i = 0; i < n; i += SLICE) memcpy(dst + i, src + i, (n - i < SLICE ? n - i : SLICE) * sizeof(float));
}

void *cpu_scratch(void **buf, size_t *cap, size_t bytes) {
    if (bytes > *cap) {
        free(*buf);
        *cap = bytes > 2 * *cap ? bytes : 2 * *cap;  // sizes that creep up reallocate rarely
        *buf = xmalloc(*cap);
    }
    return *buf;
}
