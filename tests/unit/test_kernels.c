// Unit tests of the CPU backends (lib/nn/cpu). For every operation:
//  1. the fast backend against the reference one on random inputs of awkward
//     sizes (odd, Tq != Tk, grouped-query heads, masks, with and without bias),
//     large enough that the OpenMP paths run in parallel;
//  2. every backward pass against central finite differences of
//     L = sum(forward output * R) for a fixed random R, the forward evaluated
//     by the reference backend (double accumulation); the analytic gradient is
//     accumulated onto random values to check the += contract;
//  3. hand-worked values and edge cases (fully masked queries, huge logits).
#include "../test.h"
#include "../buffers.h"

#include <stdint.h>

#include "base/rng.h"
#include "base/util.h"
#include "nn/backend.h"
#include "nn/scalar_kernels.h"

static const backend *FAST, *REF;
static double worst_vs_ref, worst_grad;  // the largest errors seen, for the summary line

#define TOL_VS_REF 1e-5  // fast vs reference, relative to the tensor's largest value
#define TOL_GRAD 1e-2    // analytic vs finite-difference gradient
#define FD_EPS 1e-3f

// ---- helpers ----

static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// Records a fast-vs-reference comparison.
static void expect_same(const char *what, const float *fast, const float *ref, size_t n) {
    double e = rel_err(fast, ref, n);
    worst_vs_ref = fmax(worst_vs_ref, e);
    if (!(e <= TOL_VS_REF)) {
        fprintf(stderr, "  %s: fast vs reference error %.3g\n", what, e);
        CHECK(e <= TOL_VS_REF);
    }
}

// The gradient a backward pass added onto the random initial values g0.
static void subtract(float *grad, const float *g0, size_t n) {
    for (size_t i = 0; i < n; i++) grad[i] -= g0[i];
}

typedef double (*loss_fn)(void *ctx);

// Largest error of grad[0..n) against central differences of f in x[0..n),
// per element relative to the larger of the two, with a floor at 5% of the
// tensor's largest gradient (finite differences of tiny entries are noise).
static double fd_error(loss_fn f, void *ctx, float *x, const float *grad, size_t n) {
    double floor = 0.05 * max_abs(grad, n) + 1e-4, worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float orig = x[i];
        x[i] = orig + FD_EPS;
        float xp = x[i];
        double fp = f(ctx);
        x[i] = orig - FD_EPS;
        float xm = x[i];
        double fm = f(ctx);
        x[i] = orig;
        double num = (fp - fm) / ((double)xp - xm);
        double e = fabs(num - grad[i]) / (fmax(fabs(num), fabs(grad[i])) + floor);
        if (e != e) e = INFINITY;
        worst = fmax(worst, e);
    }
    return worst;
}

static void expect_grad(const char *what, loss_fn f, void *ctx, float *x, const float *grad, size_t n) {
    double e = fd_error(f, ctx, x, grad, n);
    worst_grad = fmax(worst_grad, e);
    if (!(e <= TOL_GRAD)) {
        fprintf(stderr, "  %s: gradient error %.3g against finite differences\n", what, e);
        CHECK(e <= TOL_GRAD);
    }
}

// ---- memory ----

static void test_memory(void) {
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        const backend *be = bes[t];
        CHECK(be->device == DEVICE_CPU);
        float *p = be->alloc(1001);
        CHECK(((uintptr_t)p & 63) == 0);
        CHECK(max_abs(p, 1001) == 0.0);
        float *host = rand_buf(1001, -1, 1), *back = zero_buf(1001);
        be->upload(p, host, 1001);
        be->download(back, p, 1001);
        CHECK(memcmp(host, back, sizeof(float) * 1001) == 0);
        be->zero(p, 1000);
        CHECK(max_abs(p, 1000) == 0.0 && p[1000] == host[1000]);
        be->release(p);
        float *empty = be->alloc(0);
        CHECK(empty != NULL);
        be->release(empty);
        free(host);
        free(back);
    }
}

// ---- matmul ----

static void test_matmul_known(void) {
    // inp [2,3], w [2,3] (OC=2): out = inp @ w^T
    float inp[] = {1, 2, 3, 4, 5, 6}, w[] = {1, 0, -1, 2, 1, 0};
    float want[] = {-2, 4, -2, 13};
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        float out[4] = {NAN, NAN, NAN, NAN};  // beta = 0 overwrites, NaN included
        bes[t]->matmul(out, inp, w, 2, 3, 2, 1.0f, 0.0f);
        for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], want[i], 1e-6);
        bes[t]->matmul(out, inp, w, 2, 3, 2, 2.0f, 0.5f);  // 0.5 * out + 2 * inp @ w^T
        for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], 2.5 * want[i], 1e-5);
    }
}

static void test_matmul_vs_reference(void) {
    int N = 37, IC = 29, OC = 23;
    float *inp = rand_buf((size_t)N * IC, -1, 1), *w = rand_buf((size_t)OC * IC, -1, 1);
    float *out0 = rand_buf((size_t)N * OC, -1, 1), *dout = rand_buf((size_t)N * OC, -1, 1);
    float *dinp0 = rand_buf((size_t)N * IC, -1, 1), *dw0 = rand_buf((size_t)OC * IC, -1, 1);
    float betas[2] = {0.0f, 0.5f};
    for (int bi = 0; bi < 2; bi++) {
        float *a = copy_buf(out0, (size_t)N * OC), *b = copy_buf(out0, (size_t)N * OC);
        FAST->matmul(a, inp, w, N, IC, OC, 0.7f, betas[bi]);
        REF->matmul(b, inp, w, N, IC, OC, 0.7f, betas[bi]);
        expect_same("matmul", a, b, (size_t)N * OC);
        free(a);
        free(b);
    }
    // backward with both outputs, then with each one alone
    for (int which = 0; which < 3; which++) {
        float *di[2], *dw[2];
        const backend *bes[2] = {FAST, REF};
        for (int t = 0; t < 2; t++) {
            di[t] = copy_buf(dinp0, (size_t)N * IC);
            dw[t] = copy_buf(dw0, (size_t)OC * IC);
            bes[t]->matmul_backward(which == 2 ? NULL : di[t], which == 1 ? NULL : dw[t], dout, inp, w, N, IC, OC,
                                    1.3f);
        }
        expect_same("matmul_backward dinp", di[0], di[1], (size_t)N * IC);
        expect_same("matmul_backward dw", dw[0], dw[1], (size_t)OC * IC);
        if (which == 2) CHECK(memcmp(di[0], dinp0, sizeof(float) * N * IC) == 0);
        if (which == 1) CHECK(memcmp(dw[0], dw0, sizeof(float) * OC * IC) == 0);
        for (int t = 0; t < 2; t++) {
            free(di[t]);
            free(dw[t]);
        }
    }
    free(inp), free(w), free(out0), free(dout), free(dinp0), free(dw0);
}

