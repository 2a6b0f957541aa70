// deal_branch.c: one DEAL branch on the host: retention (heat kernels over
// the singular values, the Haar variant, or none), then the rank-space update
// MLP; forward, backward and regulariser. The r x r maths is in double; the
// MLP's products go through the CPU backend (BLAS), whose memory is host memory.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "methods/deal.h"
#include "methods/lpnorm.h"
#include "methods/svd.h"
#include "nn/backend.h"

const deal_options deal_defaults = {.retention = RETENTION_HEAT, .kernels = 4, .mlp = 1, .branch_a = 1,
                                    .branch_b = 1, .lambda1 = 0.01f, .lambda2 = 0.001f, .norm_a = 10, .norm_b = 2};

struct deal_branch {
    int d, r, J, h;
    deal_retention retention;
    int mlp;
    float *Y, *dY;  // the factor [d, r]; dY NULL unless it trains
    // heat: V [r, r], the widths w [J] and initial centres c0 [J] fixed at
    // the task's start; learned: the gains g and the centres' shifts dc,
    // c = c0 + shift (stored as shifts, like haar's theta - 1: theta1 is then
    // the parameters themselves, and weight decay pulls to the identity)
    double *V, *w, *c0;
    float *g, *dg, *shift, *dshift;
    // haar: theta - 1 over the approximation band [ceil(d/2), ceil(r/2)]
    float *t, *dt;
    // update: y = x + W2 relu(W1 x + b1) + b2; W1 [h, r], W2 [r, h]
    float *W1, *dW1, *b1, *db1, *W2, *dW2, *b2, *db2;
    // saved by the forward for the backward
    double *P, *sig, *e, *m1;  // heat: Y V [d, r], sig [r], kernels e [J, r], m(sig) - 1 [r]
    float *X, *H, *out;  // retained [d, r]; the MLP's hidden activation [d, h]; Y' [d, r]
    float *dH;  // the backward's scratch [d, h]
};

static int half(int n) { return (n + 1) / 2; }

// out [d, r] = A [d, r] B [r, r] (row-major; the inner loop runs along rows).
// The simd pragmas here and below: outputs never overlap inputs, which the
// compiler cannot tell (it kept these loops scalar).
static void times(double *out, const double *A, const double *B, int d, int r) {
    for (int a = 0; a < d; a++) {
        double *o = out + (size_t)a * r;
        for (int col = 0; col < r; col++) o[col] = 0;
        for (int k = 0; k < r; k++) {
            double x = A[(size_t)a * r + k];
#pragma omp simd
            for (int col = 0; col < r; col++) o[col] += x * B[k * r + col];
        }
    }
}

