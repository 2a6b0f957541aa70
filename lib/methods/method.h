// method.h: where a continual-learning method hooks into training. Plain LoRA
// (task 1 of every method, and seqlora) needs none of the hooks; DEAL,
// O-LoRA and the others fill in what they change. registry.h builds a method
// by name for a task, from a fresh LoRA or the previous task's adapter.
#ifndef DEAL_METHOD_H
#define DEAL_METHOD_H

#include "data/tokens.h"
#include "model/model.h"
#include "train/adamw.h"

typedef struct method method;
struct method {
    const char *name;
    trainable *params;  // what the optimizer updates
    int n_params;
    // Before each forward pass: set the LoRA factors the model uses (DEAL
    // materialises A', B' from the frozen factors and its parameters). Also
    // called once after training, so the model holds the adapter to save.
    void (*before_forward)(method *me, model *m);
    // After each backward pass: turn the factors' gradients into the method's
    // parameters' gradients.
    void (*after_backward)(method *me, model *m);
    // Adds the regulariser's gradient (times scale) and returns its value.
    double (*regularizer)(method *me, model *m, float scale);
    // Before training: change the task's data (replay mixes in its buffer of
    // earlier tasks' examples). The data must outlive the method.
    void (*prepare_data)(method *me, token_set *data);
    // Writes what the next task needs, beyond the adapter itself, into the
    // adapter folder being written (replay: its buffer).
    void (*save)(method *me, const char *dir);
    void (*free)(method *me);
    void *state;
};

// Plain LoRA: the optimizer trains every LoRA factor of m (and every weight
// when m trains all weights).
method *method_lora(model *m);

// For the methods' constructors: a method with no hooks and no parameters;
// registering a trainable tensor (name: a fresh string the method then owns);
// and the end of every method's free (the list and me itself).
method *method_new(const char *name);
void method_add_param(method *me, float *data, float *grad, size_t n, char *name);
void method_free_common(method *me);

#endif
