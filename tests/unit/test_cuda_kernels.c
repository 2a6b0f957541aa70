// Unit tests of the CUDA backend (lib/nn/cuda), where a CUDA device is
// present (otherwise each test says so and is skipped): every operation on
// random inputs of awkward sizes against the plain reference CPU backend
// (double accumulation), forward and backward, with the masks, grouped-query
// heads, bias and edge cases of test_kernels.c; and the dropout mask, which
// must be the CPU's bit for bit. The CUDA buffers are managed memory, so
// inputs are written and outputs read through the same pointers.
#include "../buffers.h"
#include "../test.h"

#include <stdint.h>

#include "nn/backend.h"
#include "nn/cuda/device.h"

static const backend *CUDA, *REF;
static int have_device;
static double worst;  // the largest error seen, for the summary line

#define TOL 1e-5  // relative to the tensor's largest value

// A CUDA buffer holding a copy of host[0..n).
static float *dev(const float *host, size_t n) {
    float *d = CUDA->alloc(n);
    CUDA->upload(d, host, n);
    return d;
}

// Compares a CUDA buffer with the reference result.
static void expect_same(const char *what, const float *d, const float *ref, size_t n) {
    float *got = zero_buf(n);
    CUDA->download(got, d, n);
    double e = rel_err(got, ref, n);
    if (e > worst || e != e) worst = e;
    if (!(e <= TOL)) fprintf(stderr, "  %s: CUDA vs reference error %.3g\n", what, e);
    CHECK(e <= TOL);
    free(got);
}

#define NEED_DEVICE()                                                                       \
    do {                                                                                    \
        if (!have_device) {                                                                 \
            SKIP("no CUDA device on this machine (the CUDA build is checked by compiling)"); \
            return;                                                                         \
        }                                                                                   \
    } while (0)

static void test_memory(void) {
    NEED_DEVICE();
    CHECK(CUDA->device == DEVICE_CUDA);
    float *host = rand_buf(1001, -1, 1), *back = zero_buf(1001);
    float *d = CUDA->alloc(1001);
    CHECK(max_abs(d, 1001) == 0.0);  // zero-filled, readable from the host
    CUDA->upload(d, host, 1001);
    CUDA->download(back, d, 1001);
    CHECK(memcmp(host, back, sizeof(float) * 1001) == 0);
    CUDA->zero(d, 1000);
    CHECK(max_abs(d, 1000) == 0.0 && d[1000] == host[1000]);
    float *e = CUDA->alloc(5000);
    CUDA->copy(e, host, 1001);
    CHECK(memcmp(e, host, sizeof(float) * 1001) == 0);
    CUDA->release(d), CUDA->release(e), CUDA->release(CUDA->alloc(0));
    free(host), free(back);
}

static void test_matmul(void) {
    NEED_DEVICE();
    int N = 37, IC = 29, OC = 23;
    size_t ni = (size_t)N * IC, nw = (size_t)OC * IC, no = (size_t)N * OC;
    float *inp = rand_buf(ni, -1, 1), *w = rand_buf(nw, -1, 1), *out = rand_buf(no, -1, 1);
    float *dout = rand_buf(no, -1, 1), *di = rand_buf(ni, -1, 1), *dw = rand_buf(nw, -1, 1);
    float *dinp_ = dev(inp, ni), *dw_ = dev(w, nw), *dout_ = dev(dout, no);
    float betas[2] = {0.0f, 0.5f};
    for (int b = 0; b < 2; b++) {
        float *o = dev(out, no), *r = copy_buf(out, no);
        CUDA->matmul(o, dinp_, dw_, N, IC, OC, 0.7f, betas[b]);
        REF->matmul(r, inp, w, N, IC, OC, 0.7f, betas[b]);
        expect_same("matmul", o, r, no);
        CUDA->release(o), free(r);
    }
    float *gi = dev(di, ni), *gw = dev(dw, nw);
    CUDA->matmul_backward(gi, gw, dout_, dinp_, dw_, N, IC, OC, 1.3f);
    REF->matmul_backward(di, dw, dout, inp, w, N, IC, OC, 1.3f);
    expect_same("matmul_backward dinp", gi, di, ni);
    expect_same("matmul_backward dw", gw, dw, nw);
    CUDA->release(gi), CUDA->release(gw), CUDA->release(dinp_), CUDA->release(dw_), CUDA->release(dout_);
    free(inp), free(w), free(out), free(dout), free(di), free(dw);
}

