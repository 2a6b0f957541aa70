// model.h: a T5 or LLaMA-family model loaded from a Hugging Face folder, with
// the passes the tools need: loss (+ gradients), logits, greedy generation.
// The architecture-specific halves live in t5.c and llama.c; this interface
// is what deal-train, deal-predict and the methods see.
#ifndef DEAL_MODEL_H
#define DEAL_MODEL_H

#include <stdint.h>

#include "base/rng.h"
#include "model/config.h"
#include "model/linear.h"
#include "nn/arena.h"
#include "nn/backend.h"

// One named weight of the checkpoint (HF name), in backend memory.
typedef struct {
    char *name;
    float *data;
    float *grad;  // NULL unless the weight trains (full fine-tuning)
    void *bf16;  // its bf16 form for the backend's bf16 products (model_use_bf16), or NULL
    size_t n;
    int ndim;
    int64_t shape[2];
} param;

// A batch of examples as the tokens stream holds them (see data/tokens.h):
// source and target ids per example, borrowed.
typedef struct {
    int B;
    int32_t **source, **target;
    int *n_source, *n_target;
} batch;

typedef struct model model;
typedef struct model_arch_ops model_arch_ops;

struct model {
    model_config cfg;
    const backend *be;
    const model_arch_ops *ops;
    void *impl;  // the architecture's own state (t5.c, llama.c)
    arena ar;  // activations of the current step
    param *params;
    int n_params;
    linear **linears;  // every linear layer, in checkpoint order
    int n_linears;
    int bf16;  // frozen weights' products in bf16 (model_use_bf16)
};

// What each architecture implements.
struct model_arch_ops {
    void (*load)(model *m, const char *dir);
    // Forward (and backward if dloss_scale != 0) over a batch; returns the sum
    // of the target tokens' cross-entropy; gradients accumulate as
    // d(dloss_scale * sum). If logits is not NULL the host buffer receives them
    // (T5: decoder logits [B, max target, V]; LLaMA: [B, max(source+target), V]).
    double (*step)(model *m, const batch *b, rng *dropout, float dloss_scale, float *logits);
    // Greedy decoding of each source; out[b] receives up to max_new ids (the
    // eos included when reached), n_out[b] their count.
    void (*generate)(model *m, const batch *b, int max_new, int eos, int32_t **out, int *n_out);
    void (*free)(model *m);
};

model *model_load(const char *dir, const backend *be);
void model_free(model *m);

// Loss and gradients; see model_arch_ops.step. Resets the activation arena.
double model_step(model *m, const batch *b, rng *dropout, float dloss_scale, float *logits);
void model_generate(model *m, const batch *b, int max_new, int eos, int32_t **out, int *n_out);
// Number of target tokens the loss counts in b.
long batch_target_tokens(const batch *b);

// Gradients for every weight (full fine-tuning); allocated zeroed.
void model_train_all_weights(model *m);
// From now on the frozen weights' products (linear layers, the vocabulary
// projection) run in bf16 with fp32 accumulation, as under bf16 autocast:
// faster on CPUs with AVX512-BF16, results within bf16's precision of fp32.
// Dies if the backend has no bf16 products or every weight trains.
void model_use_bf16(model *m);
// The bf16 form of a frozen weight (made on first use) when the model uses
// bf16 products, else NULL (the weight then goes through fp32 products).
const void *model_bf16_of(model *m, const float *data);
// Attaches a LoRA branch (rank r, alpha, dropout) to every linear layer whose
// last name component is one of targets (e.g. "q", "v" or "q_proj"); A is
// kaiming-uniform(a = sqrt 5) from init, B zero (PEFT's init), both train.
// Returns the number of layers adapted; dies if none matches.
int model_add_lora(model *m, int r, float alpha, float dropout, char *const *targets, int n_targets, rng *init);
// The linear layer with this module name, or NULL.
linear *model_find_linear(const model *m, const char *name);

// ---- for the architecture files ----
// Reads a weight (HF name, shape d0 x d1, d1 = 0 for a vector) from the
// checkpoint into backend memory and registers it as a param.
struct safetensors;
float *model_load_param(model *m, const struct safetensors *st, const char *name, int64_t d0, int64_t d1);
// A linear layer "<name>.weight" of shape [out, in], registered in m->linears.
void model_load_linear(model *m, const struct safetensors *st, linear *l, const char *name, int in, int out);
// The gradient buffer of a weight, NULL while it is frozen.
float *model_grad_of(const model *m, const float *data);

#endif
