// config.h: a model's shape and conventions, read from a Hugging Face
// config.json (T5 and the LLaMA family).
#ifndef DEAL_CONFIG_H
#define DEAL_CONFIG_H

typedef enum { ARCH_T5 = 0, ARCH_LLAMA = 1 } model_arch;
typedef enum { ACT_RELU = 0, ACT_GELU_TANH = 1, ACT_SILU = 2 } activation_kind;  // = backend act codes

typedef struct {
    model_arch arch;
    char model_type[32];  // config.json's model_type, e.g. "t5", "llama"
    int vocab_size;
    int d_model;  // T5 d_model; LLaMA hidden_size
    int n_layers;  // T5 num_layers (encoder); LLaMA num_hidden_layers
    int n_decoder_layers;  // T5 num_decoder_layers (default num_layers); LLaMA 0
    int n_heads;  // num_heads / num_attention_heads
    int n_kv_heads;  // LLaMA num_key_value_heads (default n_heads); T5 = n_heads
    int head_dim;  // T5 d_kv; LLaMA head_dim or hidden_size / num_attention_heads
    int d_ff;  // T5 d_ff; LLaMA intermediate_size
    float norm_eps;  // T5 layer_norm_epsilon; LLaMA rms_norm_eps
    activation_kind act;  // T5: relu (v1.0) or gelu_new (gated-gelu); LLaMA: silu
    int gated;  // T5 "gated-*" feed-forward; LLaMA always
    int tie_word_embeddings;  // T5 default 1; LLaMA default 0
    // T5: the decoder output is scaled by d_model^-0.5 before the head. Saved by
    // transformers 5 (which also forces tie_word_embeddings to true, the head
    // still being lm_head.weight where the checkpoint has it); older configs
    // say it through tie_word_embeddings.
    int scale_decoder_outputs;

    // T5
    int rel_buckets;  // relative_attention_num_buckets (default 32)
    int rel_max_distance;  // relative_attention_max_distance (default 128)

    // LLaMA
    float rope_theta;  // default 10000
    int max_position_embeddings;
    int rope_llama3;  // rope_scaling.rope_type == "llama3"
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position;

    // Special ids from the config (-1 where absent).
    int pad_id, eos_id, bos_id, decoder_start_id;
} model_config;

// Reads DIR/config.json; dies naming the file and key on anything missing,
// mistyped, out of range or unsupported (e.g. attention biases, other rope types).
model_config config_load(const char *dir);

#endif