typedef struct {
    int N, IC, OC;
    float alpha, *inp, *w, *out, *r;
} matmul_case;

static double matmul_loss(void *ctx) {
    matmul_case *c = ctx;
    REF->matmul(c->out, c->inp, c->w, c->N, c->IC, c->OC, c->alpha, 0.0f);
    return dot(c->out, c->r, (size_t)c->N * c->OC);
}

static void test_matmul_grad(void) {
    matmul_case c = {.N = 3, .IC = 5, .OC = 4, .alpha = 1.5f};
    size_t ni = (size_t)c.N * c.IC, nw = (size_t)c.OC * c.IC, no = (size_t)c.N * c.OC;
    c.inp = rand_buf(ni, -1, 1), c.w = rand_buf(nw, -1, 1), c.out = zero_buf(no), c.r = rand_buf(no, -1, 1);
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        float *g0i = rand_buf(ni, -1, 1), *g0w = rand_buf(nw, -1, 1);
        float *di = copy_buf(g0i, ni), *dw = copy_buf(g0w, nw);
        bes[t]->matmul_backward(di, dw, c.r, c.inp, c.w, c.N, c.IC, c.OC, c.alpha);
        subtract(di, g0i, ni);
        subtract(dw, g0w, nw);
        expect_grad("matmul dinp", matmul_loss, &c, c.inp, di, ni);
        expect_grad("matmul dw", matmul_loss, &c, c.w, dw, nw);
        free(g0i), free(g0w), free(di), free(dw);
    }
    free(c.inp), free(c.w), free(c.out), free(c.r);
}

// ---- rmsnorm ----

static void test_rmsnorm_known(void) {
    float x[] = {3, 4}, w[] = {1, 2}, out[2], rstd;
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        bes[t]->rmsnorm(out, &rstd, x, w, 1, 2, 0.0f);  // mean square 12.5
        CHECK_NEAR(rstd, 1 / sqrt(12.5), 1e-6);
        CHECK_NEAR(out[0], 3 / sqrt(12.5), 1e-6);
        CHECK_NEAR(out[1], 8 / sqrt(12.5), 1e-6);
    }
}

static void test_rmsnorm_vs_reference(void) {
    int N = 101, C = 203;  // N*C above the parallel threshold; C spans several dweight tiles
    size_t n = (size_t)N * C;
    float *x = rand_buf(n, -2, 2), *w = rand_buf(C, 0.5f, 1.5f), *dout = rand_buf(n, -1, 1);
    float *outf = zero_buf(n), *outr = zero_buf(n), *rf = zero_buf(N), *rr = zero_buf(N);
    FAST->rmsnorm(outf, rf, x, w, N, C, 1e-6f);
    REF->rmsnorm(outr, rr, x, w, N, C, 1e-6f);
    expect_same("rmsnorm out", outf, outr, n);
    expect_same("rmsnorm rstd", rf, rr, N);
    float *g0x = rand_buf(n, -1, 1), *g0w = rand_buf(C, -1, 1);
    float *dxf = copy_buf(g0x, n), *dxr = copy_buf(g0x, n), *dwf = copy_buf(g0w, C), *dwr = copy_buf(g0w, C);
    FAST->rmsnorm_backward(dxf, dwf, dout, x, w, rf, N, C);
    REF->rmsnorm_backward(dxr, dwr, dout, x, w, rr, N, C);
    expect_same("rmsnorm_backward dinp", dxf, dxr, n);
    expect_same("rmsnorm_backward dweight", dwf, dwr, C);
    FAST->rmsnorm_backward(NULL, dwf, dout, x, w, rf, N, C);  // NULL outputs are skipped
    FAST->rmsnorm_backward(dxf, NULL, dout, x, w, rf, N, C);
    free(x), free(w), free(dout), free(outf), free(outr), free(rf), free(rr);
    free(g0x), free(g0w), free(dxf), free(dxr), free(dwf), free(dwr);
}

typedef struct {
    int N, C;
    float *x, *w, *out, *rstd, *r;
} norm_case;

static double rmsnorm_loss(void *ctx) {
    norm_case *c = ctx;
    REF->rmsnorm(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return dot(c->out, c->r, (size_t)c->N * c->C);
}

static void test_rmsnorm_grad(void) {
    norm_case c = {.N = 3, .C = 7};
    size_t n = (size_t)c.N * c.C;
    c.x = rand_buf(n, -2, 2), c.w = rand_buf(c.C, 0.5f, 1.5f), c.out = zero_buf(n), c.rstd = zero_buf(c.N);
    c.r = rand_buf(n, -1, 1);
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        rmsnorm_loss(&c);  // rstd for the backward pass
        float *g0x = rand_buf(n, -1, 1), *g0w = rand_buf(c.C, -1, 1);
        float *dx = copy_buf(g0x, n), *dw = copy_buf(g0w, c.C);
        bes[t]->rmsnorm_backward(dx, dw, c.r, c.x, c.w, c.rstd, c.N, c.C);
        subtract(dx, g0x, n);
        subtract(dw, g0w, c.C);
        expect_grad("rmsnorm dinp", rmsnorm_loss, &c, c.x, dx, n);
        expect_grad("rmsnorm dweight", rmsnorm_loss, &c, c.w, dw, c.C);
        free(g0x), free(g0w), free(dx), free(dw);
    }
    free(c.x), free(c.w), free(c.out), free(c.rstd), free(c.r);
}

// ---- attention ----

typedef struct {
    int B, Tq, Tk, H, KVH, hs, causal;
    float scale;
    float *q, *k, *v, *bias, *out, *probs, *r;  // r: the weights of the loss, [B,Tq,H,hs]
    int *kv_start, *kv_end;
    size_t nq, nk, nb, np;
} attn_case;

