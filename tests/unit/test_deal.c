// test_deal.c: the mechanics of DEAL (docs/deal-method.md): the SVD, the heat
// and Haar retention against the spec's closed forms, the update MLP, the
// identity at the start of a task for every retention/update choice, the
// materialised adapter against the on-the-fly forward, and every gradient
// against finite differences, branch by branch and through the whole model.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "methods/deal.h"
#include "methods/registry.h"
#include "methods/svd.h"
#include "model/model.h"
#include "buffers.h"
#include "test.h"
#include "toy_batch.h"
#include "train/adapter.h"

#define FD_EPS 1e-3f
#define TOL_GRAD 1e-2

static float *random_matrix(rng *r, size_t n, float scale) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * rng_float(r) - 1.0f) * scale;
    return x;
}

static const trainable *param_named(const method *me, const char *suffix) {
    size_t ns = strlen(suffix);
    for (int i = 0; i < me->n_params; i++) {
        size_t n = strlen(me->params[i].name);
        if (n >= ns && strcmp(me->params[i].name + n - ns, suffix) == 0) return &me->params[i];
    }
    return NULL;
}

// Moves every parameter away from its identity start, so that no gradient
// vanishes for want of a non-zero neighbour (dc needs g != 0, dW1 needs W2 != 0).
static void perturb(method *me, rng *r, float scale) {
    for (int i = 0; i < me->n_params; i++)
        for (size_t k = 0; k < me->params[i].n; k++) me->params[i].data[k] += (2.0f * rng_float(r) - 1.0f) * scale;
}

// ---- the SVD ---------------------------------------------------------------

// Relative reconstruction error of U diag(sig) V^T and V's distance from orthogonal.
static void check_svd(const float *Y, int d, int r) {
    double *U = xmalloc((size_t)d * r * sizeof *U), *sig = xmalloc((size_t)r * sizeof *sig);
    double *V = xmalloc((size_t)r * r * sizeof *V);
    svd_thin(Y, d, r, U, sig, V);
    double err = 0, norm = 0, orth = 0;
    for (int a = 0; a < d; a++)
        for (int b = 0; b < r; b++) {
            double s = 0;
            for (int k = 0; k < r; k++) s += U[(size_t)a * r + k] * sig[k] * V[b * r + k];
            err += (s - Y[(size_t)a * r + b]) * (s - Y[(size_t)a * r + b]);
            norm += (double)Y[(size_t)a * r + b] * Y[(size_t)a * r + b];
        }
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) {
            double s = 0;
            for (int k = 0; k < r; k++) s += V[k * r + i] * V[k * r + j];
            orth = fmax(orth, fabs(s - (i == j)));
        }
    CHECK(sqrt(err) <= 1e-6 * sqrt(norm));
    CHECK(orth <= 1e-12);
    for (int k = 1; k < r; k++) CHECK(sig[k] <= sig[k - 1] * (1 + 1e-9) + 1e-12);
    free(U), free(sig), free(V);
}

static void test_svd_reconstructs(void) {
    rng r;
    rng_seed(&r, 1);
    int shapes[][2] = {{64, 16}, {32, 4}, {5, 8}, {300, 32}};  // d < r is rank deficient
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        float *Y = random_matrix(&r, (size_t)shapes[i][0] * shapes[i][1], 0.3f);
        check_svd(Y, shapes[i][0], shapes[i][1]);
        free(Y);
    }
    // Repeated columns (rank 2 of 4), widely spread scales, and zero.
    float *Y = random_matrix(&r, 40 * 4, 1.0f);
    for (int a = 0; a < 40; a++) Y[a * 4 + 2] = Y[a * 4 + 0], Y[a * 4 + 3] = Y[a * 4 + 1] * 1e-4f;
    check_svd(Y, 40, 4);
    memset(Y, 0, 40 * 4 * sizeof *Y);
    check_svd(Y, 40, 4);
    free(Y);
    // A known spectrum: Y = diag(3, 2, 1) padded with zero rows.
    float D[5 * 3] = {0, 0, 3, 2, 0, 0, 0, 1, 0};
    double sig[3], V[9];
    svd_thin(D, 5, 3, NULL, sig, V);
    CHECK_NEAR(sig[0], 3, 1e-12);
    CHECK_NEAR(sig[1], 2, 1e-12);
    CHECK_NEAR(sig[2], 1, 1e-12);
}

