// svd.c: thin SVD through the Gram matrix, eigenvalues by cyclic Jacobi.
#include "methods/svd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// Rotates rows/columns p and q of S and columns p and q of V so that S[p][q]
// becomes 0 (the classic Jacobi rotation, stable form of Golub & Van Loan 8.4).
static void rotate(double *S, double *V, int n, int p, int q) {
    double apq = S[p * n + q];
    if (apq == 0.0) return;
    double theta = (S[q * n + q] - S[p * n + p]) / (2.0 * apq);
    double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
    double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
    for (int k = 0; k < n; k++) {  // S = S J (columns p, q)
        double a = S[k * n + p], b = S[k * n + q];
        S[k * n + p] = c * a - s * b;
        S[k * n + q] = s * a + c * b;
    }
    for (int k = 0; k < n; k++) {  // S = J^T S (rows p, q)
        double a = S[p * n + k], b = S[q * n + k];
        S[p * n + k] = c * a - s * b;
        S[q * n + k] = s * a + c * b;
    }
    for (int k = 0; k < n; k++) {
        double a = V[k * n + p], b = V[k * n + q];
        V[k * n + p] = c * a - s * b;
        V[k * n + q] = s * a + c * b;
    }
}

static double off_diagonal(const double *S, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) sum += S[i * n + j] * S[i * n + j];
    return sum;
}

// S (symmetric n x n, row-major, overwritten) = V diag(eig) V^T, eigenvalues
// in decreasing order.
static void eigen_symmetric(double *S, int n, double *eig, double *V) {
    double total = 0;
    for (int i = 0; i < n * n; i++) total += S[i] * S[i];
    memset(V, 0, (size_t)n * n * sizeof *V);
    for (int i = 0; i < n; i++) V[i * n + i] = 1.0;
    // Jacobi converges quadratically; 50 sweeps is far beyond what r <= 64 needs.
    for (int sweep = 0; sweep < 50 && off_diagonal(S, n) > 1e-30 * total; sweep++)
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++) rotate(S, V, n, p, q);
    // Sort eigenpairs by decreasing eigenvalue (selection sort: n is small).
    for (int i = 0; i < n; i++) eig[i] = S[i * n + i];
    for (int i = 0; i < n; i++) {
        int best = i;
        for (int j = i + 1; j < n; j++)
            if (eig[j] > eig[best]) best = j;
        if (best == i) continue;
        double t = eig[i];
        eig[i] = eig[best], eig[best] = t;
        for (int k = 0; k < n; k++) {
            t = V[k * n + i];
            V[k * n + i] = V[k * n + best], V[k * n + best] = t;
        }
    }
}

void svd_thin(const float *Y, int d, int r, double *U, double *sig, double *V) {
    double *G = xcalloc((size_t)r * r, sizeof *G), *eig = xmalloc((size_t)r * sizeof *eig);
    for (int a = 0; a < d; a++) {
        const float *y = Y + (size_t)a * r;
        for (int i = 0; i < r; i++)
            for (int j = i; j < r; j++) G[i * r + j] += (double)y[i] * y[j];
    }
    for (int i = 0; i < r; i++)
        for (int j = 0; j < i; j++) G[i * r + j] = G[j * r + i];
    eigen_symmetric(G, r, eig, V);
    // sig_k = |Y v_k| directly: more accurate than sqrt(eig_k) for small values.
    double *col = xmalloc((size_t)d * sizeof *col);
    for (int k = 0; k < r; k++) {
        double norm2 = 0;
        for (int a = 0; a < d; a++) {
            double s = 0;
            for (int i = 0; i < r; i++) s += (double)Y[(size_t)a * r + i] * V[i * r + k];
            col[a] = s;
            norm2 += s * s;
        }
        sig[k] = sqrt(norm2);
        if (U)
            for (int a = 0; a < d; a++) U[(size_t)a * r + k] = sig[k] > 0 ? col[a] / sig[k] : 0.0;
    }
    free(col), free(G), free(eig);
}
