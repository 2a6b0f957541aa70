// inclora.h: IncLoRA and O-LoRA: a new rank-r LoRA block per task, the
// earlier blocks frozen, all summed. Held as one stacked LoRA,
//   A = [A_1; ...; A_t] (rt x in),  B = [B_1 ... B_t] (out x rt),
// since s B A x = sum_k s B_k A_k x with one scale s = alpha / r: exactly a
// rank-rt LoRA, which PEFT loads with r' = r t and lora_alpha' = alpha t
// (s' = alpha' / r' = s). The stack is what adapter_model.safetensors holds;
// deal.json keeps the block's r and alpha. One difference from separate PEFT
// modules, in training only: the blocks share one dropout mask.
#ifndef DEAL_INCLORA_H
#define DEAL_INCLORA_H

#include "base/rng.h"
#include "methods/method.h"

typedef struct {
    linear *l;
    int k;  // frozen blocks, before the new one
    float *A, *dA;  // the new block's factors (trained): [r, in]
    float *B, *dB;  // [out, r]
    float *A_prev;  // the frozen blocks' A [k r, in]
    float *B_stack;  // host copy of the stacked B [out, (k + 1) r]
} stack_module;

typedef struct {
    int r;
    stack_module *mods;
    int n;
    float lambda1, lambda2;  // O-LoRA's regulariser
} stack_state;

// grow: m holds the previous task's stack (blocks of rank r) from --init;
// add a block (A kaiming-uniform from init, B zero, as PEFT). Otherwise
// m's fresh rank-r LoRA is the first block.
method *method_inclora(model *m, int r, int grow, rng *init);
// IncLoRA plus lambda1 sum over modules |A_prev A_new^T|_1 (element-wise)
// + lambda2 (|A_new|_2 + |B_new|_2) (Wang et al. 2023).
method *method_olora(model *m, int r, int grow, rng *init, float lambda1, float lambda2);

#endif