// ---- one branch against the spec's formulas ---------------------------------------

typedef struct {
    int d, r, J, h;
} dims;

static deal_branch *branch(const float *Y, dims s, deal_retention ret, int mlp, int train_factor, method **me) {
    rng init;
    rng_seed(&init, 5);
    deal_branch *b = deal_branch_new(Y, s.d, s.r, ret, mlp, s.J, s.h, train_factor, &init);
    *me = method_new("test");
    deal_branch_params(b, *me, "x");
    return b;
}

// The heat filter as the spec writes it: X = U diag(sig * m(sig)) V^T, with
// widths sig_max / 2^(j-1) and initial centres evenly spaced on [sig_min, sig_max].
static void test_heat_closed_form(void) {
    dims s = {23, 6, 3, 0};
    rng r;
    rng_seed(&r, 2);
    float *Y = random_matrix(&r, (size_t)s.d * s.r, 0.5f);
    method *me;
    deal_branch *b = branch(Y, s, RETENTION_HEAT, 0, 0, &me);
    double U[23 * 6], sig[6], V[36];
    svd_thin(Y, s.d, s.r, U, sig, V);
    const trainable *g = param_named(me, ".heat_gain"), *shift = param_named(me, ".heat_centre_shift");
    CHECK(g && shift && g->n == 3 && shift->n == 3);
    for (int j = 0; j < 3; j++) CHECK(g->data[j] == 0.0f && shift->data[j] == 0.0f);
    perturb(me, &r, 0.3f);
    const float *X = deal_branch_forward(b);
    double worst = 0;
    for (int a = 0; a < s.d; a++)
        for (int col = 0; col < s.r; col++) {
            double want = 0;
            for (int k = 0; k < s.r; k++) {
                double m = 1;
                for (int j = 0; j < 3; j++) {
                    double c = sig[5] + (sig[0] - sig[5]) * j / 2.0 + shift->data[j];  // evenly spaced, shifted
                    double w = sig[0] / pow(2, j), z = (sig[k] - c) / w;
                    m += g->data[j] * exp(-z * z / 2);
                }
                want += U[a * s.r + k] * sig[k] * m * V[col * s.r + k];
            }
            worst = fmax(worst, fabs(X[a * s.r + col] - want));
        }
    CHECK(worst < 1e-5);
    deal_branch_free(b);
    method_free_common(me);
    free(Y);
}

// The public code's Haar variant: one-level 2-D Haar transform with zero
// padding, the approximation band times theta, inverse transform, cropped.
static void haar_reference(const float *Y, int d, int r, const float *theta, float *out) {
    int D = (d + 1) / 2 * 2, R = (r + 1) / 2 * 2;
    double *P = xcalloc((size_t)D * R, sizeof *P);
    for (int a = 0; a < d; a++)
        for (int b = 0; b < r; b++) P[a * R + b] = Y[a * r + b];
    for (int i = 0; i < D / 2; i++)
        for (int j = 0; j < R / 2; j++) {
            double p = P[2 * i * R + 2 * j], q = P[2 * i * R + 2 * j + 1];
            double u = P[(2 * i + 1) * R + 2 * j], v = P[(2 * i + 1) * R + 2 * j + 1];
            // orthonormal bands
            double LL = (p + q + u + v) / 2, LH = (p - q + u - v) / 2, HL = (p + q - u - v) / 2, HH = (p - q - u + v) / 2;
            LL *= theta[i * (R / 2) + j];
            P[2 * i * R + 2 * j] = (LL + LH + HL + HH) / 2;
            P[2 * i * R + 2 * j + 1] = (LL - LH + HL - HH) / 2;
            P[(2 * i + 1) * R + 2 * j] = (LL + LH - HL - HH) / 2;
            P[(2 * i + 1) * R + 2 * j + 1] = (LL - LH - HL + HH) / 2;
        }
    for (int a = 0; a < d; a++)
        for (int b = 0; b < r; b++) out[a * r + b] = (float)P[a * R + b];
    free(P);
}

