// matmul_peak.c: how close the matrix products come to this machine's fp32 peak.
//
//   build/bench/matmul_peak [N]        (make bench runs it; N tokens, default 2048)
//
// 1. The peak, measured: every thread runs independent fused multiply-adds on
//    registers only (AVX-512 where the CPU has it, else AVX2), no memory
//    traffic, so no real kernel can beat it.
// 2. The products the models run, through the CPU backend's matmul and
//    matmul_backward (oneDNN sgemm), at SmolLM2-135M's shapes over N tokens: the
//    attention and MLP projections forward, and backward as LoRA training runs
//    them (input gradient only: frozen weights get no weight gradient).
// Prints GFLOP/s and the share of the peak for each, as a Markdown table.
// 3. Where the CPU has AVX512-BF16: the bf16 peak the same way (vdpbf16ps on
//    registers), i.e. the most any bf16 matrix product could reach here.
// 4. The memory read bandwidth: every thread sums its part of a 1 GiB buffer.
//    A decoding step reads every weight once, so this bounds generation.
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "nn/backend.h"
#include "timing.h"

#define CHAINS 12  // independent accumulators: enough to hide the FMA latency

// n rounds of CHAINS fused multiply-adds of 16 (or 8) floats; returns flops.
__attribute__((target("avx512f"))) static double fma_avx512(long n, float *sink) {
    __m512 acc[CHAINS], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < n; i++)
#pragma GCC unroll 16  // unrolled, the accumulators live in registers
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm512_add_ps(acc[0], acc[c]);
    *sink = _mm512_reduce_add_ps(acc[0]);
    return 2.0 * 16 * CHAINS * (double)n;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long n, float *sink) {
    __m256 acc[CHAINS], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < n; i++)
#pragma GCC unroll 16
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
    float out[8];
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm256_add_ps(acc[0], acc[c]);
    _mm256_storeu_ps(out, acc[0]);
    *sink = out[0];
    return 2.0 * 8 * CHAINS * (double)n;
}

// n rounds of CHAINS bf16 dot products: each vdpbf16ps adds two products of
// bf16 pairs into each of 16 floats (64 flops).
__attribute__((target("avx512f,avx512bf16"))) static double dpbf16_avx512(long n, float *sink) {
    __m512 acc[CHAINS];
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);  // 1.0, ~6e-8
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < n; i++)
#pragma GCC unroll 16
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm512_add_ps(acc[0], acc[c]);
    *sink = _mm512_reduce_add_ps(acc[0]);
    return 4.0 * 16 * CHAINS * (double)n;
}

// GFLOP/s of kernel over all OpenMP threads (best of 3).
static double peak_of(double (*kernel)(long, float *)) {
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        double flops = 0.0, t0 = now();
#pragma omp parallel reduction(+ : flops)
        {
            float sink;
            flops += kernel(20000000, &sink);
            if (sink == 12345.0f) printf(" ");  // keep the result alive
        }
        double g = flops / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    return best;
}

// GB/s of reading a buffer much larger than the caches (best of 3).
static double read_bandwidth(void) {
    size_t n = ((size_t)1 << 30) / sizeof(float);
    float *buf = xmalloc(n * sizeof *buf);
    double best = 0.0;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);  // touched by the threads that read it
    for (int rep = 0; rep < 3; rep++) {
        float sum = 0.0f;
        double t0 = now();
#pragma omp parallel for simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++) sum += buf[i];
        double g = (double)(n * sizeof *buf) / (now() - t0) / 1e9;
        if (sum == 12345.0f) printf(" ");  // keep the result alive
        if (g > best) best = g;
    }
    free(buf);
    return best;
}

typedef struct {
    const char *name;
    int in, out;
} shape;

typedef struct {
    const backend *be;
    int backward, N, in, out;
    float *x, *w, *y, *dx;
} product;

static void run_product(void *ctx) {
    product *p = ctx;
    if (p->backward) p->be->matmul_backward(p->dx, NULL, p->y, p->x, p->w, p->N, p->in, p->out, 1.0f);
    else p->be->matmul(p->y, p->x, p->w, p->N, p->in, p->out, 1.0f, 0.0f);
}

int main(int argc, char **argv) {
    deal_set_tool("matmul_peak");
    int N = argc > 1 ? atoi(argv[1]) : 2048;
    if (N <= 0) die("usage: matmul_peak [N tokens > 0]");
    const backend *be = backend_cpu();
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    double peak = peak_of(avx512 ? fma_avx512 : fma_avx2);
    printf("%d threads; %s\n\n", omp_get_max_threads(), be->describe());
    printf("fp32 peak (%s fused multiply-adds on registers): %.1f GFLOP/s\n", avx512 ? "AVX-512" : "AVX2", peak);
    if (__builtin_cpu_supports("avx512bf16")) {
        double bf = peak_of(dpbf16_avx512);
        printf("bf16 peak (AVX512-BF16 dot products on registers): %.1f GFLOP/s, %.2fx the fp32 peak\n", bf, bf / peak);
    }
    printf("memory read bandwidth (1 GiB, all threads): %.1f GB/s\n", read_bandwidth());
    printf("\n");
    printf("| product (N = %d tokens) | in | out | GFLOP/s | share of peak |\n| --- | ---: | ---: | ---: | ---: |\n", N);
    // SmolLM2-135M: d_model 576, 9 query heads and 3 kv heads of 64, MLP 1536, vocabulary 49152.
    const shape shapes[] = {{"q / o projection", 576, 576}, {"k / v projection", 576, 192},
                            {"MLP gate / up", 576, 1536}, {"MLP down", 1536, 576},
                            {"LM head (tied embeddings)", 576, 49152}};
    for (int backward = 0; backward < 2; backward++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int in = shapes[s].in, out = shapes[s].out;
            float *x = be->alloc((size_t)N * in), *w = be->alloc((size_t)in * out);
            float *y = be->alloc((size_t)N * out), *dx = be->alloc((size_t)N * in);
            for (size_t i = 0; i < (size_t)N * in; i++) x[i] = (float)(i % 17) * 0.01f;
            for (size_t i = 0; i < (size_t)in * out; i++) w[i] = (float)(i % 13) * 0.01f;
            for (size_t i = 0; i < (size_t)N * out; i++) y[i] = (float)(i % 11) * 0.01f;
            product p = {be, backward, N, in, out, x, w, y, dx};
            double g = 2.0 * N * in * (double)out / median_time(run_product, &p) / 1e9;
            printf("| %s, %s | %d | %d | %.1f | %.0f%% |\n", shapes[s].name,
                   backward ? "backward (input gradient)" : "forward", in, out, g, 100.0 * g / peak);
            be->release(x), be->release(w), be->release(y), be->release(dx);
        }
    return 0;
}