static void test_rmsnorm(void) {
    NEED_DEVICE();
    int N = 101, C = 203;
    size_t n = (size_t)N * C;
    float *x = rand_buf(n, -2, 2), *w = rand_buf(C, 0.5f, 1.5f), *dout = rand_buf(n, -1, 1);
    float *out = zero_buf(n), *rstd = zero_buf(N), *dx = rand_buf(n, -1, 1), *dw = rand_buf(C, -1, 1);
    float *x_ = dev(x, n), *w_ = dev(w, C), *dout_ = dev(dout, n), *out_ = CUDA->alloc(n), *rstd_ = CUDA->alloc(N);
    float *dx_ = dev(dx, n), *dw_ = dev(dw, C);
    CUDA->rmsnorm(out_, rstd_, x_, w_, N, C, 1e-6f);
    REF->rmsnorm(out, rstd, x, w, N, C, 1e-6f);
    expect_same("rmsnorm out", out_, out, n);
    expect_same("rmsnorm rstd", rstd_, rstd, N);
    CUDA->rmsnorm_backward(dx_, dw_, dout_, x_, w_, rstd_, N, C);
    REF->rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
    expect_same("rmsnorm_backward dinp", dx_, dx, n);
    expect_same("rmsnorm_backward dweight", dw_, dw, C);
    float *bufs[] = {x_, w_, dout_, out_, rstd_, dx_, dw_};
    for (int i = 0; i < 7; i++) CUDA->release(bufs[i]);
    free(x), free(w), free(dout), free(out), free(rstd), free(dx), free(dw);
}

// Forward and backward of one attention configuration (batch 1 starts its
// keys late, so with causal masking its first queries see no key).
static void attn_compare(int B, int Tq, int Tk, int H, int KVH, int hs, int causal, int with_bias, int with_masks) {
    size_t nq = (size_t)B * Tq * H * hs, nk = (size_t)B * Tk * KVH * hs, nb = (size_t)H * Tq * Tk;
    size_t np = (size_t)B * H * Tq * Tk;
    float scale = 1.0f / sqrtf((float)hs);
    float *q = rand_buf(nq, -1, 1), *k = rand_buf(nk, -1, 1), *v = rand_buf(nk, -1, 1), *bias = rand_buf(nb, -1, 1);
    float *dout = rand_buf(nq, -1, 1), *out = zero_buf(nq), *probs = zero_buf(np);
    float *dq = rand_buf(nq, -1, 1), *dk = rand_buf(nk, -1, 1), *dv = rand_buf(nk, -1, 1), *db = rand_buf(nb, -1, 1);
    int *start = NULL, *end = NULL;
    if (with_masks) {
        start = xcalloc(B, sizeof(int)), end = xcalloc(B, sizeof(int));
        for (int b = 0; b < B; b++) start[b] = b == 1 ? Tk - Tq + 2 : b % 3, end[b] = b == 0 ? Tk - 1 : Tk;
    }
    float *q_ = dev(q, nq), *k_ = dev(k, nk), *v_ = dev(v, nk), *bias_ = with_bias ? dev(bias, nb) : NULL;
    float *dout_ = dev(dout, nq), *out_ = CUDA->alloc(nq), *probs_ = CUDA->alloc(np);
    float *dq_ = dev(dq, nq), *dk_ = dev(dk, nk), *dv_ = dev(dv, nk), *db_ = dev(db, nb);
    CUDA->attention(out_, probs_, q_, k_, v_, bias_, start, end, causal, scale, B, Tq, Tk, H, KVH, hs);
    REF->attention(out, probs, q, k, v, with_bias ? bias : NULL, start, end, causal, scale, B, Tq, Tk, H, KVH, hs);
    expect_same("attention out", out_, out, nq);
    expect_same("attention probs", probs_, probs, np);
    CUDA->attention_backward(dq_, dk_, dv_, with_bias ? db_ : NULL, dout_, probs_, q_, k_, v_, causal, scale, B, Tq,
                             Tk, H, KVH, hs);
    REF->attention_backward(dq, dk, dv, with_bias ? db : NULL, dout, probs, q, k, v, causal, scale, B, Tq, Tk, H, KVH,
                            hs);
    expect_same("attention dq", dq_, dq, nq);
    expect_same("attention dk", dk_, dk, nk);
    expect_same("attention dv", dv_, dv, nk);
    expect_same("attention dbias", db_, db, nb);
    float *bufs[] = {q_, k_, v_, bias_, dout_, out_, probs_, dq_, dk_, dv_, db_};
    for (int i = 0; i < 11; i++) CUDA->release(bufs[i]);
    free(q), free(k), free(v), free(bias), free(dout), free(out), free(probs), free(dq), free(dk), free(dv), free(db);
    free(start), free(end);
}

