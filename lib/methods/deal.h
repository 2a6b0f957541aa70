// deal.h: DEAL (docs/deal-method.md), tasks t >= 2. For each adapted linear
// and each branch Y in {A_p^T (in x r), B_p (out x r)} of the previous task's
// frozen factors:
//   retention  X = Y + P diag(m(sig) - 1) V^T,   P = Y V, sig_k = |P_k|,
//              m(sig) = 1 + sum_j g_j exp(-(sig - c_j)^2 / (2 w_j^2))
//              with V from the thin SVD of Y taken once at the task's start, so
//              that X = U diag(sig m(sig)) V^T as in the spec while Y is frozen;
//              (haar: X = Y + (theta_ij - 1) * mean of each 2x2 block; none: X = Y)
//   update     every row x of X (an r-vector): y = x + W2 relu(W1 x + b1) + b2
// and the model uses A' = Y'_A^T, B' = Y'_B, materialised on the host before
// a forward pass whose parameters changed, in O(r (r + hidden) (in + out))
// per linear: plain LoRA at inference, and after the task the adapter saved.
//
// Written as "Y + change" rather than "U diag(...) V^T", X equals Y bit for bit
// while the filter is the identity (g = 0, theta = 1), and the same formula
// stays differentiable in Y when --deal-train-factors trains the factors
// (V and the widths then stay those of the task's start; sig follows Y).
#ifndef DEAL_DEAL_H
#define DEAL_DEAL_H

#include "base/rng.h"
#include "methods/method.h"

typedef enum { RETENTION_HEAT, RETENTION_HAAR, RETENTION_NONE } deal_retention;

typedef struct {
    deal_retention retention;  // default heat
    int kernels;  // J heat kernels (default 4)
    int mlp;  // the update MLP (default on)
    int mlp_hidden;  // its hidden size; 0: max(128, r/2)
    int branch_a, branch_b;  // which factors are transformed (default both)
    int train_factors;  // also train A_p and B_p themselves
    // lambda1 ||theta1||_a + lambda2 ||theta2||_b per branch, summed over the
    // branches; theta1 = (g, c - c_init) (haar: theta - 1), theta2 = the MLP.
    // (Per branch, as a loop over the modules' parameters would add them.)
    float lambda1, lambda2, norm_a, norm_b;
    int reg_power;  // ||.||_a^a and ||.||_b^b instead (Eq. 12 read literally)
} deal_options;

// The spec's defaults.
extern const deal_options deal_defaults;

// DEAL over the LoRA factors m holds now (the previous task's adapter, which
// the model's factors are overwritten with A', B'); init seeds the MLPs' W1.
method *method_deal(model *m, const deal_options *o, rng *init);

// ---- one branch, for deal.c and the tests ----
typedef struct deal_branch deal_branch;
// A branch over the factor Y [d, r] (copied): this retention (heat with
// kernels kernels), the update MLP if mlp (hidden size mlp_hidden, W1 drawn
// from init); train_factor makes Y itself trainable.
deal_branch *deal_branch_new(const float *Y, int d, int r, deal_retention retention, int mlp, int kernels,
                             int mlp_hidden, int train_factor, rng *init);
void deal_branch_free(deal_branch *b);
// Y' [d, r], valid until the next forward; keeps what the backward needs.
const float *deal_branch_forward(deal_branch *b);
// Accumulates the parameters' gradients given dY' [d, r] (of the last forward).
void deal_branch_backward(deal_branch *b, const float *dout);
// Adds lambda1 ||theta1||_a + lambda2 ||theta2||_b's gradient (times scale) and returns its value.
double deal_branch_regularizer(deal_branch *b, const deal_options *o, float scale);
// Registers the branch's trainable tensors with me, named prefix.<what>.
void deal_branch_params(deal_branch *b, method *me, const char *prefix);

#endif
