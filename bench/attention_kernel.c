// attention_kernel.c: the CPU backend's attention, forward and backward, on
// SmolLM2-135M's heads (9 query heads, 3 key/value heads, 64 values each)
// for a packed batch of 8 examples of T tokens, one example per call as the
// model calls it; causal (LLaMA) or not (T5's encoder). Prints the time of one
// layer's attention and the GFLOP/s its products would reach if they covered
// every (query, key) pair (the causal mask leaves about half of them to do).
// Then one decoding step of 16 examples (one new query each) over a key/value
// cache of about T keys each, as deal-predict calls it.
//
//   make build/bench/attention_kernel && build/bench/attention_kernel [T ...]   (default 60 100 140)
#include <stdio.h>
#include <stdlib.h>

#include "base/rng.h"
#include "base/util.h"
#include "nn/backend.h"
#include "timing.h"

enum { B = 8, H = 9, KVH = 3, HS = 64, STEP_B = 16 };

typedef struct {
    const backend *be;
    int T, causal;
    float *q, *k, *v, *out, *probs, *dout, *dq, *dk, *dv;
} attention_case;

static size_t q_size(int T) { return (size_t)T * H * HS; }
static size_t kv_size(int T) { return (size_t)T * KVH * HS; }
static size_t probs_size(int T) { return (size_t)H * T * T; }

static void forward(void *ctx) {
    attention_case *c = ctx;
    for (int b = 0; b < B; b++)
        c->be->attention(c->out + b * q_size(c->T), c->probs + b * probs_size(c->T), c->q + b * q_size(c->T),
                         c->k + b * kv_size(c->T), c->v + b * kv_size(c->T), NULL, NULL, NULL, c->causal, 0.125f, 1,
                         c->T, c->T, H, KVH, HS);
}

static void backward(void *ctx) {
    attention_case *c = ctx;
    for (int b = 0; b < B; b++)
        c->be->attention_backward(c->dq + b * q_size(c->T), c->dk + b * kv_size(c->T), c->dv + b * kv_size(c->T), NULL,
                                  c->dout + b * q_size(c->T), c->probs + b * probs_size(c->T), c->q + b * q_size(c->T),
                                  c->k + b * kv_size(c->T), c->v + b * kv_size(c->T), c->causal, 0.125f, 1, c->T,
                                  c->T, H, KVH, HS);
}

// One decoding step: example b's query sees the first len[b] keys of its cache
// slab of Tmax rows.
typedef struct {
    const backend *be;
    int Tmax, len[STEP_B];
    float *q, *k, *v, *out, *probs;
} step_case;

static void step(void *ctx) {
    step_case *c = ctx;
    c->be->attention(c->out, c->probs, c->q, c->k, c->v, NULL, NULL, c->len, 0, 0.125f, STEP_B, 1, c->Tmax, H, KVH, HS);
}

static float *random_buffer(rng *r, size_t n) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = rng_float(r) - 0.5f;
    return x;
}

int main(int argc, char **argv) {
    int lengths[16] = {60, 100, 140}, n_lengths = 3;
    if (argc > 1) {
        n_lengths = argc - 1 < 16 ? argc - 1 : 16;
        for (int i = 0; i < n_lengths; i++) lengths[i] = atoi(argv[i + 1]);
    }
    rng r;
    rng_seed(&r, 1);
    printf("CPU attention, %d examples x T tokens, %d heads (%d key/value heads) of %d: one layer\n\n", B, H, KVH, HS);
    printf("| T | mask | forward ms | backward ms | forward GFLOP/s | backward GFLOP/s |\n");
    printf("| ---: | --- | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < n_lengths; i++)
        for (int causal = 1; causal >= 0; causal--) {
            int T = lengths[i];
            if (T < 1) die("attention_kernel: T must be positive, got %d", T);
            attention_case c = {.be = backend_cpu(), .T = T, .causal = causal};
            c.q = random_buffer(&r, B * q_size(T)), c.dout = random_buffer(&r, B * q_size(T));
            c.k = random_buffer(&r, B * kv_size(T)), c.v = random_buffer(&r, B * kv_size(T));
            c.out = xcalloc(B * q_size(T), sizeof(float)), c.probs = xcalloc(B * probs_size(T), sizeof(float));
            c.dq = xcalloc(B * q_size(T), sizeof(float));
            c.dk = xcalloc(B * kv_size(T), sizeof(float)), c.dv = xcalloc(B * kv_size(T), sizeof(float));
            double tf = median_time(forward, &c), tb = median_time(backward, &c);
            double flops = 4.0 * B * H * T * T * HS;  // q.k and p.v over every pair; the backward twice that
            printf("| %d | %s | %.3f | %.3f | %.0f | %.0f |\n", T, causal ? "causal" : "none", 1e3 * tf, 1e3 * tb,
                   flops / tf / 1e9, 2 * flops / tb / 1e9);
            float *buffers[] = {c.q, c.k, c.v, c.out, c.probs, c.dout, c.dq, c.dk, c.dv};
            for (size_t j = 0; j < sizeof buffers / sizeof *buffers; j++) free(buffers[j]);
        }
    printf("\n| T | decoding step ms | GFLOP/s |\n| ---: | ---: | ---: |\n");
    for (int i = 0; i < n_lengths; i++) {
        step_case c = {.be = backend_cpu(), .Tmax = lengths[i] + 8};
        double pairs = 0;
        for (int b = 0; b < STEP_B; b++) c.len[b] = lengths[i] - b % 4, pairs += c.len[b];  // uneven, as sorted batches are
        c.q = random_buffer(&r, (size_t)STEP_B * H * HS), c.out = xcalloc((size_t)STEP_B * H * HS, sizeof(float));
        c.k = random_buffer(&r, (size_t)STEP_B * c.Tmax * KVH * HS);
        c.v = random_buffer(&r, (size_t)STEP_B * c.Tmax * KVH * HS);
        c.probs = xcalloc((size_t)STEP_B * H * c.Tmax, sizeof(float));
        double t = median_time(step, &c);
        printf("| %d | %.4f | %.1f |\n", lengths[i], 1e3 * t, 4.0 * pairs * H * HS / t / 1e9);
        float *buffers[] = {c.q, c.k, c.v, c.out, c.probs};
        for (size_t j = 0; j < sizeof buffers / sizeof *buffers; j++) free(buffers[j]);
    }
    return 0;
}
