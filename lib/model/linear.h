// linear.h: a linear layer y = x W^T, optionally with a LoRA branch
// (PEFT's convention):  y = x W^T + s * (drop(x) A^T) B^T,  s = alpha / r,
// A [r, in], B [out, r]. The layer keeps what its backward pass needs from
// the last forward call.
#ifndef DEAL_LINEAR_H
#define DEAL_LINEAR_H

#include "base/rng.h"
#include "nn/arena.h"
#include "nn/backend.h"

typedef struct {
    int r;
    float scale;  // alpha / r
    float dropout;  // probability of zeroing an input of the LoRA branch in training
    float *A, *B;  // [r, in], [out, r], backend memory
    float *dA, *dB;  // their gradients, NULL when frozen
} lora_factors;

typedef struct {
    char *name;  // module path in the HF checkpoint, e.g. "encoder.block.0.layer.0.SelfAttention.q"
    int in, out;
    float *w;  // [out, in]
    float *dw;  // NULL unless the weight trains (full fine-tuning)
    lora_factors *lora;  // NULL: a plain linear layer

    // Saved by linear_forward for linear_backward.
    int N;
    const float *x;  // input [N, in]
    float *xd;  // LoRA branch input, drop(x) (== x without dropout)
    float *mask;  // dropout mask [N, in] (0 or 1/(1-p)), NULL without dropout
    float *h;  // xd A^T [N, r]
} linear;

// y[N, out] = the layer applied to x[N, in]. rng != NULL means training
// (LoRA dropout on); scratch buffers come from the arena.
void linear_forward(const backend *be, arena *ar, linear *l, float *y, const float *x, int N, rng *dropout_rng);
// Accumulates dx[N, in] (if not NULL) and the gradients of whatever trains
// (dw, dA, dB), given dy[N, out]. Uses the last forward call's inputs.
void linear_backward(const backend *be, arena *ar, linear *l, float *dx, const float *dy);

#endif