static void test_haar_closed_form(void) {
    int shapes[][2] = {{8, 4}, {7, 5}};  // even, and odd (zero padding)
    for (int t = 0; t < 2; t++) {
        dims s = {shapes[t][0], shapes[t][1], 0, 0};
        rng r;
        rng_seed(&r, 3);
        float *Y = random_matrix(&r, (size_t)s.d * s.r, 1.0f);
        method *me;
        deal_branch *b = branch(Y, s, RETENTION_HAAR, 0, 0, &me);
        const trainable *t1 = param_named(me, ".haar_theta_minus_1");
        CHECK(t1 && t1->n == (size_t)((s.d + 1) / 2) * ((s.r + 1) / 2));
        perturb(me, &r, 0.8f);
        float *theta = xmalloc(t1->n * sizeof *theta), *want = xmalloc((size_t)s.d * s.r * sizeof *want);
        for (size_t k = 0; k < t1->n; k++) theta[k] = 1.0f + t1->data[k];
        haar_reference(Y, s.d, s.r, theta, want);
        const float *X = deal_branch_forward(b);
        for (int k = 0; k < s.d * s.r; k++) CHECK_NEAR(X[k], want[k], 1e-6);
        free(theta), free(want), free(Y);
        deal_branch_free(b);
        method_free_common(me);
    }
}

// The update MLP row by row in double: y = x + W2 relu(W1 x + b1) + b2.
static void test_mlp_closed_form(void) {
    dims s = {9, 4, 0, 6};
    rng r;
    rng_seed(&r, 4);
    float *Y = random_matrix(&r, (size_t)s.d * s.r, 1.0f);
    method *me;
    deal_branch *b = branch(Y, s, RETENTION_NONE, 1, 0, &me);
    const trainable *W1 = param_named(me, ".mlp_W1"), *b1 = param_named(me, ".mlp_b1");
    const trainable *W2 = param_named(me, ".mlp_W2"), *b2 = param_named(me, ".mlp_b2");
    CHECK(W1 && b1 && W2 && b2 && W1->n == 24 && W2->n == 24 && b1->n == 6 && b2->n == 4);
    float bound = 0;
    for (size_t k = 0; k < W1->n; k++) bound = fmaxf(bound, fabsf(W1->data[k]));
    CHECK(bound > 0 && bound <= 0.5f);  // kaiming-uniform: 1/sqrt(r)
    for (size_t k = 0; k < W2->n; k++) CHECK(W2->data[k] == 0);
    perturb(me, &r, 0.5f);
    const float *out = deal_branch_forward(b);
    double worst = 0;
    for (int a = 0; a < s.d; a++)
        for (int o = 0; o < s.r; o++) {
            double y = Y[a * s.r + o] + b2->data[o];
            for (int j = 0; j < s.h; j++) {
                double z = b1->data[j];
                for (int i = 0; i < s.r; i++) z += W1->data[j * s.r + i] * Y[a * s.r + i];
                y += W2->data[o * s.h + j] * (z > 0 ? z : 0);
            }
            worst = fmax(worst, fabs(out[a * s.r + o] - y));
        }
    CHECK(worst < 1e-5);
    deal_branch_free(b);
    method_free_common(me);
    free(Y);
}

// ---- branch gradients against finite differences -------------------------------------

typedef struct {
    deal_branch *b;
    const float *G;
    size_t n;
} branch_loss;

static double loss_of(void *ctx) {  // L = sum G * Y'
    branch_loss *c = ctx;
    const float *out = deal_branch_forward(c->b);
    double s = 0;
    for (size_t k = 0; k < c->n; k++) s += (double)c->G[k] * out[k];
    return s;
}

static double central_difference(double (*f)(void *), void *ctx, float *x, float eps) {
    float orig = *x;
    *x = orig + eps;
    float xp = *x;
    double fp = f(ctx);
    *x = orig - eps;
    float xm = *x;
    double fm = f(ctx);
    *x = orig;
    return (fp - fm) / ((double)xp - xm);
}