// Random inputs; bias and masks optional. Batch 1 (if any) starts its keys
// late enough that, with causal masking, its first queries see no key.
static attn_case attn_make(int B, int Tq, int Tk, int H, int KVH, int hs, int causal, int with_bias, int with_masks) {
    attn_case a = {.B = B, .Tq = Tq, .Tk = Tk, .H = H, .KVH = KVH, .hs = hs, .causal = causal};
    a.scale = 1.0f / sqrtf((float)hs);
    a.nq = (size_t)B * Tq * H * hs, a.nk = (size_t)B * Tk * KVH * hs, a.nb = (size_t)H * Tq * Tk;
    a.np = (size_t)B * H * Tq * Tk;
    a.q = rand_buf(a.nq, -1, 1), a.k = rand_buf(a.nk, -1, 1), a.v = rand_buf(a.nk, -1, 1);
    a.bias = with_bias ? rand_buf(a.nb, -1, 1) : NULL;
    a.out = zero_buf(a.nq), a.probs = zero_buf(a.np), a.r = rand_buf(a.nq, -1, 1);
    if (with_masks) {
        a.kv_start = xcalloc(B, sizeof(int)), a.kv_end = xcalloc(B, sizeof(int));
        for (int b = 0; b < B; b++) {
            a.kv_start[b] = b == 1 ? Tk - Tq + 2 : b % 3;  // b == 1: queries 0 and 1 see nothing if causal
            a.kv_end[b] = b == 0 ? Tk - 1 : Tk;
        }
    }
    return a;
}

static void attn_free(attn_case *a) {
    free(a->q), free(a->k), free(a->v), free(a->bias), free(a->out), free(a->probs), free(a->r);
    free(a->kv_start), free(a->kv_end);
}

static void attn_forward(const backend *be, attn_case *a) {
    be->attention(a->out, a->probs, a->q, a->k, a->v, a->bias, a->kv_start, a->kv_end, a->causal, a->scale, a->B,
                  a->Tq, a->Tk, a->H, a->KVH, a->hs);
}

static double attn_loss(void *ctx) {
    attn_case *a = ctx;
    attn_forward(REF, a);
    return dot(a->out, a->r, a->nq);
}

// The key range query i of batch b may see (the spec in backend.h, restated).
static int attn_visible(const attn_case *a, int b, int i, int j) {
    if (a->kv_start && j < a->kv_start[b]) return 0;
    if (a->kv_end && j >= a->kv_end[b]) return 0;
    return !a->causal || j <= i + a->Tk - a->Tq;
}

static void test_attention_known(void) {
    // one query, two keys with scores 0 and ln 3: probs 1/4, 3/4; out = 1/4 * 1 + 3/4 * 5
    float q[] = {1}, k[] = {0, logf(3)}, v[] = {1, 5}, out[1], probs[2];
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        bes[t]->attention(out, probs, q, k, v, NULL, NULL, NULL, 0, 1.0f, 1, 1, 2, 1, 1, 1);
        CHECK_NEAR(probs[0], 0.25, 1e-6);
        CHECK_NEAR(probs[1], 0.75, 1e-6);
        CHECK_NEAR(out[0], 4.0, 1e-5);
        float bias[] = {0, -logf(3)};  // the bias cancels the second score
        bes[t]->attention(out, probs, q, k, v, bias, NULL, NULL, 0, 1.0f, 1, 1, 2, 1, 1, 1);
        CHECK_NEAR(probs[0], 0.5, 1e-6);
        CHECK_NEAR(out[0], 3.0, 1e-5);
    }
}

// Hidden keys get probability exactly 0, visible ones sum to 1, and a query
// that sees no key gets zero probabilities and a zero output.
static void test_attention_masks(void) {
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        attn_case a = attn_make(3, 4, 7, 4, 2, 3, 1, 1, 1);
        for (size_t i = 0; i < a.nq; i++) a.out[i] = NAN;  // every output must be written
        attn_forward(bes[t], &a);
        int empty_rows = 0;
        for (int b = 0; b < a.B; b++)
            for (int h = 0; h < a.H; h++)
                for (int i = 0; i < a.Tq; i++) {
                    const float *p = a.probs + (((size_t)b * a.H + h) * a.Tq + i) * a.Tk;
                    const float *o = a.out + (((size_t)b * a.Tq + i) * a.H + h) * a.hs;
                    double sum = 0.0;
                    int seen = 0, hidden_nonzero = 0;
                    for (int j = 0; j < a.Tk; j++) {
                        if (attn_visible(&a, b, i, j)) seen++;
                        else if (p[j] != 0.0f) hidden_nonzero++;
                        sum += p[j];
                    }
                    CHECK(hidden_nonzero == 0);
                    if (seen) {
                        CHECK_NEAR(sum, 1.0, 1e-5);
                    } else {
                        empty_rows++;
                        CHECK(sum == 0.0);
                        CHECK(max_abs(o, a.hs) == 0.0);
                    }
                }
        CHECK(empty_rows == 2 * a.H);  // batch 1, queries 0 and 1
        attn_free(&a);
    }
    // a bias of -inf on every key hides them all, as a mask would
    float q1[1] = {1}, k1[2] = {1, 2}, b1[2] = {-INFINITY, -INFINITY}, o1[1] = {NAN}, p1[2] = {NAN, NAN};
    for (int t = 0; t < 2; t++) {
        bes[t]->attention(o1, p1, q1, k1, k1, b1, NULL, NULL, 0, 1.0f, 1, 1, 2, 1, 1, 1);
        CHECK(o1[0] == 0.0f && p1[0] == 0.0f && p1[1] == 0.0f);
    }
    // no key at all (kv_start == kv_end) without causal masking
    float q[4] = {1, 2, 3, 4}, k[4] = {1, 1, 1, 1}, out[4] = {NAN, NAN, NAN, NAN}, probs[4] = {NAN, NAN, NAN, NAN};
    int start[1] = {1}, end[1] = {1};
    for (int t = 0; t < 2; t++) {
        bes[t]->attention(out, probs, q, k, k, NULL, start, end, 0, 1.0f, 1, 2, 2, 1, 1, 2);
        CHECK(max_abs(out, 4) == 0.0 && max_abs(probs, 4) == 0.0);
    }
}