static void test_attention(void) {
    NEED_DEVICE();
    //            B  Tq  Tk  H KVH hs causal bias masks
    attn_compare(2, 5, 9, 4, 2, 5, 1, 1, 1);     // GQA, causal with Tq < Tk, masks, bias
    attn_compare(2, 5, 9, 4, 2, 5, 0, 0, 0);     // plain cross-attention shape
    attn_compare(3, 1, 7, 4, 1, 4, 1, 1, 1);     // one decoding step, multi-query
    attn_compare(16, 1, 90, 9, 3, 64, 0, 0, 1);  // a decoding batch, each its own keys
    attn_compare(2, 7, 4, 2, 1, 3, 1, 1, 0);     // Tq > Tk: the first queries see nothing
    attn_compare(3, 37, 61, 8, 2, 8, 1, 1, 1);   // many rows
    attn_compare(2, 33, 300, 6, 6, 64, 0, 1, 1); // more keys than threads in a block
    attn_compare(1, 2, 20000, 2, 1, 8, 0, 0, 0); // keys beyond the default shared memory
}

static void test_pointwise(void) {
    NEED_DEVICE();
    size_t n = 100003;
    float *x = rand_buf(n, -4, 4), *u = rand_buf(n, -2, 2), *dout = rand_buf(n, -1, 1);
    float *x_ = dev(x, n), *u_ = dev(u, n), *dout_ = dev(dout, n);
    for (int act = 0; act < 3; act++) {
        float *out = zero_buf(n), *out_ = CUDA->alloc(n), *g = rand_buf(n, -1, 1), *g_ = dev(g, n);
        float *h = rand_buf(n, -1, 1), *h_ = dev(h, n);
        CUDA->activation(out_, x_, n, act), REF->activation(out, x, n, act);
        expect_same("activation", out_, out, n);
        CUDA->activation_backward(g_, dout_, x_, n, act), REF->activation_backward(g, dout, x, n, act);
        expect_same("activation_backward", g_, g, n);
        CUDA->gated(out_, x_, u_, n, act), REF->gated(out, x, u, n, act);
        expect_same("gated", out_, out, n);
        CUDA->gated_backward(g_, h_, dout_, x_, u_, n, act), REF->gated_backward(g, h, dout, x, u, n, act);
        expect_same("gated_backward dgate", g_, g, n);
        expect_same("gated_backward dup", h_, h, n);
        CUDA->release(out_), CUDA->release(g_), CUDA->release(h_), free(out), free(g), free(h);
    }
    float *s = zero_buf(n), *s_ = CUDA->alloc(n);
    CUDA->add(s_, x_, u_, n), REF->add(s, x, u, n);
    CUDA->scale(s_, 0.3f, n), REF->scale(s, 0.3f, n);
    expect_same("add, scale", s_, s, n);
    CUDA->release(s_), CUDA->release(x_), CUDA->release(u_), CUDA->release(dout_);
    free(s), free(x), free(u), free(dout);
}

static void test_rope(void) {
    NEED_DEVICE();
    int B = 3, T = 11, H = 4, hs = 16, max_pos = 64;
    size_t n = (size_t)B * T * H * hs, nt = (size_t)max_pos * hs / 2;
    float *x = rand_buf(n, -1, 1), *c = rand_buf(nt, -1, 1), *s = rand_buf(nt, -1, 1);
    int pos[3 * 11];
    for (int i = 0; i < B * T; i++) pos[i] = (int)rng_below(&TEST_RNG, max_pos);
    float *x_ = dev(x, n), *c_ = dev(c, nt), *s_ = dev(s, nt);
    for (int sign = 1; sign >= -1; sign -= 2) {
        CUDA->rope(x_, pos, c_, s_, B, T, H, hs, sign);
        REF->rope(x, pos, c, s, B, T, H, hs, sign);
        expect_same("rope", x_, x, n);
    }
    CUDA->release(x_), CUDA->release(c_), CUDA->release(s_), free(x), free(c), free(s);
}

