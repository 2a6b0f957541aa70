// rng.h: a small, portable pseudo-random generator (xoshiro256**, Blackman &
// Vigna, seeded by splitmix64). Same seed, same numbers on every machine: the
// selection of examples, initialisation and dropout depend on it. Seeding and
// drawing are inline here because the CUDA dropout kernel draws the same
// numbers as the CPU one.
#ifndef DEAL_RNG_H
#define DEAL_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "base/hostdevice.h"

typedef struct {
    uint64_t s[4];
} rng;

#define RNG_GOLDEN 0x9e3779b97f4a7c15ULL  // splitmix64's increment, 2^64 / golden ratio

// splitmix64's output function: a bijection that scatters nearby inputs.
static inline HOSTDEVICE uint64_t rng_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline HOSTDEVICE uint64_t rng_splitmix64(uint64_t *x) { return rng_mix64(*x += RNG_GOLDEN); }

static inline HOSTDEVICE void rng_seed(rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = rng_splitmix64(&seed);
}

static inline HOSTDEVICE uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline HOSTDEVICE uint64_t rng_next(rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

// Uniform integer in [0, n), n > 0, without modulo bias.
uint64_t rng_below(rng *r, uint64_t n);
// Uniform float in [0, 1) with 24 random bits.
float rng_float(rng *r);

#endif