// Forward and backward of both backends on one configuration.
static void attn_compare(int B, int Tq, int Tk, int H, int KVH, int hs, int causal, int with_bias, int with_masks) {
    attn_case f = attn_make(B, Tq, Tk, H, KVH, hs, causal, with_bias, with_masks);
    attn_case r = f;  // same inputs, own outputs
    r.out = zero_buf(f.nq), r.probs = zero_buf(f.np);
    attn_forward(FAST, &f);
    attn_forward(REF, &r);
    expect_same("attention out", f.out, r.out, f.nq);
    expect_same("attention probs", f.probs, r.probs, f.np);
    float *g0q = rand_buf(f.nq, -1, 1), *g0k = rand_buf(f.nk, -1, 1), *g0b = rand_buf(f.nb, -1, 1);
    float *g[2][4];  // [backend][dq, dk, dv, dbias]
    for (int t = 0; t < 2; t++) {
        attn_case *a = t ? &r : &f;
        g[t][0] = copy_buf(g0q, f.nq), g[t][1] = copy_buf(g0k, f.nk), g[t][2] = copy_buf(g0k, f.nk);
        g[t][3] = copy_buf(g0b, f.nb);
        (t ? REF : FAST)
            ->attention_backward(g[t][0], g[t][1], g[t][2], with_bias ? g[t][3] : NULL, f.r, a->probs, f.q, f.k, f.v,
                                 causal, f.scale, B, Tq, Tk, H, KVH, hs);
    }
    expect_same("attention dq", g[0][0], g[1][0], f.nq);
    expect_same("attention dk", g[0][1], g[1][1], f.nk);
    expect_same("attention dv", g[0][2], g[1][2], f.nk);
    expect_same("attention dbias", g[0][3], g[1][3], f.nb);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++) free(g[t][i]);
    free(g0q), free(g0k), free(g0b), free(r.out), free(r.probs);
    attn_free(&f);
}

static void test_attention_vs_reference(void) {
    //            B  Tq  Tk  H KVH hs causal bias masks
    attn_compare(2, 5, 9, 4, 2, 5, 1, 1, 1);    // GQA, causal with Tq < Tk, masks, bias
    attn_compare(2, 5, 9, 4, 2, 5, 0, 0, 0);    // plain cross-attention shape
    attn_compare(2, 6, 6, 4, 4, 3, 1, 0, 0);    // causal self-attention
    attn_compare(3, 1, 7, 4, 1, 4, 1, 1, 1);    // one decoding step, multi-query
    attn_compare(16, 1, 90, 9, 3, 64, 0, 0, 1); // a decoding batch (parallel), each its own keys
    attn_compare(2, 7, 4, 2, 1, 3, 1, 1, 0);    // Tq > Tk: the first queries see nothing
    attn_compare(3, 37, 61, 8, 2, 8, 1, 1, 1);  // big enough for the parallel loops
    attn_compare(2, 33, 33, 6, 6, 16, 0, 1, 1); // T5 encoder-like: bias, padding masks
    attn_compare(1, 100, 100, 9, 3, 8, 1, 0, 0); // causal in blocks of query rows (the last one short)
}

// Attention with KVH kv heads equals attention with H kv heads in which query
// head h's kv head h / (H/KVH) is copied; dk and dv of a shared kv head are
// the sums over the query heads that read it.
static void test_attention_gqa(void) {
    int B = 2, T = 5, H = 4, KVH = 2, hs = 3, group = H / KVH;
    attn_case g = attn_make(B, T, T, H, KVH, hs, 1, 0, 0), m = attn_make(B, T, T, H, H, hs, 1, 0, 0);
    memcpy(m.q, g.q, sizeof(float) * g.nq);
    for (int bt = 0; bt < B * T; bt++)
        for (int h = 0; h < H; h++)
            for (int c = 0; c < hs; c++) {
                m.k[((size_t)bt * H + h) * hs + c] = g.k[((size_t)bt * KVH + h / group) * hs + c];
                m.v[((size_t)bt * H + h) * hs + c] = g.v[((size_t)bt * KVH + h / group) * hs + c];
            }
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        attn_forward(bes[t], &g);
        attn_forward(bes[t], &m);
        CHECK(rel_err(g.out, m.out, g.nq) < 1e-6);
        float *dkg = zero_buf(g.nk), *dvg = zero_buf(g.nk), *dkm = zero_buf(m.nk), *dvm = zero_buf(m.nk);
        bes[t]->attention_backward(NULL, dkg, dvg, NULL, g.r, g.probs, g.q, g.k, g.v, 1, g.scale, B, T, T, H, KVH, hs);
        bes[t]->attention_backward(NULL, dkm, dvm, NULL, g.r, m.probs, m.q, m.k, m.v, 1, m.scale, B, T, T, H, H, hs);
        float *sk = zero_buf(g.nk), *sv = zero_buf(g.nk);
        for (int bt = 0; bt < B * T; bt++)
            for (int h = 0; h < H; h++)
                for (int c = 0; c < hs; c++) {
                    sk[((size_t)bt * KVH + h / group) * hs + c] += dkm[((size_t)bt * H + h) * hs + c];
                    sv[((size_t)bt * KVH + h / group) * hs + c] += dvm[((size_t)bt * H + h) * hs + c];
                }
        CHECK(rel_err(dkg, sk, g.nk) < 1e-5);
        CHECK(rel_err(dvg, sv, g.nk) < 1e-5);
        float *dv_only = zero_buf(g.nk);  // dv alone: no dS needed
        bes[t]->attention_backward(NULL, NULL, dv_only, NULL, g.r, g.probs, g.q, g.k, g.v, 1, g.scale, B, T, T, H,
                                   KVH, hs);
        CHECK(rel_err(dv_only, dvg, g.nk) < 1e-6);
        free(dv_only);
        free(dkg), free(dvg), free(dkm), free(dvm), free(sk), free(sv);
    }
    attn_free(&g);
    attn_free(&m);
}

static void attn_grad_case(int B, int Tq, int Tk, int H, int KVH, int hs, int causal, int with_bias, int with_masks) {
    attn_case a = attn_make(B, Tq, Tk, H, KVH, hs, causal, with_bias, with_masks);
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        attn_forward(bes[t], &a);  // probs for the backward pass
        float *g0q = rand_buf(a.nq, -1, 1), *g0k = rand_buf(a.nk, -1, 1), *g0b = rand_buf(a.nb, -1, 1);
        float *dq = copy_buf(g0q, a.nq), *dk = copy_buf(g0k, a.nk), *dv = copy_buf(g0k, a.nk);
        float *db = copy_buf(g0b, a.nb);
        bes[t]->attention_backward(dq, dk, dv, with_bias ? db : NULL, a.r, a.probs, a.q, a.k, a.v, causal, a.scale, B,
                                   Tq, Tk, H, KVH, hs);
        subtract(dq, g0q, a.nq), subtract(dk, g0k, a.nk), subtract(dv, g0k, a.nk), subtract(db, g0b, a.nb);
        expect_grad("attention dq", attn_loss, &a, a.q, dq, a.nq);
        expect_grad("attention dk", attn_loss, &a, a.k, dk, a.nk);
        expect_grad("attention dv", attn_loss, &a, a.v, dv, a.nk);
        if (with_bias) expect_grad("attention dbias", attn_loss, &a, a.bias, db, a.nb);
        free(g0q), free(g0k), free(g0b), free(dq), free(dk), free(dv), free(db);
    }
    attn_free(&a);
}