static void test_embedding(void) {
    NEED_DEVICE();
    int V = 50, C = 300, N = 40;
    int32_t ids[40];
    for (int i = 0; i < N; i++) ids[i] = i % 7 == 3 ? 5 : (int32_t)rng_below(&TEST_RNG, V);  // repeats
    float *table = rand_buf((size_t)V * C, -1, 1), *dout = rand_buf((size_t)N * C, -1, 1);
    float *out = zero_buf((size_t)N * C), *dt = rand_buf((size_t)V * C, -1, 1);
    float *table_ = dev(table, (size_t)V * C), *dout_ = dev(dout, (size_t)N * C), *out_ = CUDA->alloc((size_t)N * C);
    float *dt_ = dev(dt, (size_t)V * C);
    CUDA->embedding(out_, ids, table_, N, C, 1.5f), REF->embedding(out, ids, table, N, C, 1.5f);
    expect_same("embedding", out_, out, (size_t)N * C);
    CUDA->embedding_backward(dt_, dout_, ids, N, C, 1.5f), REF->embedding_backward(dt, dout, ids, N, C, 1.5f);
    expect_same("embedding_backward", dt_, dt, (size_t)V * C);
    CUDA->release(table_), CUDA->release(dout_), CUDA->release(out_), CUDA->release(dt_);
    free(table), free(dout), free(out), free(dt);
}

static void test_loss(void) {
    NEED_DEVICE();
    int N = 37, V = 5003;
    size_t n = (size_t)N * V;
    float *logits = rand_buf(n, -8, 8), *dl = zero_buf(n);
    logits[3 * V + 17] = 1e4f;  // a huge logit stays finite
    int32_t targets[37];
    for (int i = 0; i < N; i++) targets[i] = i % 5 == 2 ? -100 : (int32_t)rng_below(&TEST_RNG, V);
    float *logits_ = dev(logits, n), *dl_ = CUDA->alloc(n);
    double got = CUDA->cross_entropy(dl_, logits_, targets, N, V, 0.25f);
    double want = REF->cross_entropy(dl, logits, targets, N, V, 0.25f);
    CHECK(fabs(got - want) <= 1e-5 * fabs(want));
    expect_same("cross_entropy dlogits", dl_, dl, n);
    CHECK(fabs(CUDA->cross_entropy(NULL, logits_, targets, N, V, 1.0f) - want) <= 1e-5 * fabs(want));
    logits_[5 * V + 9] = logits_[5 * V + 4000] = 50.0f;  // a tie: the first index wins
    logits_[6 * V] = NAN;                                  // NaNs are passed over
    int32_t a[37], b[37];
    CUDA->argmax(a, logits_, N, V);
    REF->argmax(b, logits_, N, V);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(a[5] == 9 && a[3] == 17);
    CUDA->release(logits_), CUDA->release(dl_), free(logits), free(dl);
}

// The same mask as the CPU backend, bit for bit (training is reproducible
// across devices), in place too, and accumulating.
static void test_dropout(void) {
    NEED_DEVICE();
    int N = 64, C = 101;
    size_t n = (size_t)N * C;
    float *x = rand_buf(n, 1, 2), *y = zero_buf(n), *x_ = dev(x, n), *y_ = CUDA->alloc(n);
    CUDA->dropout(y_, x_, 42, N, C, 0.25f, 0);
    REF->dropout(y, x, 42, N, C, 0.25f, 0);
    CHECK(memcmp(y_, y, sizeof(float) * n) == 0);
    CUDA->dropout(y_, x_, 42, N, C, 0.25f, 1);  // y_ = 2 * drop(x), exactly
    int doubled = 1;
    for (size_t i = 0; i < n; i++) doubled &= y_[i] == 2.0f * y[i];
    CHECK(doubled);
    CUDA->dropout(x_, x_, 42, N, C, 0.25f, 0);
    CHECK(memcmp(x_, y, sizeof(float) * n) == 0);
    CUDA->release(x_), CUDA->release(y_), free(x), free(y);
}

int main(void) {
    deal_set_tool("test_cuda_kernels");
    rng_seed(&TEST_RNG, 20261129);
    char what[256];
    have_device = deal_cuda_describe(what, sizeof what) > 0;
    printf("  %s\n", what);
    CUDA = backend_cuda();
    REF = backend_cpu_reference();
    RUN(test_memory);
    RUN(test_matmul);
    RUN(test_rmsnorm);
    RUN(test_attention);
    RUN(test_pointwise);
    RUN(test_rope);
    RUN(test_embedding);
    RUN(test_loss);
    RUN(test_dropout);
    if (have_device) fprintf(stderr, "largest error: CUDA vs reference %.3g (tolerance %g)\n", worst, TOL);
    return test_summary();
}