// Largest error of grad against central differences of f, relative, with a
// floor at 5% of the tensor's largest gradient (as test_kernels.c). ReLU has
// kinks: an entry whose step of eps crosses one is judged by the step of eps/4.
static double fd_error(double (*f)(void *), void *ctx, float *x, const float *grad, size_t n) {
    double floor = 0.05 * max_abs(grad, n) + 1e-4, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = INFINITY;
        for (float eps = FD_EPS; eps >= FD_EPS / 4; eps /= 4) {
            double num = central_difference(f, ctx, &x[i], eps);
            e = fmin(e, fabs(num - grad[i]) / (fmax(fabs(num), fabs(grad[i])) + floor));
        }
        worst = fmax(worst, e != e ? INFINITY : e);
    }
    return worst;
}

static void check_branch_grads(deal_retention ret, int mlp, int train_factor) {
    dims s = {11, 5, 3, 7};
    rng r;
    rng_seed(&r, 6);
    float *Y = random_matrix(&r, (size_t)s.d * s.r, 1.0f);
    float *G = random_matrix(&r, (size_t)s.d * s.r, 1.0f);
    method *me;
    deal_branch *b = branch(Y, s, ret, mlp, train_factor, &me);
    perturb(me, &r, 0.3f);
    zero_grads(me->params, me->n_params);
    deal_branch_forward(b);
    deal_branch_backward(b, G);
    branch_loss ctx = {b, G, (size_t)s.d * s.r};
    for (int i = 0; i < me->n_params; i++) {
        trainable *t = &me->params[i];
        double e = fd_error(loss_of, &ctx, t->data, t->grad, t->n);
        if (!(e <= TOL_GRAD)) fprintf(stderr, "  retention %d mlp %d: %s: gradient error %.3g\n", ret, mlp, t->name, e);
        CHECK(e <= TOL_GRAD);
        CHECK(max_abs(t->grad, t->n) > 0);
    }
    CHECK(me->n_params > 0);
    deal_branch_free(b);
    method_free_common(me);
    free(Y), free(G);
}

static void test_branch_gradients(void) {
    for (int ret = 0; ret < 3; ret++)
        for (int mlp = 0; mlp < 2; mlp++) {
            if (ret != RETENTION_NONE || mlp) check_branch_grads((deal_retention)ret, mlp, 0);
            check_branch_grads((deal_retention)ret, mlp, 1);  // the factor trains too
        }
}

// ---- the regulariser -------------------------------------------------------------------------

typedef struct {
    deal_branch *b;
    deal_options o;
} reg_ctx;

static double reg_of(void *ctx) {  // the value only: its gradient, times 0, changes nothing
    reg_ctx *c = ctx;
    return deal_branch_regularizer(c->b, &c->o, 0.0f);
}

