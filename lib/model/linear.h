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
    const void *wb;  // w in the backend's bf16 form when its products run in bf16, else NULL
    float *dw;  // NULL unless the weight trains (full fine-tuning)
    lora_factors *lora;  // NULL: a plain linear layer

    // Saved by linear_forward for linear_backward.
    int N;
    const float *x;  // input [N, in]
    int dropped;  // the LoRA input went through dropout, with this seed
    uint64_t dropout_seed;
    const float *xd;  // the LoRA input drop(x) [N, in] (x itself without dropout)
    float *h;  // drop(x) A^T [N, r]
} linear;

// y[N, out] = beta * y + the layer applied to x[N, in] (beta 1 adds the layer's
// output to a residual stream in place). rng != NULL means training (LoRA
// dropout on); scratch buffers come from the arena.
void linear_forward(const backend *be, arena *ar, linear *l, float *y, const float *x, int N, float beta,
                    rng *dropout_rng);
// dx[N, in] = beta * dx + the input gradient (if dx is not NULL; beta 0 or 1:
// write or add), and accumulates the gradients of whatever trains (dw, dA,
// dB), given dy[N, out]. Uses the last forward call's inputs; its scratch
// buffers stay on the arena (callers rewind it per layer).
void linear_backward(const backend *be, arena *ar, linear *l, float *dx, const float *dy, float beta);

#endif