static void test_attention_grad(void) {
    attn_grad_case(2, 3, 5, 4, 2, 3, 1, 1, 1);  // GQA, causal Tq < Tk, masks (empty rows), bias
    attn_grad_case(2, 4, 3, 2, 2, 2, 0, 0, 0);  // no mask, no bias, Tq > Tk
}

// ---- activations ----

static void test_activation_known(void) {
    float x[] = {-1, 0, 1, 2}, out[4];
    const double want[3][4] = {
        {0, 0, 1, 2},
        {-0.15880800939172324, 0, 0.8411919906082768, 1.954597694087775},  // gelu, tanh approximation
        {-0.2689414213699951, 0, 0.7310585786300049, 1.7615941559557650},  // silu
    };
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++)
        for (int act = 0; act < 3; act++) {
            bes[t]->activation(out, x, 4, act);
            for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], want[act][i], 1e-6);
        }
}

static void test_activation_vs_reference(void) {
    size_t n = 100003;
    float *x = rand_buf(n, -5, 5), *up = rand_buf(n, -2, 2), *dout = rand_buf(n, -1, 1);
    float *g0 = rand_buf(n, -1, 1), *g1 = rand_buf(n, -1, 1);
    for (int act = 0; act < 3; act++) {
        float *of = zero_buf(n), *oref = zero_buf(n);
        FAST->activation(of, x, n, act);
        REF->activation(oref, x, n, act);
        expect_same("activation", of, oref, n);
        FAST->gated(of, x, up, n, act);
        REF->gated(oref, x, up, n, act);
        expect_same("gated", of, oref, n);
        float *df = copy_buf(g0, n), *dr = copy_buf(g0, n), *duf = copy_buf(g1, n), *dur = copy_buf(g1, n);
        FAST->activation_backward(df, dout, x, n, act);
        REF->activation_backward(dr, dout, x, n, act);
        expect_same("activation_backward", df, dr, n);
        FAST->gated_backward(df, duf, dout, x, up, n, act);
        REF->gated_backward(dr, dur, dout, x, up, n, act);
        expect_same("gated_backward dgate", df, dr, n);
        expect_same("gated_backward dup", duf, dur, n);
        FAST->gated_backward(NULL, duf, dout, x, up, n, act);  // NULL outputs are skipped
        FAST->gated_backward(df, NULL, dout, x, up, n, act);
        free(of), free(oref), free(df), free(dr), free(duf), free(dur);
    }
    free(x), free(up), free(dout), free(g0), free(g1);
}

typedef struct {
    size_t n;
    int act, gated;
    float *x, *up, *out, *r;
} act_case;

static double act_loss(void *ctx) {
    act_case *c = ctx;
    if (c->gated) REF->gated(c->out, c->x, c->up, c->n, c->act);
    else REF->activation(c->out, c->x, c->n, c->act);
    return dot(c->out, c->r, c->n);
}

static void test_activation_grad(void) {
    act_case c = {.n = 64};
    c.x = rand_buf(c.n, -4, 4), c.up = rand_buf(c.n, -2, 2), c.out = zero_buf(c.n), c.r = rand_buf(c.n, -1, 1);
    for (size_t i = 0; i < c.n; i++)  // keep away from relu's kink
        if (fabsf(c.x[i]) < 0.05f) c.x[i] = 0.5f;
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++)
        for (c.act = 0; c.act < 3; c.act++) {
            // The outputs are written, whatever they held before.
            float *dx = rand_buf(c.n, -1, 1), *dg = rand_buf(c.n, -1, 1), *du = rand_buf(c.n, -1, 1);
            bes[t]->activation_backward(dx, c.r, c.x, c.n, c.act);
            bes[t]->gated_backward(dg, du, c.r, c.x, c.up, c.n, c.act);
            c.gated = 0;
            expect_grad("activation", act_loss, &c, c.x, dx, c.n);
            c.gated = 1;
            expect_grad("gated dgate", act_loss, &c, c.x, dg, c.n);
            expect_grad("gated dup", act_loss, &c, c.up, du, c.n);
            free(dx), free(dg), free(du);
        }
    free(c.x), free(c.up), free(c.out), free(c.r);
}

// ---- rope ----

typedef struct {
    int B, T, H, hs, max_pos;
    int *pos;
    float *cos, *sin, *x, *tmp, *r;
    size_t n;
} rope_case;

static rope_case rope_make(int B, int T, int H, int hs) {
    rope_case c = {.B = B, .T = T, .H = H, .hs = hs, .max_pos = 64};
    c.n = (size_t)B * T * H * hs;
    c.pos = xmalloc(sizeof(int) * B * T);
    for (int i = 0; i < B * T; i++) c.pos[i] = (int)rng_below(&TEST_RNG, c.max_pos);  // any order, repeats
    c.cos = zero_buf((size_t)c.max_pos * hs / 2), c.sin = zero_buf((size_t)c.max_pos * hs / 2);
    for (int p = 0; p < c.max_pos; p++)
        for (int i = 0; i < hs / 2; i++) {
            double theta = p * pow(10000.0, -2.0 * i / hs);
            c.cos[p * hs / 2 + i] = (float)cos(theta), c.sin[p * hs / 2 + i] = (float)sin(theta);
        }
    c.x = rand_buf(c.n, -1, 1), c.tmp = zero_buf(c.n), c.r = rand_buf(c.n, -1, 1);
    return c;
}

static void rope_free(rope_case *c) { free(c->pos), free(c->cos), free(c->sin), free(c->x), free(c->tmp), free(c->r); }

static double rope_loss(void *ctx) {
    rope_case *c = ctx;
    memcpy(c->tmp, c->x, sizeof(float) * c->n);
    REF->rope(c->tmp, c->pos, c->cos, c->sin, c->B, c->T, c->H, c->hs, 1);
    return dot(c->tmp, c->r, c->n);
}

