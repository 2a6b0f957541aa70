// registry.h: the continual methods by name (deal-train --method), their
// defaults, and one task's run of a method: set up the LoRA branches (fresh
// for task 1, else from the previous task's adapter), train, save the adapter
// with deal.json and what the next task needs.
//
//   seqlora  plain LoRA continuing --init (nothing against forgetting)
//   deal     DEAL over --init's factors (deal.h); task 1 plain LoRA
//   inclora  a new LoRA block per task, earlier ones frozen (inclora.h)
//   olora    inclora + O-LoRA's orthogonality loss
//   pertask  a fresh adapter per task (no --init); deal-predict picks it by task
//   replay   seqlora + a buffer of earlier tasks' examples (replay.h)
#ifndef DEAL_REGISTRY_H
#define DEAL_REGISTRY_H

#include <stdint.h>

#include "methods/deal.h"
#include "methods/method.h"
#include "methods/record.h"
#include "train/adapter.h"

typedef struct method_options method_options;

typedef struct {
    const char *name;
    float lr;  // default learning rate
    int r;  // default rank of task 1's LoRA; 0: the architecture's (T5 16, LLaMA 32)
    float lambda1, lambda2;  // default regulariser weights (DEAL, O-LoRA; else unused)
    int stacks;  // one LoRA block per task (inclora, olora)
    method *(*create)(model *m, const method_options *o, int block_r, rng *init);
} method_kind;

struct method_options {
    const method_kind *kind;
    const char *init;  // the previous task's adapter folder; NULL: task 1, a fresh LoRA
    const char *task;  // this task's name
    int r;  // a fresh LoRA's rank; 0: the method's default
    float alpha, dropout;  // a fresh LoRA's alpha; the dropout, always
    char **targets;  // a fresh LoRA's target modules; NULL: the architecture's
    int n_targets;
    float lambda1, lambda2;  // NAN: the method's default
    deal_options deal;  // its lambdas are lambda1 and lambda2 above
    double replay_fraction;
    uint64_t seed;  // of new factors' and the MLPs' initialisation, and of the replay sample
};

// The method called name; dies listing the names if there is none.
const method_kind *method_find(const char *name);
// "seqlora, deal, ..." for help texts.
const char *method_names(void);

// Sets up m's LoRA branches and the method for this task. lc receives the
// adapter's configuration, rec what deal.json will say.
method *method_start(model *m, const method_options *o, lora_config *lc, adapter_record *rec);
// Writes the adapter the model holds after training (one more before_forward:
// DEAL's materialised A', B', the stacked blocks) to dir, with deal.json and
// the method's own files. base names the base model.
void method_save(method *me, model *m, const lora_config *lc, const adapter_record *rec, const char *base,
                 const char *dir);

#endif
