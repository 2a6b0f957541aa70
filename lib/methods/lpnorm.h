// lpnorm.h: lambda * ||v||_p as a regulariser, v a group of tensors taken as
// one vector (DEAL's ||theta1||_a and ||theta2||_b, O-LoRA's ||A||_2).
#ifndef DEAL_LPNORM_H
#define DEAL_LPNORM_H

#include <stddef.h>

// One tensor of the group; its gradient goes to dx.
typedef struct {
    const float *x;
    float *dx;
    size_t n;
} lp_piece;

// Returns lambda * ||v||_p (lambda * ||v||_p^p when power) and adds its
// gradient times scale into the pieces' dx. At v = 0 the norm has no
// gradient; we take 0 (the subgradient that leaves v there).
double lp_penalty(const lp_piece *pieces, int n, double p, int power, double lambda, float scale);

#endif