// Against HF: q * cos + rotate_half(q) * sin, rotate_half(q) = cat(-q2, q1),
// cos and sin tables repeated over both halves.
static void test_rope_hf(void) {
    rope_case c = rope_make(2, 5, 3, 8);
    int half = c.hs / 2;
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        memcpy(c.tmp, c.x, sizeof(float) * c.n);
        bes[t]->rope(c.tmp, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, 1);
        double e = 0.0;
        for (int n = 0; n < c.B * c.T; n++)
            for (int h = 0; h < c.H; h++)
                for (int i = 0; i < c.hs; i++) {
                    const float *xh = c.x + ((size_t)n * c.H + h) * c.hs;
                    int pi = i % half;
                    double rot = i < half ? -xh[i + half] : xh[i - half];
                    double want = xh[i] * c.cos[c.pos[n] * half + pi] + rot * c.sin[c.pos[n] * half + pi];
                    e = fmax(e, fabs(c.tmp[((size_t)n * c.H + h) * c.hs + i] - want));
                }
        CHECK(e < 1e-6);
    }
    rope_free(&c);
}

static void test_rope_vs_reference(void) {
    rope_case c = rope_make(3, 50, 4, 32);  // above the parallel threshold
    float *a = copy_buf(c.x, c.n), *b = copy_buf(c.x, c.n);
    FAST->rope(a, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, 1);
    REF->rope(b, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, 1);
    expect_same("rope", a, b, c.n);
    FAST->rope(a, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, -1);
    REF->rope(b, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, -1);
    expect_same("rope inverse", a, b, c.n);
    free(a), free(b);
    rope_free(&c);
}

// sign -1 undoes sign +1 (the inverse), and is the gradient of
// sum(rope(x) * r) (the transpose), checked by finite differences.
static void test_rope_backward(void) {
    rope_case c = rope_make(2, 3, 2, 6);
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        float *y = copy_buf(c.x, c.n);
        bes[t]->rope(y, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, 1);
        CHECK(rel_err(y, c.x, c.n) > 1e-2);  // it did rotate
        bes[t]->rope(y, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, -1);
        CHECK(rel_err(y, c.x, c.n) < 1e-6);
        float *g = copy_buf(c.r, c.n);
        bes[t]->rope(g, c.pos, c.cos, c.sin, c.B, c.T, c.H, c.hs, -1);
        expect_grad("rope", rope_loss, &c, c.x, g, c.n);
        free(y), free(g);
    }
    rope_free(&c);
}

// ---- embedding ----

typedef struct {
    int N, C, V;
    int32_t *ids;
    float scale, *table, *out, *r;
} emb_case;

static double emb_loss(void *ctx) {
    emb_case *c = ctx;
    REF->embedding(c->out, c->ids, c->table, c->N, c->C, c->scale);
    return dot(c->out, c->r, (size_t)c->N * c->C);
}

static void test_embedding(void) {
    emb_case c = {.N = 6, .C = 5, .V = 4, .scale = 2.5f};
    int32_t ids[6] = {3, 0, 3, 1, 3, 0};  // repeats accumulate, row 2 unused
    c.ids = ids;
    size_t nt = (size_t)c.V * c.C, no = (size_t)c.N * c.C;
    c.table = rand_buf(nt, -1, 1), c.out = zero_buf(no), c.r = rand_buf(no, -1, 1);
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        bes[t]->embedding(c.out, ids, c.table, c.N, c.C, c.scale);
        for (int n = 0; n < c.N; n++)
            for (int j = 0; j < c.C; j++) CHECK(c.out[n * c.C + j] == c.scale * c.table[ids[n] * c.C + j]);
        float *g0 = rand_buf(nt, -1, 1), *g = copy_buf(g0, nt);
        bes[t]->embedding_backward(g, c.r, ids, c.N, c.C, c.scale);
        subtract(g, g0, nt);
        CHECK(max_abs(g + 2 * c.C, c.C) == 0.0);
        expect_grad("embedding", emb_loss, &c, c.table, g, nt);
        free(g0), free(g);
    }
    free(c.table), free(c.out), free(c.r);
}

// ---- cross-entropy and argmax ----

typedef struct {
    int N, V;
    int32_t *targets;
    float *logits;
} ce_case;

static double ce_loss(void *ctx) {
    ce_case *c = ctx;
    return REF->cross_entropy(NULL, c->logits, c->targets, c->N, c->V, 1.0f);
}

static void test_cross_entropy_known(void) {
    float logits[2 * 5] = {0};  // uniform rows: loss log 5 each
    int32_t targets[2] = {4, 1};
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        float d[10];
        CHECK_NEAR(bes[t]->cross_entropy(d, logits, targets, 2, 5, 0.5f), 2 * log(5.0), 1e-9);
        CHECK_NEAR(d[0], 0.5 * 0.2, 1e-7);
        CHECK_NEAR(d[4], 0.5 * (0.2 - 1), 1e-7);
        CHECK_NEAR(bes[t]->cross_entropy(NULL, logits, targets, 2, 5, 1.0f), 2 * log(5.0), 1e-9);
    }
}

static void test_cross_entropy_vs_reference(void) {
    int N = 37, V = 1001;
    size_t n = (size_t)N * V;
    float *logits = rand_buf(n, -8, 8), *df = rand_buf(n, -1, 1), *dr = rand_buf(n, -1, 1);
    int32_t *targets = xmalloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) targets[i] = i % 5 == 2 ? -100 : (int32_t)rng_below(&TEST_RNG, V);
    double lf = FAST->cross_entropy(df, logits, targets, N, V, 0.125f);
    double lr = REF->cross_entropy(dr, logits, targets, N, V, 0.125f);
    CHECK_NEAR(lf, lr, 1e-9 * fabs(lr));
    expect_same("cross_entropy dlogits", df, dr, n);
    free(logits), free(df), free(dr), free(targets);
}

static void test_cross_entropy_grad(void) {
    ce_case c = {.N = 4, .V = 7};
    int32_t targets[4] = {3, -1, 0, 6};
    c.targets = targets;
    size_t n = (size_t)c.N * c.V;
    c.logits = rand_buf(n, -3, 3);
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        float *d = rand_buf(n, 5, 6);  // written, not accumulated
        bes[t]->cross_entropy(d, c.logits, targets, c.N, c.V, 2.0f);
        CHECK(max_abs(d + c.V, c.V) == 0.0);  // the ignored row
        for (size_t i = 0; i < n; i++) d[i] /= 2.0f;
        expect_grad("cross_entropy", ce_loss, &c, c.logits, d, n);
        free(d);
    }
    free(c.logits);
}

