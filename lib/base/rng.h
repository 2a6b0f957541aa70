// rng.h: a small, portable pseudo-random generator (xoshiro256**, seeded by
// splitmix64). Same seed, same numbers on every machine: the selection of
// examples and, later, dropout and initialisation depend on it.
#ifndef DEAL_RNG_H
#define DEAL_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
// Uniform integer in [0, n), n > 0, without modulo bias.
uint64_t rng_below(rng *r, uint64_t n);
// Uniform float in [0, 1) with 24 random bits.
float rng_float(rng *r);

#endif
