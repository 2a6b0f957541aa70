// adamw.h: AdamW (torch.optim.AdamW's update, bias-corrected) over a list of
// trainable tensors, and gradient-norm clipping.
#ifndef DEAL_ADAMW_H
#define DEAL_ADAMW_H

#include <stddef.h>

typedef struct {
    float *data, *grad;  // backend memory (host-addressable on the CPU backend)
    size_t n;
    const char *name;  // for checkpoints
} trainable;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    long step;  // updates done so far
    trainable *t;
    int n;
    float **m, **v;  // first and second moments, one array per tensor
} adamw;

void adamw_init(adamw *o, trainable *t, int n, float lr, float weight_decay);
void adamw_free(adamw *o);
// The L2 norm of all gradients together; if above max_norm (> 0), scales them
// down to it, as torch.nn.utils.clip_grad_norm_. Returns the norm before clipping.
double clip_grad_norm(trainable *t, int n, double max_norm);
// One update from the current gradients.
void adamw_step(adamw *o);
void zero_grads(trainable *t, int n);

#endif
