// method.h: where a continual-learning method hooks into training. Plain LoRA
// (task 1 of every method, and seqlora) needs none of the hooks; DEAL,
// O-LoRA and the others fill in what they change.
#ifndef DEAL_METHOD_H
#define DEAL_METHOD_H

#include "model/model.h"
#include "train/adamw.h"

typedef struct method method;
struct method {
    const char *name;
    trainable *params;  // what the optimizer updates
    int n_params;
    // Before each forward pass: set the LoRA factors the model uses (DEAL
    // materialises A', B' from the frozen factors and its parameters).
    void (*before_forward)(method *me, model *m);
    // After each backward pass: turn the factors' gradients into the method's
    // parameters' gradients.
    void (*after_backward)(method *me, model *m);
    // Adds the regulariser's gradient (times scale) and returns its value.
    double (*regularizer)(method *me, model *m, float scale);
    void (*free)(method *me);
    void *state;
};

// Plain LoRA: the optimizer trains every LoRA factor of m (and every weight
// when m trains all weights).
method *method_lora(model *m);

#endif
