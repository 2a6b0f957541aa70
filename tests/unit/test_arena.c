// Unit tests of the step arena (lib/nn/arena.c) over the CPU backend, with
// its allocations counted: what one step hands out does not overlap and stays
// put, steps no larger than one already seen allocate nothing, a larger step
// adds blocks no smaller than all before, a rewind hands the same memory out
// again, and freeing gives every block back.
#include "../test.h"

#include <stdint.h>

#include "base/util.h"
#include "nn/arena.h"

static backend counting;  // the CPU backend with alloc / release counted
static int n_alloc, n_release;
static size_t sizes[64];  // the blocks' sizes, in allocation order

static float *count_alloc(size_t n) {
    if (n_alloc < 64) sizes[n_alloc] = n;
    n_alloc++;
    return backend_cpu()->alloc(n);
}

static void count_release(float *p) {
    n_release++;
    backend_cpu()->release(p);
}

// One step: k allocations of the sizes in n[], each filled with its index,
// then checked (so an overlap shows as an overwritten value). 1 if all intact.
static int step(arena *a, const size_t *n, int k) {
    float *p[16];
    arena_reset(a);
    for (int i = 0; i < k; i++) {
        p[i] = arena_alloc(a, n[i]);
        if ((uintptr_t)p[i] & 63) return 0;
        for (size_t j = 0; j < n[i]; j++) p[i][j] = (float)i;
    }
    for (int i = 0; i < k; i++)
        for (size_t j = 0; j < n[i]; j++)
            if (p[i][j] != (float)i) return 0;
    return 1;
}

static void test_steps(void) {
    arena a;
    arena_init(&a, &counting);
    size_t small[3] = {1000, 3 << 20, 5}, large[4] = {3 << 20, 7 << 20, 17, 2 << 20};
    CHECK(step(&a, small, 3));
    int after_first = n_alloc;
    CHECK(after_first >= 1);
    CHECK(step(&a, small, 3));
    CHECK(step(&a, small, 2));
    CHECK(n_alloc == after_first);  // steady state: nothing allocated
    CHECK(step(&a, large, 4));
    CHECK(n_alloc > after_first);
    for (int i = 1; i < n_alloc && i < 64; i++) {  // each block at least all before it
        size_t before = 0;
        for (int j = 0; j < i; j++) before += sizes[j];
        CHECK(sizes[i] >= before);
    }
    int after_large = n_alloc;
    CHECK(step(&a, small, 3));
    CHECK(step(&a, large, 4));
    CHECK(n_alloc == after_large);
    arena_free(&a);
    CHECK(n_release == n_alloc);
}

static void test_rewind(void) {
    arena a;
    arena_init(&a, &counting);
    arena_reset(&a);
    float *x = arena_alloc(&a, 100);
    arena_mark m = arena_get_mark(&a);
    float *y = arena_alloc(&a, 5000), *z = arena_alloc_zero(&a, 3 << 20);
    CHECK(y != x && z != y);
    z[0] = 1.0f;
    arena_rewind(&a, m);
    CHECK(arena_alloc(&a, 5000) == y);
    float *z2 = arena_alloc_zero(&a, 3 << 20);
    CHECK(z2 == z && z2[0] == 0.0f);  // zeroed again
    arena_free(&a);
    CHECK(n_release == n_alloc);
}

int main(void) {
    deal_set_tool("test_arena");
    counting = *backend_cpu();
    counting.alloc = count_alloc, counting.release = count_release;
    RUN(test_steps);
    RUN(test_rewind);
    return test_summary();
}
