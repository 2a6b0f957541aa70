// scalar_kernels.h: the per-value and per-row pieces that the CPU and the CUDA
// backends both run, defined once so that the two compute the same thing:
// activations and their derivatives, the key range a query may see, the
// rotation of one token's heads (RoPE), and one row of dropout (the CUDA
// kernel draws the very same mask as the CPU one).
#ifndef DEAL_SCALAR_KERNELS_H
#define DEAL_SCALAR_KERNELS_H

#include <math.h>
#include <stdint.h>

#include "base/hostdevice.h"
#include "base/rng.h"

#include <string.h>

#define GELU_K 0.7978845608028654f  // sqrt(2/pi)

// e^x without a library call, so that loops over it vectorise: x = n ln2 + r
// with |r| <= ln2/2, e^r by Cephes' polynomial, 2^n written into the exponent
// bits. Relative error under 3e-7 of expf's; exactly 0 below -87 (e^-inf = 0,
// as softmax masks need); clamped to e^88 above 88 (callers use it after
// subtracting a maximum, or inside 1 / (1 + e^x)).
static inline HOSTDEVICE float exp_fast(float x) {
    float xc = x > 88.0f ? 88.0f : x < -87.0f ? -87.0f : x;
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln2): 1.5 * 2^23 trick
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;  // ln2 in two parts (Cephes C1, C2)
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : p * scale;
}

// tanh through exp_fast(-2|z|) (no overflow); absolute error under 4e-7.
static inline HOSTDEVICE float tanh_fast(float z) {
    float e = exp_fast(-2.0f * fabsf(z));
    float t = (1.0f - e) / (1.0f + e);
    return z < 0.0f ? -t : t;
}

static inline HOSTDEVICE float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

// x in bf16 (the top 16 bits of a float), rounded to nearest even as the
// hardware converts; NaN stays NaN (quiet).
static inline HOSTDEVICE uint16_t bf16_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// act 0 relu, 1 gelu (tanh approximation), 2 silu (x * sigmoid(x)).
static inline HOSTDEVICE float act_forward(float x, int act) {
    switch (act) {
    case 0: return x > 0.0f ? x : 0.0f;
    case 1: return 0.5f * x * (1.0f + tanh_fast(GELU_K * (x + 0.044715f * x * x * x)));
    default: return x * sigmoid_fast(x);
    }
}

// d act(x) / dx
static inline HOSTDEVICE float act_grad(float x, int act) {
    switch (act) {
    case 0: return x > 0.0f ? 1.0f : 0.0f;
    case 1: {
        float t = tanh_fast(GELU_K * (x + 0.044715f * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    }
    default: {
        float s = sigmoid_fast(x);
        return s * (1.0f + x * (1.0f - s));
    }
    }
}

// The keys [*lo, *hi) that query i of batch b may attend to (nn/backend.h's masks).
static inline HOSTDEVICE void visible_keys(int *lo, int *hi, const int *kv_start, const int *kv_end, int causal, int b,
                                           int i, int Tq, int Tk) {
    int l = kv_start ? kv_start[b] : 0, h = kv_end ? kv_end[b] : Tk;
    if (causal && i + Tk - Tq + 1 < h) h = i + Tk - Tq + 1;
    *lo = l < 0 ? 0 : l;
    *hi = h > Tk ? Tk : h;
}

// Rotates the H heads (hs values each, HF rotate_half pairs (i, i + hs/2)) of
// one token by its position's cos/sin rows; sign -1 is the inverse rotation.
static inline HOSTDEVICE void rope_token(float *x, const float *c, const float *s, int H, int hs, int sign) {
    int half = hs / 2;
    for (int h = 0; h < H; h++) {
        float *xh = x + (size_t)h * hs;
        SIMD_LOOP  // the two halves never overlap, which the compiler cannot tell
        for (int i = 0; i < half; i++) {
            float x1 = xh[i], x2 = xh[i + half], si = s[i] * sign;
            xh[i] = x1 * c[i] - x2 * si;
            xh[i + half] = x2 * c[i] + x1 * si;
        }
    }
}

// Dropout of row r (C values). Value j's uniform is the low 32 bits of
// splitmix64's draw number j + 1 from a key made of (seed, r): counter-based,
// so rows and values are independent draws, the loop vectorises, and the mask
// is the same however the work is split (CPU threads, CUDA threads). Dropped
// if the uniform is below cut = p * 2^32; kept values are scaled by
// keep = 1/(1-p). accumulate adds the result to out instead of writing it
// (out is then never the input, and is read only when accumulating).
static inline HOSTDEVICE void dropout_row(float *out, const float *inp, uint64_t seed, int r, int C, float keep,
                                          uint64_t cut, int accumulate) {
    uint64_t key = rng_mix64(seed + RNG_GOLDEN * ((uint64_t)r + 1));
    SIMD_LOOP
    for (int j = 0; j < C; j++) {
        uint32_t u = (uint32_t)rng_mix64(key + RNG_GOLDEN * ((uint64_t)j + 1));
        float d = u < cut ? 0.0f : inp[j] * keep;
        out[j] = accumulate ? out[j] + d : d;
    }
}

// The dropout_row parameters for probability p.
static inline HOSTDEVICE float dropout_keep(float p) { return 1.0f / (1.0f - p); }
static inline HOSTDEVICE uint64_t dropout_cut(float p) { return (uint64_t)((double)p * 4294967296.0); }

#endif
