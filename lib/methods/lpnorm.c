// lpnorm.c: the p-norm penalty, scaled by the largest |v| so that p = 10
// neither overflows nor underflows.
#include "methods/lpnorm.h"

#include <math.h>

// x^p; the common p = 2 (and its derivative's p - 1 = 1) without pow().
static double to_the(double x, double p) { return p == 1 ? x : p == 2 ? x * x : pow(x, p); }

double lp_penalty(const lp_piece *pieces, int n, double p, int power, double lambda, float scale) {
    double top = 0;
    for (int k = 0; k < n; k++)
        for (size_t i = 0; i < pieces[k].n; i++) top = fmax(top, fabs((double)pieces[k].x[i]));
    if (top == 0 || lambda == 0) return 0;
    double sum = 0;  // sum (|v_i| / top)^p
    for (int k = 0; k < n; k++)
        for (size_t i = 0; i < pieces[k].n; i++) sum += to_the(fabs((double)pieces[k].x[i]) / top, p);
    double norm = top * pow(sum, 1.0 / p);
    // d||v||_p/dv_i = sign(v_i) (|v_i| / ||v||_p)^(p-1);  d||v||_p^p/dv_i = p sign(v_i) |v_i|^(p-1).
    for (int k = 0; k < n; k++) {
        if (!pieces[k].dx) continue;
        for (size_t i = 0; i < pieces[k].n; i++) {
            double v = pieces[k].x[i];
            if (v == 0) continue;
            double g = power ? p * to_the(fabs(v), p - 1) : to_the(fabs(v) / norm, p - 1);
            pieces[k].dx[i] += (float)(scale * lambda * copysign(g, v));
        }
    }
    return lambda * (power ? pow(norm, p) : norm);
}
