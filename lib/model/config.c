// config.c: reads a Hugging Face config.json into a model_config. Only what
// our T5 and LLaMA implementations compute exactly is accepted; anything else
// (biases, other activations or rope types) is refused by name rather than
// silently computed differently from the reference.
#include "model/config.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// No size or token id of a model we support comes near this; larger values
// are corrupt files, and keeping every product of two in int64 easy.
#define MAX_VALUE (1 << 24)
#define REQUIRED INT_MIN  // as the fallback of a key that must be present

// A JSON object being read, with what to call it in messages.
typedef struct {
    const char *path;  // the config.json
    const char *prefix;  // "" at top level, "rope_scaling." inside it
    const json_t *obj;
} config_file;

// Absent and null are the same: HF writes e.g. "pad_token_id": null.
static const json_t *get(const config_file *c, const char *key, int required) {
    const json_t *v = json_object_get(c->obj, key);
    if (json_is_null(v)) v = NULL;
    if (!v && required) die("%s: missing key \"%s%s\"", c->path, c->prefix, key);
    return v;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    default: return "true/false";
    }
}

__attribute__((noreturn)) static void wrong_type(const config_file *c, const char *key, const json_t *v,
                                                 const char *want) {
    die("%s: \"%s%s\" should be %s, not %s", c->path, c->prefix, key, want, type_name(v));
}

static int check_int(const config_file *c, const char *key, const json_t *v, int min) {
    if (!json_is_integer(v)) wrong_type(c, key, v, "an integer");
    json_int_t x = json_integer_value(v);
    if (x < min || x >= MAX_VALUE)
        die("%s: \"%s%s\" is %lld, expected %d to %d", c->path, c->prefix, key, (long long)x, min, MAX_VALUE - 1);
    return (int)x;
}

// An integer in [min, MAX_VALUE), or fallback if absent (REQUIRED: die).
static int int_key(const config_file *c, const char *key, int min, int fallback) {
    const json_t *v = get(c, key, fallback == REQUIRED);
    return v ? check_int(c, key, v, min) : fallback;
}

// A token id; eos_token_id may also be a list (Llama 3 Instruct), of which the
// first is taken.
static int token_id(const config_file *c, const char *key, int fallback) {
    const json_t *v = get(c, key, 0);
    if (json_is_array(v)) {
        if (json_array_size(v) == 0) die("%s: \"%s%s\" is an empty list", c->path, c->prefix, key);
        v = json_array_get(v, 0);
    }
    return v ? check_int(c, key, v, 0) : fallback;
}

// A positive finite number, or fallback if absent (REQUIRED: die).
static float positive_key(const config_file *c, const char *key, double fallback) {
    const json_t *v = get(c, key, fallback == REQUIRED);
    if (!v) return (float)fallback;
    if (!json_is_number(v)) wrong_type(c, key, v, "a number");
    double x = json_number_value(v);
    if (!(x > 0) || !isfinite((float)x))
        die("%s: \"%s%s\" is %g, expected a positive number", c->path, c->prefix, key, x);
    return (float)x;
}

static int bool_key(const config_file *c, const char *key, int fallback) {
    const json_t *v = get(c, key, 0);
    if (!v) return fallback;
    if (!json_is_boolean(v)) wrong_type(c, key, v, "true or false");
    return json_is_true(v);
}

// A string, or fallback if absent (NULL: die).
static const char *string_key(const config_file *c, const char *key, const char *fallback) {
    const json_t *v = get(c, key, fallback == NULL);
    if (!v) return fallback;
    if (!json_is_string(v)) wrong_type(c, key, v, "a string");
    return json_string_value(v);
}

// ---- T5 --------------------------------------------------------------------

// feed_forward_proj values; "gated-gelu" is HF's gelu_new, the tanh approximation.
static const struct {
    const char *name;
    activation_kind act;
    int gated;
} t5_ffns[] = {
    {"relu", ACT_RELU, 0},
    {"gated-gelu", ACT_GELU_TANH, 1},
    {"gated-relu", ACT_RELU, 1},
    {"gated-silu", ACT_SILU, 1},
};

static void load_t5(const config_file *c, model_config *m) {
    m->arch = ARCH_T5;
    m->vocab_size = int_key(c, "vocab_size", 1, REQUIRED);
    m->d_model = int_key(c, "d_model", 1, REQUIRED);
    m->head_dim = int_key(c, "d_kv", 1, REQUIRED);
    m->d_ff = int_key(c, "d_ff", 1, REQUIRED);
    m->n_layers = int_key(c, "num_layers", 1, REQUIRED);
    m->n_decoder_layers = int_key(c, "num_decoder_layers", 1, m->n_layers);
    m->n_heads = m->n_kv_heads = int_key(c, "num_heads", 1, REQUIRED);
    // Bidirectional bucketing halves the buckets twice; fewer than 4 leaves none.
    m->rel_buckets = int_key(c, "relative_attention_num_buckets", 4, 32);
    m->rel_max_distance = int_key(c, "relative_attention_max_distance", 1, 128);
    m->norm_eps = positive_key(c, "layer_norm_epsilon", 1e-6);
    m->tie_word_embeddings = bool_key(c, "tie_word_embeddings", 1);
    m->scale_decoder_outputs = bool_key(c, "scale_decoder_outputs", m->tie_word_embeddings);

    const char *ffn = string_key(c, "feed_forward_proj", "relu");
    size_t i = 0, n = sizeof t5_ffns / sizeof t5_ffns[0];
    while (i < n && strcmp(ffn, t5_ffns[i].name) != 0) i++;
    if (i == n)
        die("%s: feed_forward_proj \"%s\" is not supported (relu, gated-gelu, gated-relu, gated-silu)", c->path, ffn);
    m->act = t5_ffns[i].act;
    m->gated = t5_ffns[i].gated;

    m->pad_id = token_id(c, "pad_token_id", 0);
    m->eos_id = token_id(c, "eos_token_id", 1);
    m->bos_id = token_id(c, "bos_token_id", -1);
    m->decoder_start_id = token_id(c, "decoder_start_token_id", m->pad_id);
}