static void test_regularizer(void) {
    dims s = {6, 4, 2, 3};
    rng r;
    rng_seed(&r, 7);
    float *Y = random_matrix(&r, (size_t)s.d * s.r, 1.0f);
    method *me;
    deal_branch *b = branch(Y, s, RETENTION_HEAT, 1, 0, &me);
    reg_ctx ctx = {b, deal_defaults};
    // At the start theta1 = 0: only W1 (kaiming) counts, lambda2 |W1|_2.
    const trainable *W1 = param_named(me, ".mlp_W1");
    double w2 = 0;
    for (size_t k = 0; k < W1->n; k++) w2 += (double)W1->data[k] * W1->data[k];
    CHECK_NEAR(reg_of(&ctx), 0.001 * sqrt(w2), 1e-9);
    perturb(me, &r, 0.5f);
    for (int power = 0; power < 2; power++) {
        ctx.o.reg_power = power;
        ctx.o.norm_a = 4, ctx.o.norm_b = 3;
        // By hand: theta1 = (g, c - c0), theta2 = (W1, b1, W2, b2).
        const trainable *g = param_named(me, ".heat_gain"), *shift = param_named(me, ".heat_centre_shift");
        double a1 = 0, a2 = 0;
        for (int j = 0; j < 2; j++) a1 += pow(fabs(g->data[j]), 4) + pow(fabs(shift->data[j]), 4);
        const char *names[] = {".mlp_W1", ".mlp_b1", ".mlp_W2", ".mlp_b2"};
        for (int p = 0; p < 4; p++) {
            const trainable *t = param_named(me, names[p]);
            for (size_t k = 0; k < t->n; k++) a2 += pow(fabs(t->data[k]), 3);
        }
        double want = power ? 0.01 * a1 + 0.001 * a2 : 0.01 * pow(a1, 0.25) + 0.001 * pow(a2, 1.0 / 3);
        CHECK_NEAR(reg_of(&ctx), want, 1e-6 * want);
        zero_grads(me->params, me->n_params);
        deal_branch_regularizer(b, &ctx.o, 1.0f);
        for (int i = 0; i < me->n_params; i++) {
            trainable *t = &me->params[i];
            double e = fd_error(reg_of, &ctx, t->data, t->grad, t->n);
            if (!(e <= TOL_GRAD)) fprintf(stderr, "  regulariser (power %d): %s: error %.3g\n", power, t->name, e);
            CHECK(e <= TOL_GRAD);
        }
    }
    deal_branch_free(b);
    method_free_common(me);
    free(Y);
}

// ---- the method on a model --------------------------------------------------------------

static const char *fixtures[] = {"t5_v1_1", "llama_gqa"};

// The fixture model with its LoRA adapter, trainable: the "previous task".
static model *load_prev(const char *name) {
    char *dir = xasprintf("tests/reference/fixtures/%s", name), *ad = xasprintf("%s/adapter", dir);
    model *m = model_load(dir, backend_cpu());
    adapter_load(m, ad);
    for (int i = 0; i < m->n_linears; i++) {
        lora_factors *lo = m->linears[i]->lora;
        if (lo) lo->dA = m->be->alloc((size_t)lo->r * m->linears[i]->in), lo->dB = m->be->alloc((size_t)m->linears[i]->out * lo->r);
    }
    free(dir), free(ad);
    return m;
}

static size_t logits_n(const model *m) {  // T5: [B, max target, V]; LLaMA: [B, max(source + target), V]
    return (size_t)2 * (m->cfg.arch == ARCH_T5 ? 4 : 10) * m->cfg.vocab_size;
}

static deal_options small_options(void) {
    deal_options o = deal_defaults;
    o.mlp_hidden = 8;  // keeps the finite differences quick; the default is checked below
    return o;
}

// At the first step of a task DEAL's model is the previous adapter's, bit for
// bit, whatever the retention, update, branches or trained factors.
static void test_identity_at_init(void) {
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
        model *prev = load_prev(fixtures[f]);
        toy_batch tb;
        toy_init(&tb, prev->cfg.vocab_size);
        float *want = logits_of(prev, NULL, &tb.b, logits_n(prev));
        for (int ret = 0; ret < 3; ret++)
            for (int mlp = 0; mlp < 2; mlp++)
                for (int variant = 0; variant < 4; variant++) {  // both branches, A, B, both + factors
                    deal_options o = deal_defaults;
                    o.retention = (deal_retention)ret, o.mlp = mlp;
                    o.branch_a = variant != 2, o.branch_b = variant != 1, o.train_factors = variant == 3;
                    if (ret == RETENTION_NONE && !mlp) o.train_factors = 1;
                    model *m = load_prev(fixtures[f]);
                    rng init;
                    rng_seed(&init, 9);
                    method *me = method_deal(m, &o, &init);
                    float *got = logits_of(m, me, &tb.b, logits_n(m));
                    int same = memcmp(got, want, logits_n(m) * sizeof *got) == 0;
                    if (!same) fprintf(stderr, "  %s: retention %d mlp %d variant %d differs\n", fixtures[f], ret, mlp, variant);
                    CHECK(same);
                    free(got);
                    me->free(me);
                    model_free(m);
                }
        free(want);
        model_free(prev);
    }
}