static double *to_double(const float *x, size_t n) {
    double *y = xmalloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

// P = Y V and sig_k = |P_k|: once when Y is frozen, else at every forward.
static void project(deal_branch *b) {
    int d = b->d, r = b->r;
    double *Y = to_double(b->Y, (size_t)d * r);
    times(b->P, Y, b->V, d, r);
    for (int k = 0; k < r; k++) b->sig[k] = 0;
    for (size_t a = 0; a < (size_t)d; a++)
        for (int k = 0; k < r; k++) b->sig[k] += b->P[a * r + k] * b->P[a * r + k];
    for (int k = 0; k < r; k++) b->sig[k] = sqrt(b->sig[k]);
    free(Y);
}

static void heat_init(deal_branch *b) {
    int r = b->r, J = b->J;
    b->V = xmalloc((size_t)r * r * sizeof *b->V);
    b->sig = xmalloc((size_t)r * sizeof *b->sig);
    svd_thin(b->Y, b->d, r, NULL, b->sig, b->V);
    b->P = xmalloc((size_t)b->d * r * sizeof *b->P);
    project(b);
    double top = b->sig[0], bottom = b->sig[0];
    for (int k = 1; k < r; k++) top = fmax(top, b->sig[k]), bottom = fmin(bottom, b->sig[k]);
    b->w = xmalloc((size_t)J * sizeof *b->w), b->c0 = xmalloc((size_t)J * sizeof *b->c0);
    b->g = xcalloc((size_t)J, sizeof *b->g), b->dg = xcalloc((size_t)J, sizeof *b->dg);
    b->shift = xcalloc((size_t)J, sizeof *b->shift), b->dshift = xcalloc((size_t)J, sizeof *b->dshift);
    for (int j = 0; j < J; j++) {
        // Multi-scale widths sig_max / 2^(j-1) (j from 1); a zero factor gets
        // widths from 1 instead, harmless since X = Y = 0 then.
        b->w[j] = (top > 0 ? top : 1.0) / ldexp(1.0, j);
        b->c0[j] = J == 1 ? bottom : bottom + (top - bottom) * j / (J - 1);
    }
    b->e = xmalloc((size_t)J * r * sizeof *b->e);
    b->m1 = xmalloc((size_t)r * sizeof *b->m1);
}

// Kaiming-uniform (a = sqrt 5), torch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
static void mlp_init(deal_branch *b, rng *init) {
    size_t nw = (size_t)b->h * b->r;
    float bound = 1.0f / sqrtf((float)b->r);
    b->W1 = xmalloc(nw * sizeof *b->W1), b->dW1 = xcalloc(nw, sizeof *b->dW1);
    for (size_t i = 0; i < nw; i++) b->W1[i] = (2.0f * rng_float(init) - 1.0f) * bound;
    b->b1 = xcalloc((size_t)b->h, sizeof *b->b1), b->db1 = xcalloc((size_t)b->h, sizeof *b->db1);
    b->W2 = xcalloc(nw, sizeof *b->W2), b->dW2 = xcalloc(nw, sizeof *b->dW2);
    b->b2 = xcalloc((size_t)b->r, sizeof *b->b2), b->db2 = xcalloc((size_t)b->r, sizeof *b->db2);
    b->H = xmalloc((size_t)b->d * b->h * sizeof *b->H);
    b->dH = xmalloc((size_t)b->d * b->h * sizeof *b->dH);
    b->out = xmalloc((size_t)b->d * b->r * sizeof *b->out);
}

deal_branch *deal_branch_new(const float *Y, int d, int r, deal_retention retention, int mlp, int kernels,
                             int mlp_hidden, int train_factor, rng *init) {
    deal_branch *b = xcalloc(1, sizeof *b);
    *b = (deal_branch){.d = d, .r = r, .J = kernels, .h = mlp_hidden, .retention = retention, .mlp = mlp};
    size_t n = (size_t)d * r;
    b->Y = xmalloc(n * sizeof *b->Y);
    memcpy(b->Y, Y, n * sizeof *b->Y);
    if (train_factor) b->dY = xcalloc(n, sizeof *b->dY);
    b->X = xmalloc(n * sizeof *b->X);
    if (retention == RETENTION_HEAT) heat_init(b);
    if (retention == RETENTION_HAAR) {
        size_t nt = (size_t)half(d) * half(r);
        b->t = xcalloc(nt, sizeof *b->t), b->dt = xcalloc(nt, sizeof *b->dt);
    }
    if (mlp) mlp_init(b, init);
    return b;
}

void deal_branch_free(deal_branch *b) {
    void *p[] = {b->Y,   b->dY,  b->V,  b->w,   b->c0, b->g,   b->dg, b->shift, b->dshift, b->t,
                 b->dt,  b->W1,  b->dW1, b->b1, b->db1, b->W2, b->dW2, b->b2,    b->db2,    b->P,
                 b->sig, b->e,   b->m1,  b->X,  b->H,   b->dH, b->out};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
    free(b);
}

// ---- retention -------------------------------------------------------------

static double centre(const deal_branch *b, int j) { return b->c0[j] + b->shift[j]; }

static void heat_forward(deal_branch *b) {
    int d = b->d, r = b->r, J = b->J;
    if (b->dY) project(b);
    for (int k = 0; k < r; k++) {
        b->m1[k] = 0;
        for (int j = 0; j < J; j++) {
            double z = (b->sig[k] - centre(b, j)) / b->w[j];
            b->e[j * r + k] = exp(-0.5 * z * z);
            b->m1[k] += b->g[j] * b->e[j * r + k];
        }
    }
    // X = Y + P diag(m - 1) V^T
    double *M = xmalloc((size_t)r * r * sizeof *M), *T = xmalloc((size_t)d * r * sizeof *T);
    for (int k = 0; k < r; k++)
        for (int col = 0; col < r; col++) M[k * r + col] = b->m1[k] * b->V[col * r + k];
    times(T, b->P, M, d, r);
    for (size_t i = 0; i < (size_t)d * r; i++) b->X[i] = (float)(b->Y[i] + T[i]);
    free(M), free(T);
}

static void heat_backward(deal_branch *b, const float *dX) {
    int d = b->d, r = b->r, J = b->J;
    double *G = to_double(dX, (size_t)d * r), *Q = xmalloc((size_t)d * r * sizeof *Q);
    double *dm = xcalloc((size_t)r, sizeof *dm);
    // Q = dX V;  dL/dm_k = P_k . Q_k
    times(Q, G, b->V, d, r);
    for (size_t a = 0; a < (size_t)d; a++)
        for (int k = 0; k < r; k++) dm[k] += Q[a * r + k] * b->P[a * r + k];
    for (int j = 0; j < J; j++) {
        double dg = 0, dc = 0;
        for (int k = 0; k < r; k++) {
            double e = b->e[j * r + k];
            dg += dm[k] * e;
            dc += dm[k] * b->g[j] * e * (b->sig[k] - centre(b, j)) / (b->w[j] * b->w[j]);
        }
        b->dg[j] += (float)dg;
        b->dshift[j] += (float)dc;
    }
    if (b->dY) {
        // dY += dX + (Q diag(m - 1) + P diag(dm m'(sig) / sig)) V^T
        for (int k = 0; k < r; k++) {
            double slope = 0;  // m'(sig_k)
            for (int j = 0; j < J; j++)
                slope -= b->g[j] * b->e[j * r + k] * (b->sig[k] - centre(b, j)) / (b->w[j] * b->w[j]);
            dm[k] = b->sig[k] > 0 ? dm[k] * slope / b->sig[k] : 0;
        }
        double *Vt = xmalloc((size_t)r * r * sizeof *Vt);
        for (int k = 0; k < r; k++)
            for (int col = 0; col < r; col++) Vt[k * r + col] = b->V[col * r + k];
        for (size_t a = 0; a < (size_t)d; a++)
            for (int k = 0; k < r; k++) Q[a * r + k] = Q[a * r + k] * b->m1[k] + b->P[a * r + k] * dm[k];
        times(G, Q, Vt, d, r);
        for (size_t i = 0; i < (size_t)d * r; i++) b->dY[i] += (float)(dX[i] + G[i]);
        free(Vt);
    }
    free(G), free(Q), free(dm);
}

// The one-level 2-D Haar transform with zero padding, the approximation band
// scaled by theta and transformed back, is: every 2x2 block (i, j) gains
// (theta_ij - 1) * (its sum / 4) on each of its entries.
#define FOR_BLOCK(b, i, j, a, col)                                         \
    for (int a = 2 * (i); a < 2 * (i) + 2 && a < (b)->d; a++)                \
        for (int col = 2 * (j); col < 2 * (j) + 2 && col < (b)->r; col++)

static void haar_forward(deal_branch *b) {
    int r = b->r, hr = half(r);
    memcpy(b->X, b->Y, (size_t)b->d * r * sizeof *b->X);
    for (int i = 0; i < half(b->d); i++)
        for (int j = 0; j < hr; j++) {
            float sum = 0, t = b->t[i * hr + j];
            FOR_BLOCK(b, i, j, a, col) sum += b->Y[(size_t)a * r + col];
            FOR_BLOCK(b, i, j, a, col) b->X[(size_t)a * r + col] += t * sum * 0.25f;
        }
}

static void haar_backward(deal_branch *b, const float *dX) {
    int r = b->r, hr = half(r);
    for (int i = 0; i < half(b->d); i++)
        for (int j = 0; j < hr; j++) {
            float sum = 0, dsum = 0, t = b->t[i * hr + j];
            FOR_BLOCK(b, i, j, a, col) sum += b->Y[(size_t)a * r + col], dsum += dX[(size_t)a * r + col];
            b->dt[i * hr + j] += sum * 0.25f * dsum;
            if (b->dY) FOR_BLOCK(b, i, j, a, col) b->dY[(size_t)a * r + col] += t * 0.25f * dsum;
        }
    if (b->dY)
        for (size_t k = 0; k < (size_t)b->d * r; k++) b->dY[k] += dX[k];
}

// ---- update ------------------------------------------------------------------

static void sum_rows(float *acc, const float *x, int rows, int cols) {
    for (int a = 0; a < rows; a++)
#pragma omp simd
        for (int k = 0; k < cols; k++) acc[k] += x[(size_t)a * cols + k];
}

// ReLU without branches: the signs of the pre-activations are a coin toss,
// and a mispredicted branch per value would cost more than the products.
// Its derivative is read off H > 0, so the pre-activation is not kept.
static inline float relu(float z) {
    uint32_t u;
    memcpy(&u, &z, sizeof u);
    u &= (u >> 31) - 1;  // sign bit set: all bits cleared (+0)
    memcpy(&z, &u, sizeof z);
    return z;
}

// g where h > 0, else 0 (h is a ReLU output: +0 or positive).
static inline float where_active(float g, float h) {
    uint32_t ug, uh;
    memcpy(&ug, &g, sizeof ug), memcpy(&uh, &h, sizeof uh);
    ug &= -(uint32_t)(uh != 0);
    memcpy(&g, &ug, sizeof g);
    return g;
}

static void mlp_forward(deal_branch *b) {
    const backend *hb = backend_cpu();
    int d = b->d, r = b->r, h = b->h;
    hb->matmul(b->H, b->X, b->W1, d, r, h, 1.0f, 0.0f);
    for (int a = 0; a < d; a++)
#pragma omp simd
        for (int k = 0; k < h; k++) {
            float *z = &b->H[(size_t)a * h + k];
            *z = relu(*z + b->b1[k]);
        }
    memcpy(b->out, b->X, (size_t)d * r * sizeof *b->out);
    hb->matmul(b->out, b->H, b->W2, d, h, r, 1.0f, 1.0f);
    for (int a = 0; a < d; a++)
#pragma omp simd
        for (int k = 0; k < r; k++) b->out[(size_t)a * r + k] += b->b2[k];
}

// dX = dout + the MLP's input gradient.
static void mlp_backward(deal_branch *b, const float *dout, float *dX) {
    const backend *hb = backend_cpu();
    int d = b->d, r = b->r, h = b->h;
    memcpy(dX, dout, (size_t)d * r * sizeof *dX);
    sum_rows(b->db2, dout, d, r);
    memset(b->dH, 0, (size_t)d * h * sizeof *b->dH);
    hb->matmul_backward(b->dH, b->dW2, dout, b->H, b->W2, d, h, r, 1.0f);
#pragma omp simd
    for (size_t k = 0; k < (size_t)d * h; k++) b->dH[k] = where_active(b->dH[k], b->H[k]);  // dZ, in place
    sum_rows(b->db1, b->dH, d, h);
    hb->matmul_backward(dX, b->dW1, b->dH, b->X, b->W1, d, r, h, 1.0f);
}

// ---- the branch ----------------------------------------------------------------

const float *deal_branch_forward(deal_branch *b) {
    switch (b->retention) {
    case RETENTION_HEAT: heat_forward(b); break;
    case RETENTION_HAAR: haar_forward(b); break;
    case RETENTION_NONE: memcpy(b->X, b->Y, (size_t)b->d * b->r * sizeof *b->X); break;
    }
    if (!b->mlp) return b->X;
    mlp_forward(b);
    return b->out;
}

void deal_branch_backward(deal_branch *b, const float *dout) {
    size_t n = (size_t)b->d * b->r;
    float *dX = (float *)dout;
    if (b->mlp) mlp_backward(b, dout, dX = xmalloc(n * sizeof *dX));
    switch (b->retention) {
    case RETENTION_HEAT: heat_backward(b, dX); break;
    case RETENTION_HAAR: haar_backward(b, dX); break;
    case RETENTION_NONE:
        if (b->dY)
            for (size_t k = 0; k < n; k++) b->dY[k] += dX[k];
        break;
    }
    if (dX != dout) free(dX);
}

double deal_branch_regularizer(deal_branch *b, const deal_options *o, float scale) {
    lp_piece theta1[2], theta2[4];
    int n1 = 0, n2 = 0;
    if (b->retention == RETENTION_HEAT) {
        theta1[n1++] = (lp_piece){b->g, b->dg, (size_t)b->J};
        theta1[n1++] = (lp_piece){b->shift, b->dshift, (size_t)b->J};
    }
    if (b->retention == RETENTION_HAAR) theta1[n1++] = (lp_piece){b->t, b->dt, (size_t)half(b->d) * half(b->r)};
    if (b->mlp) {
        size_t nw = (size_t)b->h * b->r;
        theta2[n2++] = (lp_piece){b->W1, b->dW1, nw};
        theta2[n2++] = (lp_piece){b->b1, b->db1, (size_t)b->h};
        theta2[n2++] = (lp_piece){b->W2, b->dW2, nw};
        theta2[n2++] = (lp_piece){b->b2, b->db2, (size_t)b->r};
    }
    return lp_penalty(theta1, n1, o->norm_a, o->reg_power, o->lambda1, scale) +
           lp_penalty(theta2, n2, o->norm_b, o->reg_power, o->lambda2, scale);
}

void deal_branch_params(deal_branch *b, method *me, const char *prefix) {
    if (b->dY) method_add_param(me, b->Y, b->dY, (size_t)b->d * b->r, xasprintf("%s.factor", prefix));
    if (b->retention == RETENTION_HEAT) {
        method_add_param(me, b->g, b->dg, (size_t)b->J, xasprintf("%s.heat_gain", prefix));
        method_add_param(me, b->shift, b->dshift, (size_t)b->J, xasprintf("%s.heat_centre_shift", prefix));
    }
    if (b->retention == RETENTION_HAAR)
        method_add_param(me, b->t, b->dt, (size_t)half(b->d) * half(b->r), xasprintf("%s.haar_theta_minus_1", prefix));
    if (b->mlp) {
        size_t nw = (size_t)b->h * b->r;
        method_add_param(me, b->W1, b->dW1, nw, xasprintf("%s.mlp_W1", prefix));
        method_add_param(me, b->b1, b->db1, (size_t)b->h, xasprintf("%s.mlp_b1", prefix));
        method_add_param(me, b->W2, b->dW2, nw, xasprintf("%s.mlp_W2", prefix));
        method_add_param(me, b->b2, b->db2, (size_t)b->r, xasprintf("%s.mlp_b2", prefix));
    }
}