// ---- LLaMA -----------------------------------------------------------------

// The rotary embedding's base and scaling: transformers 5 writes both in one
// object, rope_parameters (a type always there, "default" if absent); older
// configs rope_theta and rope_scaling (whose type must be given). Reading only
// the old keys, a new config would silently rotate with base 10000.
static void load_rope(const config_file *c, model_config *m) {
    int params = get(c, "rope_parameters", 0) != NULL;
    const char *name = params ? "rope_parameters" : "rope_scaling";
    const json_t *v = get(c, name, 0);
    if (v && !json_is_object(v)) wrong_type(c, name, v, "an object or null");
    config_file rs = {c->path, params ? "rope_parameters." : "rope_scaling.", v};
    m->rope_theta = params ? positive_key(&rs, "rope_theta", REQUIRED) : positive_key(c, "rope_theta", 10000);
    if (!v) return;
    // Newer configs say "rope_type", older ones "type".
    const char *key = json_object_get(v, "rope_type") ? "rope_type" : "type";
    const char *type = string_key(&rs, key, params ? "default" : NULL);
    if (strcmp(type, "default") == 0) return;  // = no scaling
    if (strcmp(type, "llama3") != 0)
        die("%s: %s%s \"%s\" is not supported (only llama3)", c->path, rs.prefix, key, type);
    m->rope_llama3 = 1;
    m->rope_factor = positive_key(&rs, "factor", REQUIRED);
    m->rope_low_freq_factor = positive_key(&rs, "low_freq_factor", REQUIRED);
    m->rope_high_freq_factor = positive_key(&rs, "high_freq_factor", REQUIRED);
    m->rope_original_max_position = int_key(&rs, "original_max_position_embeddings", 1, REQUIRED);
    // The smoothing between the two divides by their difference.
    if (m->rope_high_freq_factor <= m->rope_low_freq_factor)
        die("%s: %shigh_freq_factor (%g) must exceed low_freq_factor (%g)", c->path, rs.prefix,
            m->rope_high_freq_factor, m->rope_low_freq_factor);
}

static void load_llama(const config_file *c, model_config *m) {
    m->arch = ARCH_LLAMA;
    m->vocab_size = int_key(c, "vocab_size", 1, REQUIRED);
    m->d_model = int_key(c, "hidden_size", 1, REQUIRED);
    m->d_ff = int_key(c, "intermediate_size", 1, REQUIRED);
    m->n_layers = int_key(c, "num_hidden_layers", 1, REQUIRED);
    m->n_heads = int_key(c, "num_attention_heads", 1, REQUIRED);
    m->n_kv_heads = int_key(c, "num_key_value_heads", 1, m->n_heads);
    if (m->n_heads % m->n_kv_heads != 0)
        die("%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)", c->path, m->n_heads,
            m->n_kv_heads);
    if (!get(c, "head_dim", 0) && m->d_model % m->n_heads != 0)
        die("%s: hidden_size (%d) is not a multiple of num_attention_heads (%d) and there is no head_dim", c->path,
            m->d_model, m->n_heads);
    m->head_dim = int_key(c, "head_dim", 1, m->d_model / m->n_heads);
    if (m->head_dim % 2 != 0) die("%s: head_dim %d is odd; rotary embeddings rotate pairs", c->path, m->head_dim);
    m->norm_eps = positive_key(c, "rms_norm_eps", 1e-6);
    m->max_position_embeddings = int_key(c, "max_position_embeddings", 1, REQUIRED);
    load_rope(c, m);
    m->tie_word_embeddings = bool_key(c, "tie_word_embeddings", 0);

    const char *act = string_key(c, "hidden_act", "silu");
    if (strcmp(act, "silu") != 0) die("%s: hidden_act \"%s\" is not supported (only silu)", c->path, act);
    m->act = ACT_SILU;
    m->gated = 1;
    const char *biases[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++)
        if (bool_key(c, biases[i], 0)) die("%s: \"%s\" is true; biases are not supported", c->path, biases[i]);

    m->bos_id = token_id(c, "bos_token_id", -1);
    m->eos_id = token_id(c, "eos_token_id", -1);
    m->pad_id = token_id(c, "pad_token_id", -1);
    m->decoder_start_id = -1;
}

model_config config_load(const char *dir) {
    char *path = xasprintf("%s/config.json", dir);
    size_t len;
    char *text = read_file(path, &len);
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) die("%s: line %d: %s", path, err.line, err.text);
    if (!json_is_object(root)) die("%s: not a JSON object", path);
    config_file c = {path, "", root};

    model_config m = {0};
    const char *type = string_key(&c, "model_type", NULL);
    if (strcmp(type, "t5") == 0 || strcmp(type, "mt5") == 0)
        load_t5(&c, &m);
    else if (strcmp(type, "llama") == 0)
        load_llama(&c, &m);
    else
        die("%s: model_type \"%s\" is not supported (t5, mt5, llama)", path, type);
    snprintf(m.model_type, sizeof m.model_type, "%s", type);
    if ((int64_t)m.n_heads * m.head_dim >= MAX_VALUE)
        die("%s: %d heads of size %d is too large", path, m.n_heads, m.head_dim);

    json_decref(root);
    free(text);
    free(path);
    return m;
}