// Spec defaults on a model: hidden max(128, r/2), J = 4, both branches.
static void test_defaults(void) {
    model *m = load_prev("t5_v1_1");
    rng init;
    rng_seed(&init, 1);
    method *me = method_deal(m, &deal_defaults, &init);
    int adapted = 0;
    for (int i = 0; i < m->n_linears; i++) adapted += m->linears[i]->lora != NULL;
    CHECK(me->n_params == adapted * 2 * 6);  // gain, centre shift, W1, b1, W2, b2 per branch
    const trainable *W1 = param_named(me, "q.deal_A.mlp_W1"), *g = param_named(me, "q.deal_B.heat_gain");
    CHECK(W1 && W1->n == 128 * 4);
    CHECK(g && g->n == 4);
    CHECK(deal_defaults.lambda1 == 0.01f && deal_defaults.lambda2 == 0.001f);
    CHECK(deal_defaults.norm_a == 10 && deal_defaults.norm_b == 2 && !deal_defaults.reg_power);
    me->free(me);
    model_free(m);
}

static void deal_bad_norms(void *arg) {
    (void)arg;
    model *m = load_prev("t5_v1_1");
    deal_options o = deal_defaults;
    o.norm_a = 2, o.norm_b = 3;
    rng init;
    rng_seed(&init, 1);
    method_deal(m, &o, &init);
}

static void test_norm_order_required(void) { CHECK(dies_with(deal_bad_norms, NULL, "--norm-a (2) must be at least --norm-b (3)")); }

// Training moves the parameters; the adapter saved afterwards (A', B'
// materialised) gives the model the on-the-fly forward had, bit for bit.
static void test_materialised_equals_on_the_fly(void) {
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
        for (int ret = 0; ret < 3; ret++) {
            model *m = load_prev(fixtures[f]);
            deal_options o = small_options();
            o.retention = (deal_retention)ret;
            rng r;
            rng_seed(&r, 10);
            method *me = method_deal(m, &o, &r);
            perturb(me, &r, 0.2f);
            toy_batch tb;
            toy_init(&tb, m->cfg.vocab_size);
            float *fly = logits_of(m, me, &tb.b, logits_n(m));
            char tmpl[] = "/tmp/test_deal_XXXXXX";
            char *dir = mkdtemp(tmpl), *out = xasprintf("%s/adapter", dir);
            char *fdir = xasprintf("tests/reference/fixtures/%s", fixtures[f]), *prev_dir = xasprintf("%s/adapter", fdir);
            lora_config lc = adapter_read_config(prev_dir);
            adapter_record rec = {.method = xstrdup("deal"), .r = lc.r, .alpha = lc.alpha};
            record_add_task(&rec, "t2");
            method_save(me, m, &lc, &rec, "base", out);
            model *fresh = model_load(fdir, backend_cpu());
            adapter_load(fresh, out);
            float *saved = logits_of(fresh, NULL, &tb.b, logits_n(fresh));
            CHECK(memcmp(fly, saved, logits_n(m) * sizeof *fly) == 0);
            // ... and differs from the previous adapter's: the parameters did something.
            model *prev = load_prev(fixtures[f]);
            float *before = logits_of(prev, NULL, &tb.b, logits_n(prev));
            CHECK(memcmp(fly, before, logits_n(m) * sizeof *fly) != 0);
            adapter_record back = record_read(out);
            CHECK_STR(back.method, "deal");
            CHECK(back.n_tasks == 1 && strcmp(back.tasks[0], "t2") == 0);
            record_free(&back), record_free(&rec);
            remove_tree(dir);
            free(fly), free(saved), free(before), free(out), free(fdir), free(prev_dir);
            lora_config_free(&lc);
            me->free(me);
            model_free(m), model_free(fresh), model_free(prev);
        }
    }
}

// Gradients through the whole model: loss -> A', B' -> theta (and factors).
typedef struct {
    model *m;
    method *me;
    const batch *b;
} model_ctx;

static double model_loss(void *ctx) {
    model_ctx *c = ctx;
    c->me->before_forward(c->me, c->m);
    return model_step(c->m, c->b, NULL, 0.0f, NULL);
}

