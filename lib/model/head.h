// head.h: the language-model head: final norm, optional rescale (tied T5),
// projection to the vocabulary, softmax cross-entropy; and its backward pass.
#ifndef DEAL_HEAD_H
#define DEAL_HEAD_H

#include <stdint.h>

#include "nn/arena.h"
#include "nn/backend.h"

typedef struct {
    const float *norm;  // final norm weight [C]
    float *dnorm;  // its gradient or NULL
    const float *w;  // vocabulary projection [V, C] (the embedding when tied)
    const void *wb;  // w in bf16 when the model's frozen weights run in bf16, else NULL
    float *dw;  // its gradient or NULL
    float scale;  // applied after the norm: d_model^-0.5 for tied T5, else 1
    float eps;
    int C, V;
    // Saved by the forward pass.
    int N;
    const float *x;
    float *ln, *rstd, *logits, *dlogits;
} lm_head;

// logits [N, V] for the rows of x [N, C]; targets (host, -1 = no loss) give
// the returned sum of cross-entropies; with dloss_scale != 0 the logits'
// gradient is kept for lm_head_backward.
double lm_head_forward(const backend *be, arena *ar, lm_head *h, const float *x, int N, const int32_t *targets,
                       float dloss_scale);
// Accumulates dx [N, C] and the head's weight gradients.
void lm_head_backward(const backend *be, arena *ar, lm_head *h, float *dx);
// The logits of a packed batch (sequence i on rows seq[i]..seq[i+1]-1) into
// the host's padded layout out [B, T, V], padding rows 0.
void lm_head_download_padded(const backend *be, const lm_head *h, float *out, const int *seq, int B, int T);

#endif