static void test_cross_entropy_huge_logits(void) {
    float logits[2 * 4] = {1e30f, 0, -1e30f, 3, 0, 0, 0, 3e38f};
    int32_t targets[2] = {1, 3};  // row 0: loss 1e30; row 1: the huge logit is right, loss 0
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        float d[8];
        double loss = bes[t]->cross_entropy(d, logits, targets, 2, 4, 1.0f);
        CHECK(isfinite(loss));
        CHECK_NEAR(loss, 1e30, 1e24);
        int finite = 1;
        for (int i = 0; i < 8; i++) finite &= isfinite(d[i]) != 0;
        CHECK(finite);
        CHECK_NEAR(d[0], 1.0, 1e-7);
        CHECK_NEAR(d[1], -1.0, 1e-7);
        CHECK_NEAR(d[7], 0.0, 1e-7);
        targets[1] = 0;  // row 1 now has loss 3e38, still finite in double
        CHECK(isfinite(bes[t]->cross_entropy(d, logits, targets, 2, 4, 1.0f)));
        targets[1] = 3;
    }
}

static void cross_entropy_bad_target(void *arg) {
    const backend *be = arg;
    float logits[3] = {0};
    int32_t target = 3;
    be->cross_entropy(NULL, logits, &target, 1, 3, 1.0f);
}

static void test_cross_entropy_bad_target(void) {
    CHECK(dies_with(cross_entropy_bad_target, (void *)FAST, "outside the vocabulary"));
    CHECK(dies_with(cross_entropy_bad_target, (void *)REF, "outside the vocabulary"));
}

static void test_argmax(void) {
    float logits[] = {1, 3, 3, 0, -5, -4, -4.5f, -6};
    int32_t out[2];
    FAST->argmax(out, logits, 2, 4);
    CHECK(out[0] == 1 && out[1] == 1);  // ties: the first
    // Rows long enough for the threads and the vector loop; NaNs are passed over.
    enum { N = 3, V = 20011 };
    float *big = xmalloc(sizeof(float) * N * V);
    rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < N * V; i++) big[i] = rng_float(&r);
    big[0 * V + 17] = NAN, big[0 * V + 9000] = 2.0f, big[0 * V + 15000] = 2.0f;  // a tie after a NaN
    big[1 * V + 0] = NAN, big[1 * V + V - 1] = 5.0f;                             // the last value, a NaN first
    for (int j = 0; j < V; j++) big[2 * V + j] = NAN;                          // nothing to pick: 0
    int32_t got[N];
    FAST->argmax(got, big, N, V);
    CHECK(got[0] == 9000 && got[1] == V - 1 && got[2] == 0);
    free(big);
}

// ---- elementwise ----

static void test_elementwise(void) {
    float a[] = {1, 2, 3}, b[] = {10, 20, 30}, out[3];
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        float x[] = {1, 2, 3};
        bes[t]->add(out, a, b, 3);
        CHECK(out[0] == 11 && out[1] == 22 && out[2] == 33);
        bes[t]->add(x, x, b, 3);  // in place
        CHECK(x[0] == 11 && x[2] == 33);
        bes[t]->scale(x, 0.5f, 3);
        CHECK(x[0] == 5.5f && x[2] == 16.5f);
    }
}

// Dropout: values 0 or x/(1-p), about p of them zero, the same mask for the same
// seed (in place too) and in both backends, a different one for another seed;
// accumulating adds exactly the values written otherwise.
static void test_dropout(void) {
    enum { N = 64, C = 100 };
    static float x[N * C], y[N * C], z[N * C], w[N * C], acc[N * C];
    for (int i = 0; i < N * C; i++) x[i] = 1.0f + (float)(i % 7);
    float p = 0.25f;
    FAST->dropout(y, x, 42, N, C, p, 0);
    REF->dropout(z, x, 42, N, C, p, 0);
    memcpy(w, x, sizeof x);
    FAST->dropout(w, w, 42, N, C, p, 0);
    int zeros = 0, same = 1, valid = 1;
    for (int i = 0; i < N * C; i++) {
        zeros += y[i] == 0.0f;
        same &= y[i] == z[i] && y[i] == w[i];
        valid &= y[i] == 0.0f || fabsf(y[i] - x[i] / (1.0f - p)) < 1e-6f;
    }
    CHECK(valid);
    CHECK(same);
    CHECK(fabs((double)zeros / (N * C) - p) < 0.03);
    const backend *bes[2] = {FAST, REF};
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < N * C; i++) acc[i] = 0.5f * (float)i;
        bes[t]->dropout(acc, x, 42, N, C, p, 1);
        int added = 1;
        for (int i = 0; i < N * C; i++) added &= acc[i] == 0.5f * (float)i + y[i];
        CHECK(added);
    }
    FAST->dropout(z, x, 43, N, C, p, 0);
    CHECK(memcmp(y, z, sizeof y) != 0);
}

// bf16 products: the same as the reference's fp32 products on inputs and
// weights rounded to bf16 (the accumulation is fp32 in both), forward with
// beta 0 and 1 and backward; packing leaves the weight untouched.
static float round_bf16(float x) {
    uint32_t u = (uint32_t)bf16_of(x) << 16;
    memcpy(&x, &u, sizeof x);
    return x;
}

// One weight's bf16 products (forward and backward, with beta 0 and 1) against
// fp32 products of bf16-rounded inputs.
static void check_bf16_products(int N, int IC, int OC) {
    size_t ni = (size_t)N * IC, nw = (size_t)OC * IC, no = (size_t)N * OC;
    float *inp = rand_buf(ni, -1, 1), *w = rand_buf(nw, -1, 1), *out0 = rand_buf(no, -1, 1), *dout = rand_buf(no, -1, 1);
    float *w_copy = copy_buf(w, nw), *ri = copy_buf(inp, ni), *rw = copy_buf(w, nw), *rd = copy_buf(dout, no);
    for (size_t i = 0; i < ni; i++) ri[i] = round_bf16(ri[i]);
    for (size_t i = 0; i < nw; i++) rw[i] = round_bf16(rw[i]);
    for (size_t i = 0; i < no; i++) rd[i] = round_bf16(rd[i]);
    void *packed = FAST->pack_bf16(w, OC, IC);
    CHECK(memcmp(w, w_copy, nw * sizeof *w) == 0);
    for (int beta = 0; beta <= 1; beta++) {
        float *a = copy_buf(out0, no), *b = copy_buf(out0, no);
        FAST->matmul_bf16(a, inp, packed, N, IC, OC, (float)beta);
        REF->matmul(b, ri, rw, N, IC, OC, 1.0f, (float)beta);
        expect_same("matmul_bf16", a, b, no);
        free(a), free(b);
    }
    for (int beta = 0; beta <= 1; beta++) {
        float *da = rand_buf(ni, -1, 1), *db = beta ? copy_buf(da, ni) : zero_buf(ni);
        FAST->matmul_bf16_backward(da, dout, packed, N, IC, OC, (float)beta);
        REF->matmul_backward(db, NULL, rd, ri, rw, N, IC, OC, 1.0f);
        expect_same("matmul_bf16_backward", da, db, ni);
        free(da), free(db);
    }
    FAST->release_bf16(packed);
    free(inp), free(w), free(out0), free(dout), free(w_copy), free(ri), free(rw), free(rd);
}

