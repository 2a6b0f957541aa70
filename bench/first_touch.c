// first_touch.c: what memory the process has not touched yet costs. Maps
// GiB of anonymous memory (as lib/nn/cpu/memory.c does for large buffers),
// writes one byte per 4 KiB page (each write faults a page in: the kernel
// finds and clears it), then clears the whole range again with memset (no
// faults: the pages are there). Once with plain pages and once marked for
// transparent huge pages (MADV_HUGEPAGE, which memory.c no longer sets: under
// "defrag = madvise" the kernel compacts memory for them at the fault).
// Five rounds each, alternating, since a virtual machine's host may itself
// fault pages in on first use; prints Markdown.
//
//   make build/bench/first_touch && build/bench/first_touch [GiB]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/util.h"
#include "timing.h"

#define ROUNDS 5

// Seconds to fault in every page of a fresh mapping of n bytes, and to memset
// it afterwards.
static void measure(size_t n, int huge, double *touch, double *clear) {
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("first_touch: cannot map %zu bytes", n);
    if (huge) madvise(p, n, MADV_HUGEPAGE);
    double t0 = now();
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    double t1 = now();
    memset(p, 0, n);
    *touch = t1 - t0, *clear = now() - t1;
    munmap(p, n);
}

int main(int argc, char **argv) {
    deal_set_tool("first_touch");
    double gib = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(gib > 0 && gib <= 64)) die("usage: first_touch [GiB, at most 64]");
    size_t n = (size_t)(gib * (1 << 30));
    double touch[2][ROUNDS], clear[2][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int huge = 0; huge < 2; huge++) measure(n, huge, &touch[huge][r], &clear[huge][r]);
    printf("| pages | first write, s per GiB: median (min-max) | memset afterwards, s per GiB |\n| --- | ---: | ---: |\n");
    for (int huge = 0; huge < 2; huge++) {
        qsort(touch[huge], ROUNDS, sizeof(double), by_value);
        qsort(clear[huge], ROUNDS, sizeof(double), by_value);
        printf("| %s | %.3f (%.3f-%.3f) | %.4f |\n", huge ? "MADV_HUGEPAGE" : "4 KiB", touch[huge][ROUNDS / 2] / gib,
               touch[huge][0] / gib, touch[huge][ROUNDS - 1] / gib, clear[huge][ROUNDS / 2] / gib);
    }
    return 0;
}