// The derivative of the loss along direction v [n] of x, by central differences.
static double directional(double (*f)(void *), void *ctx, float *x, const float *v, size_t n, float eps) {
    float *orig = xmalloc(n * sizeof *orig);
    memcpy(orig, x, n * sizeof *orig);
    for (size_t i = 0; i < n; i++) x[i] = orig[i] + eps * v[i];
    double fp = f(ctx);
    for (size_t i = 0; i < n; i++) x[i] = orig[i] - eps * v[i];
    double fm = f(ctx);
    memcpy(x, orig, n * sizeof *orig);
    free(orig);
    return (fp - fm) / (2 * eps);
}

// The whole model's loss (a sum over a few tokens, in float) is too coarse for
// entry-wise differences of small gradients, so each tensor is checked along
// random unit directions v: the derivative must be g . v to 5% of |g| (plus
// what the float loss resolves; a wiring error is of order 100%). The branch tests above check every entry.
static void test_model_gradients(void) {
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++)
        for (int ret = 0; ret < 3; ret++) {
            model *m = load_prev(fixtures[f]);
            deal_options o = small_options();
            o.retention = (deal_retention)ret, o.train_factors = ret == RETENTION_HEAT;
            rng r;
            rng_seed(&r, 11);
            method *me = method_deal(m, &o, &r);
            perturb(me, &r, 0.05f);
            // b1 near 1 keeps every pre-activation positive, away from ReLU's kink
            // (where differences are meaningless); the branch tests cover both sides.
            for (int i = 0; i < me->n_params; i++)
                if (strstr(me->params[i].name, ".mlp_b1"))
                    for (size_t k = 0; k < me->params[i].n; k++) me->params[i].data[k] += 1.0f;
            toy_batch tb;
            toy_init(&tb, m->cfg.vocab_size);
            zero_grads(me->params, me->n_params);
            me->before_forward(me, m);
            model_step(m, &tb.b, NULL, 1.0f, NULL);
            me->after_backward(me, m);
            model_ctx ctx = {m, me, &tb.b};
            // What differences of a float loss resolve: a few ulps of it over the step.
            double resolution = 4 * 1.2e-7 * fabs(model_loss(&ctx)) / 1e-3;
            double worst = 0;
            for (int i = 0; i < me->n_params; i++) {
                trainable *t = &me->params[i];
                float *v = xmalloc(t->n * sizeof *v);
                double norm = 0;
                for (size_t k = 0; k < t->n; k++) norm += (double)t->grad[k] * t->grad[k];
                norm = sqrt(norm);
                CHECK(norm > 0);
                for (int dir = 0; dir < 2; dir++) {
                    double want = 0, vn = 0;
                    for (size_t k = 0; k < t->n; k++) v[k] = rng_float(&r) - 0.5f, vn += (double)v[k] * v[k];
                    for (size_t k = 0; k < t->n; k++) v[k] /= (float)sqrt(vn), want += (double)t->grad[k] * v[k];
                    double e = fabs(directional(model_loss, &ctx, t->data, v, t->n, 1e-3f) - want) / (norm + resolution);
                    if (!(e <= 0.05)) fprintf(stderr, "  %s retention %d: %s: error %.3g of |g| %.3g\n", fixtures[f], ret, t->name, e, norm);
                    worst = fmax(worst, e);
                }
                free(v);
            }
            printf("  %s retention %d: %d tensors, worst directional error %.2g of |g|\n", fixtures[f], ret,
                   me->n_params, worst);
            CHECK(worst <= 0.05);
            me->free(me);
            model_free(m);
        }
}

int main(void) {
    RUN(test_svd_reconstructs);
    RUN(test_heat_closed_form);
    RUN(test_haar_closed_form);
    RUN(test_mlp_closed_form);
    RUN(test_branch_gradients);
    RUN(test_regularizer);
    RUN(test_identity_at_init);
    RUN(test_defaults);
    RUN(test_norm_order_required);
    RUN(test_materialised_equals_on_the_fly);
    RUN(test_model_gradients);
    return test_summary();
}