static void test_matmul_bf16(void) {
    SKIP_WITHOUT_BF16_PRODUCTS();
    check_bf16_products(37, 70, 45);
    check_bf16_products(37, 70, 45);  // the same shape, another weight: the cached primitive reads the new one
    check_bf16_products(1, 576, 192);  // a decoding step
    for (int N = 1; N <= 80; N++) check_bf16_products(N, 24, 40);  // more shapes than the primitive cache holds
    check_bf16_products(37, 70, 45);  // evicted, made again
    CHECK(REF->pack_bf16 == NULL && REF->matmul_bf16 == NULL);  // the reference has no bf16 path
}

// The gated activation fused with its bf16 products (--bf16 feed-forward)
// gives the bits of the unfused calls, forward and backward, for each
// activation; the reference backend has none.
static void test_gated_matmul_bf16(void) {
    SKIP_WITHOUT_BF16_PRODUCTS();
    enum { N = 37, C = 24, F = 56 };
    float *gate = rand_buf(N * F, -3, 3), *up = rand_buf(N * F, -2, 2), *dy = rand_buf(N * F, -1, 1);
    float *wd = rand_buf(C * F, -1, 1), *wg = rand_buf(F * C, -1, 1), *wu = rand_buf(F * C, -1, 1);
    float *y0 = rand_buf(N * C, -1, 1), *hidden = zero_buf(N * F), *dgate = zero_buf(N * F), *dup = zero_buf(N * F);
    void *down = FAST->pack_bf16(wd, C, F), *pg = FAST->pack_bf16(wg, F, C), *pu = FAST->pack_bf16(wu, F, C);
    for (int act = 0; act < 3; act++) {
        float *want = copy_buf(y0, N * C), *got = copy_buf(y0, N * C);
        FAST->gated(hidden, gate, up, N * F, act);
        FAST->matmul_bf16(want, hidden, down, N, F, C, 1.0f);
        FAST->gated_matmul_bf16(got, gate, up, down, N, F, C, act);
        CHECK(memcmp(want, got, sizeof(float) * N * C) == 0);
        FAST->gated_backward(dgate, dup, dy, gate, up, N * F, act);
        FAST->matmul_bf16_backward(want, dup, pu, N, C, F, 0.0f);
        FAST->matmul_bf16_backward(want, dgate, pg, N, C, F, 1.0f);
        FAST->gated_matmul_bf16_backward(got, dy, gate, up, pg, pu, N, C, F, act);
        CHECK(memcmp(want, got, sizeof(float) * N * C) == 0);
        CHECK(max_abs(got, N * C) > 0);
        free(want), free(got);
    }
    CHECK(REF->gated_matmul_bf16 == NULL && REF->gated_matmul_bf16_backward == NULL);
    FAST->release_bf16(down), FAST->release_bf16(pg), FAST->release_bf16(pu);
    float *bufs[] = {gate, up, dy, wd, wg, wu, y0, hidden, dgate, dup};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

// exp_fast and tanh_fast (nn/scalar_kernels.h) against libm over their whole
// range, with the edge cases the kernels rely on.
static void test_fast_math(void) {
    double worst_exp = 0.0, worst_tanh = 0.0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -87.0f + 175.0f * (float)i / 2000000.0f;
        double e = fabs(exp_fast(x) - exp((double)x)) / exp((double)x);
        worst_exp = fmax(worst_exp, e);
        float z = -12.0f + 24.0f * (float)i / 2000000.0f;
        worst_tanh = fmax(worst_tanh, fabs(tanh_fast(z) - tanh((double)z)));
    }
    printf("  exp_fast: relative error %.2g; tanh_fast: absolute error %.2g\n", worst_exp, worst_tanh);
    CHECK(worst_exp < 3e-7);
    CHECK(worst_tanh < 4e-7);
    CHECK(exp_fast(0.0f) == 1.0f);
    CHECK(exp_fast(-INFINITY) == 0.0f && exp_fast(-100.0f) == 0.0f);
    CHECK(isfinite(exp_fast(1000.0f)) && exp_fast(1000.0f) > 1e38f);
    CHECK(tanh_fast(0.0f) == 0.0f && tanh_fast(50.0f) == 1.0f && tanh_fast(-50.0f) == -1.0f);
    CHECK(isnan(exp_fast(NAN)));
}

int main(void) {
    deal_set_tool("test_kernels");
    rng_seed(&TEST_RNG, 20240611);
    FAST = backend_cpu();
    REF = backend_cpu_reference();
    RUN(test_fast_math);
    RUN(test_memory);
    RUN(test_matmul_known);
    RUN(test_matmul_vs_reference);
    RUN(test_matmul_grad);
    RUN(test_matmul_bf16);
    RUN(test_gated_matmul_bf16);
    RUN(test_rmsnorm_known);
    RUN(test_rmsnorm_vs_reference);
    RUN(test_rmsnorm_grad);
    RUN(test_attention_known);
    RUN(test_attention_masks);
    RUN(test_attention_vs_reference);
    RUN(test_attention_gqa);
    RUN(test_attention_grad);
    RUN(test_activation_known);
    RUN(test_activation_vs_reference);
    RUN(test_activation_grad);
    RUN(test_rope_hf);
    RUN(test_rope_vs_reference);
    RUN(test_rope_backward);
    RUN(test_embedding);
    RUN(test_cross_entropy_known);
    RUN(test_cross_entropy_vs_reference);
    RUN(test_cross_entropy_grad);
    RUN(test_cross_entropy_huge_logits);
    RUN(test_cross_entropy_bad_target);
    RUN(test_argmax);
    RUN(test_elementwise);
    RUN(test_dropout);
    fprintf(stderr, "largest errors: fast vs reference %.3g (tolerance %g), gradient vs finite differences %.3g "
                    "(tolerance %g)\n",
            worst_vs_ref, TOL_VS_REF, worst_grad, TOL_GRAD);
    return test_summary();
}
