// adapter.h: LoRA adapters as PEFT folders: adapter_config.json +
// adapter_model.safetensors, with PEFT's tensor names
//   base_model.model.<module>.lora_A.weight  [r, in]
//   base_model.model.<module>.lora_B.weight  [out, r]
// so an adapter written here loads in PEFT and a PEFT adapter loads here.
#ifndef DEAL_ADAPTER_H
#define DEAL_ADAPTER_H

#include "model/model.h"

typedef struct {
    int r;
    float alpha, dropout;
    char **targets;  // module name endings, e.g. "q", "v"
    int n_targets;
} lora_config;

// Reads DIR/adapter_config.json (PEFT's LoraConfig); dies on what we cannot
// honour (DoRA, biases, fan_in_fan_out, regex targets).
lora_config adapter_read_config(const char *dir);
void lora_config_free(lora_config *c);

// Attaches the adapter in DIR to m (its LoRA layers must not exist yet): every
// lora_A/lora_B pair becomes the LoRA branch of its module. Dies if a tensor
// names no module of m or has the wrong shape.
void adapter_load(model *m, const char *dir);

// Writes m's LoRA branches to DIR (created or replaced atomically, with the
// files of extra_files written by the callback into the temporary folder).
// base names the base model in adapter_config.json.
typedef void (*adapter_extra_writer)(const char *tmp_dir, void *arg);
void adapter_save(const model *m, const lora_config *c, const char *base, const char *dir,
                  adapter_extra_writer extra, void *arg);

#endif
