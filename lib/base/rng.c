// rng.c: the derived draws (the generator itself is inline in rng.h).
#include "base/rng.h"

uint64_t rng_below(rng *r, uint64_t n) {
    // Reject the top partial block of 2^64 so every residue is equally likely.
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next(r);
    while (x >= limit);
    return x % n;
}

float rng_float(rng *r) { return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f); }
