// deal-import: a LLaMA-architecture GGUF file (llama.cpp's format, e.g. the
// default SmolLM2 model) -> a Hugging Face model folder that deal-tokenize,
// deal-train, deal-predict and transformers read: config.json,
// model.safetensors (float32), tokenizer.json and tokenizer_config.json,
// written atomically.
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/config.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *out) {
    fputs("usage: deal-import FILE.gguf OUT_DIR\n"
          "Converts a LLaMA-architecture GGUF model (F32, F16, BF16, Q8_0, Q4_0 or Q4_1\n"
          "tensors; a byte-level BPE vocabulary) into a Hugging Face folder OUT_DIR:\n"
          "config.json, model.safetensors (float32), tokenizer.json, tokenizer_config.json.\n"
          "OUT_DIR is replaced as a whole, or left as it was if anything fails.\n"
          "\n"
          "  --help    this text\n",
          out);
}

// No size or id of a model we convert comes near this (as in config.c).
#define MAX_VALUE (1 << 24)

typedef struct {
    int n_layers, d_model, d_ff, n_heads, n_kv_heads, head_dim, vocab, context;
    float norm_eps, rope_theta;
    int bos, eos, pad, unk;  // -1 where the file names none
} hparams;

// An integer key in [min, MAX_VALUE), or fallback if absent (GGUF_REQUIRED: die).
static int int_key(const gguf *g, const char *key, int64_t fallback, int min) {
    int64_t v = gguf_int(g, key, fallback);
    if (v < min || v >= MAX_VALUE)
        die("%s: key %s is %lld, expected %d to %d", gguf_path(g), key, (long long)v, min, MAX_VALUE - 1);
    return (int)v;
}

static float positive_key(const gguf *g, const char *key, double fallback) {
    double v = gguf_float(g, key, fallback);
    if (!(v > 0) || !isfinite((float)v)) die("%s: key %s is %g, expected a positive number", gguf_path(g), key, v);
    return (float)v;
}

// A special token id, -1 if absent; it must name a token.
static int token_key(const gguf *g, const char *key, int vocab) {
    int id = int_key(g, key, -1, -1);
    if (id >= vocab) die("%s: key %s is %d, outside the vocabulary of %d tokens", gguf_path(g), key, id, vocab);
    return id;
}

static hparams read_hparams(const gguf *g, uint64_t n_tokens) {
    const char *path = gguf_path(g);
    const char *arch = gguf_string(g, "general.architecture", NULL);
    if (strcmp(arch, "llama") != 0)
        die("%s: architecture \"%s\" is not supported (only llama)", path, arch);
    // Features of other llama-family files that a Hugging Face LLaMA cannot express.
    if (gguf_int(g, "llama.expert_count", 0) > 0) die("%s: mixture-of-experts models are not supported", path);
    const char *scaling = gguf_string(g, "llama.rope.scaling.type", "none");
    if (strcmp(scaling, "none") != 0) die("%s: rope scaling \"%s\" is not supported", path, scaling);
    if (gguf_find_tensor(g, "rope_freqs.weight"))
        die("%s: tensor rope_freqs.weight (Llama 3.1 rope scaling) is not supported", path);

    hparams h;
    h.n_layers = int_key(g, "llama.block_count", GGUF_REQUIRED, 1);
    h.d_model = int_key(g, "llama.embedding_length", GGUF_REQUIRED, 1);
    h.d_ff = int_key(g, "llama.feed_forward_length", GGUF_REQUIRED, 1);
    h.n_heads = int_key(g, "llama.attention.head_count", GGUF_REQUIRED, 1);
    h.n_kv_heads = int_key(g, "llama.attention.head_count_kv", h.n_heads, 1);
    if (h.n_heads % h.n_kv_heads)
        die("%s: %d attention heads are not a multiple of %d key/value heads", path, h.n_heads, h.n_kv_heads);
    h.head_dim = int_key(g, "llama.attention.key_length", h.d_model / h.n_heads, 1);
    if (!gguf_find_kv(g, "llama.attention.key_length") && h.d_model % h.n_heads)
        die("%s: embedding length %d is not a multiple of %d heads", path, h.d_model, h.n_heads);
    if (int_key(g, "llama.attention.value_length", h.head_dim, 1) != h.head_dim)
        die("%s: key and value heads of different sizes are not supported", path);
    if (h.head_dim % 2) die("%s: head size %d is odd; rotary embeddings rotate pairs", path, h.head_dim);
    if (int_key(g, "llama.rope.dimension_count", h.head_dim, 1) != h.head_dim)
        die("%s: rotary embeddings over part of each head are not supported", path);
    h.norm_eps = positive_key(g, "llama.attention.layer_norm_rms_epsilon", NAN);
    h.rope_theta = positive_key(g, "llama.rope.freq_base", 10000);
    h.context = int_key(g, "llama.context_length", GGUF_REQUIRED, 1);
    if (n_tokens >= MAX_VALUE) die("%s: %llu tokens is too many", path, (unsigned long long)n_tokens);
    h.vocab = (int)n_tokens;
    int vocab_size = int_key(g, "llama.vocab_size", h.vocab, 1);
    if (vocab_size != h.vocab) die("%s: llama.vocab_size is %d but there are %d tokens", path, vocab_size, h.vocab);
    h.bos = token_key(g, "tokenizer.ggml.bos_token_id", h.vocab);
    h.eos = token_key(g, "tokenizer.ggml.eos_token_id", h.vocab);
    h.pad = token_key(g, "tokenizer.ggml.padding_token_id", h.vocab);
    h.unk = token_key(g, "tokenizer.ggml.unknown_token_id", h.vocab);
    return h;
}

// ---- weights -----------------------------------------------------------------

// llama.cpp's converter reorders the rows of each head of Q and K so that the
// two halves HF's rotate_half pairs up become interleaved: GGUF row
// h*hd + 2j + s holds HF row h*hd + s*hd/2 + j (s = 0, 1; j < hd/2). This
// puts them back.
static void unpermute_rows(float *w, int heads, int64_t rows, int64_t cols) {
    int64_t hd = rows / heads, half = hd / 2;
    float *src = xmalloc((size_t)(rows * cols) * sizeof *src);
    memcpy(src, w, (size_t)(rows * cols) * sizeof *src);
    for (int64_t h = 0; h < heads; h++)
        for (int64_t j = 0; j < half; j++)
            for (int s = 0; s < 2; s++)
                memcpy(w + (h * hd + s * half + j) * cols, src + (h * hd + 2 * j + s) * cols,
                       (size_t)cols * sizeof *w);
    free(src);
}

typedef struct {
    const gguf *g;
    bool *used;  // per GGUF tensor
    st_writer *w;
    float **buffers;  // kept until the writer is done
    int n_buffers;
} converter;

// Converts GGUF tensor `from` into HF tensor `to` of shape [rows, cols] (a
// vector where cols is 0), unpermuting Q/K rows over `heads` heads if nonzero.
// Returns false, converting nothing, if the tensor is absent and optional.
static bool convert(converter *cv, const char *from, const char *to, int64_t rows, int64_t cols, int heads,
                    bool optional) {
    const char *path = gguf_path(cv->g);
    const gguf_tensor *t = gguf_find_tensor(cv->g, from);
    if (!t) {
        if (optional) return false;
        die("%s: missing tensor %s", path, from);
    }
    // GGUF lists dimensions fastest first: an HF [rows, cols] is ne = [cols, rows].
    int n_dims = cols ? 2 : 1;
    int64_t want[2] = {cols ? cols : rows, rows};
    if (t->n_dims != n_dims || t->ne[0] != want[0] || (cols && t->ne[1] != want[1])) {
        char got[96], expected[64];
        int k = snprintf(got, sizeof got, "%lld", (long long)t->ne[0]);
        for (int d = 1; d < t->n_dims; d++)
            k += snprintf(got + k, sizeof got - (size_t)k, ", %lld", (long long)t->ne[d]);
        snprintf(expected, sizeof expected, cols ? "%lld, %lld" : "%lld", (long long)want[0], (long long)want[1]);
        die("%s: tensor %s has dimensions [%s], expected [%s]", path, from, got, expected);
    }
    float *x = xmalloc((size_t)t->numel * sizeof *x);
    gguf_read_f32(cv->g, t, x);
    if (heads) unpermute_rows(x, heads, rows, cols);
    int64_t shape[2] = {rows, cols};
    st_writer_add(cv->w, to, x, shape, n_dims);
    cv->buffers = xrealloc(cv->buffers, (size_t)(cv->n_buffers + 1) * sizeof *cv->buffers);
    cv->buffers[cv->n_buffers++] = x;
    cv->used[t - gguf_tensor_at(cv->g, 0)] = true;
    return true;
}

// Writes model.safetensors; returns whether the output embedding is tied to
// the input one (no output.weight).
static bool write_weights(const gguf *g, const hparams *h, const char *dir) {
    converter cv = {.g = g, .used = xcalloc((size_t)gguf_n_tensors(g), sizeof(bool)), .w = st_writer_new()};
    int64_t C = h->d_model, F = h->d_ff, V = h->vocab, q_rows = (int64_t)h->n_heads * h->head_dim,
            kv_rows = (int64_t)h->n_kv_heads * h->head_dim;
    convert(&cv, "token_embd.weight", "model.embed_tokens.weight", V, C, 0, false);
    convert(&cv, "output_norm.weight", "model.norm.weight", C, 0, 0, false);
    bool tied = !convert(&cv, "output.weight", "lm_head.weight", V, C, 0, true);
    const struct {
        const char *from, *to;
        int64_t rows, cols;
        int heads;
    } layer[] = {
        {"attn_norm", "input_layernorm", C, 0, 0},
        {"attn_q", "self_attn.q_proj", q_rows, C, h->n_heads},
        {"attn_k", "self_attn.k_proj", kv_rows, C, h->n_kv_heads},
        {"attn_v", "self_attn.v_proj", kv_rows, C, 0},
        {"attn_output", "self_attn.o_proj", C, q_rows, 0},
        {"ffn_norm", "post_attention_layernorm", C, 0, 0},
        {"ffn_gate", "mlp.gate_proj", F, C, 0},
        {"ffn_up", "mlp.up_proj", F, C, 0},
        {"ffn_down", "mlp.down_proj", C, F, 0},
    };
    for (int l = 0; l < h->n_layers; l++)
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
            char from[128], to[128];
            snprintf(from, sizeof from, "blk.%d.%s.weight", l, layer[i].from);
            snprintf(to, sizeof to, "model.layers.%d.%s.weight", l, layer[i].to);
            convert(&cv, from, to, layer[i].rows, layer[i].cols, layer[i].heads, false);
        }
    // A tensor left over (biases, extra layers) would be silently dropped.
    for (int i = 0; i < gguf_n_tensors(g); i++)
        if (!cv.used[i])
            die("%s: tensor %s has no place in a LLaMA model of %d layers (biases are not supported)", gguf_path(g),
                gguf_tensor_at(g, i)->name, h->n_layers);
    char *path = xasprintf("%s/model.safetensors", dir);
    st_writer_write(cv.w, path);
    free(path);
    for (int i = 0; i < cv.n_buffers; i++) free(cv.buffers[i]);
    free(cv.buffers);
    free(cv.used);
    return tied;
}

// ---- JSON files ----------------------------------------------------------------

// A float32 value as the shortest decimal that reads back to it (1e-05, not
// 9.99999975e-06), to be written with JSON_REAL_PRECISION(9).
static json_t *json_float32(float f) {
    char s[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, (double)f);
        if (strtof(s, NULL) == f) break;
    }
    return json_real(strtod(s, NULL));
}

static void write_json(const char *dir, const char *name, json_t *root) {
    char *path = xasprintf("%s/%s", dir, name);
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) != 0)
        die("%s: cannot write", path);
    free(path);
    json_decref(root);
}

static void set_id(json_t *obj, const char *key, int id) {
    if (id >= 0) json_object_set_new(obj, key, json_integer(id));
}

static void write_config(const hparams *h, bool tied, bool head_dim_given, const char *dir) {
    json_t *c = json_object();
    json_object_set_new(c, "architectures", json_pack("[s]", "LlamaForCausalLM"));
    json_object_set_new(c, "model_type", json_string("llama"));
    json_object_set_new(c, "hidden_size", json_integer(h->d_model));
    json_object_set_new(c, "intermediate_size", json_integer(h->d_ff));
    json_object_set_new(c, "num_hidden_layers", json_integer(h->n_layers));
    json_object_set_new(c, "num_attention_heads", json_integer(h->n_heads));
    json_object_set_new(c, "num_key_value_heads", json_integer(h->n_kv_heads));
    if (head_dim_given) json_object_set_new(c, "head_dim", json_integer(h->head_dim));
    json_object_set_new(c, "hidden_act", json_string("silu"));
    json_object_set_new(c, "rms_norm_eps", json_float32(h->norm_eps));
    json_object_set_new(c, "rope_theta", json_float32(h->rope_theta));
    json_object_set_new(c, "max_position_embeddings", json_integer(h->context));
    json_object_set_new(c, "vocab_size", json_integer(h->vocab));
    json_object_set_new(c, "tie_word_embeddings", json_boolean(tied));
    json_object_set_new(c, "attention_bias", json_false());
    json_object_set_new(c, "mlp_bias", json_false());
    set_id(c, "bos_token_id", h->bos);
    set_id(c, "eos_token_id", h->eos);
    set_id(c, "pad_token_id", h->pad);
    json_object_set_new(c, "torch_dtype", json_string("float32"));
    write_json(dir, "config.json", c);
}

// tokenizer.ggml.pre values whose Hugging Face pre-tokenizer we know: GPT-2's
// ByteLevel regex, preceded for StarCoder's vocabulary (SmolLM's) by Digits,
// which isolates every digit (llama.cpp's "\p{N}" split).
static const struct {
    const char *name;
    bool digits;
} pre_tokenizers[] = {{"gpt-2", false}, {"starcoder", true}, {"smollm", true}};

static json_t *pre_tokenizer(const gguf *g) {
    const char *path = gguf_path(g), *pre = gguf_string(g, "tokenizer.ggml.pre", NULL);
    size_t i = 0, n = sizeof pre_tokenizers / sizeof pre_tokenizers[0];
    while (i < n && strcmp(pre, pre_tokenizers[i].name) != 0) i++;
    if (i == n) die("%s: pre-tokenizer \"%s\" is not supported (gpt-2, starcoder, smollm)", path, pre);
    json_t *byte_level = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space",
                                   gguf_bool(g, "tokenizer.ggml.add_space_prefix", false), "trim_offsets", 1,
                                   "use_regex", 1);
    if (!pre_tokenizers[i].digits) return byte_level;
    return json_pack("{s:s, s:[{s:s, s:b}, o]}", "type", "Sequence", "pretokenizers", "type", "Digits",
                     "individual_digits", 1, byte_level);
}

// tokenizer.json in the layout Hugging Face writes for a byte-level BPE:
// every token in model.vocab, control tokens (type 3) and user-defined ones
// (type 4) also as added tokens, special or not.
static void write_tokenizer(const gguf *g, char *const *tokens, int n_tokens, const char *dir) {
    const char *path = gguf_path(g), *kind = gguf_string(g, "tokenizer.ggml.model", NULL);
    if (strcmp(kind, "gpt2") != 0)
        die("%s: tokenizer model \"%s\" is not supported (only gpt2, byte-level BPE)", path, kind);
    const gguf_kv *types = gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (types && (!types->is_array || types->n != (uint64_t)n_tokens))
        die("%s: tokenizer.ggml.token_type should be an array of %d values", path, n_tokens);
    json_t *vocab = json_object(), *added = json_array();
    for (int i = 0; i < n_tokens; i++) {
        json_t *dup = json_object_get(vocab, tokens[i]);
        if (dup)
            die("%s: token %d \"%.100s\" repeats token %lld", path, i, tokens[i], (long long)json_integer_value(dup));
        json_object_set_new(vocab, tokens[i], json_integer(i));
        int64_t type = types ? gguf_kv_int(types, (uint64_t)i) : 1;
        if (type == 3 || type == 4)
            json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", i, "content",
                                                   tokens[i], "single_word", 0, "lstrip", 0, "rstrip", 0,
                                                   "normalized", type == 4, "special", type == 3));
    }
    uint64_t n_merges = 0;
    char *const *merges = gguf_strings(g, "tokenizer.ggml.merges", &n_merges);
    json_t *merge_list = json_array();
    for (uint64_t i = 0; i < n_merges; i++) json_array_append_new(merge_list, json_string(merges[i]));

    json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout",
                              "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0,
                              "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab, "merges", merge_list);
    json_t *root = json_pack(
        "{s:s, s:n, s:n, s:o, s:n, s:o, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:b, s:b, s:b}, s:o}", "version", "1.0",
        "truncation", "padding", "added_tokens", added, "normalizer", "pre_tokenizer", pre_tokenizer(g),
        "post_processor", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 0, "use_regex", 1, "decoder",
        "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1, "model", model);
    write_json(dir, "tokenizer.json", root);
}

static void set_token(json_t *obj, const char *key, char *const *tokens, int id) {
    if (id >= 0) json_object_set_new(obj, key, json_string(tokens[id]));
}

static void write_tokenizer_config(const gguf *g, const hparams *h, char *const *tokens, const char *dir) {
    json_t *c = json_object();
    json_object_set_new(c, "tokenizer_class", json_string("GPT2Tokenizer"));
    set_token(c, "bos_token", tokens, h->bos);
    set_token(c, "eos_token", tokens, h->eos);
    set_token(c, "pad_token", tokens, h->pad);
    set_token(c, "unk_token", tokens, h->unk);
    json_object_set_new(c, "add_prefix_space", json_boolean(gguf_bool(g, "tokenizer.ggml.add_space_prefix", false)));
    json_object_set_new(c, "clean_up_tokenization_spaces", json_false());
    json_object_set_new(c, "model_max_length", json_integer(h->context));
    const char *chat = gguf_string(g, "tokenizer.chat_template", "");
    if (*chat) json_object_set_new(c, "chat_template", json_string(chat));
    write_json(dir, "tokenizer_config.json", c);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-import");
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (argc - optind != 2) die("expected FILE.gguf and OUT_DIR (try --help)");
    const char *in = argv[optind], *out = argv[optind + 1];

    gguf *g = gguf_open(in);
    uint64_t n_tokens = 0;
    char *const *tokens = gguf_strings(g, "tokenizer.ggml.tokens", &n_tokens);
    if (!tokens) die("%s: no tokenizer.ggml.tokens: the vocabulary is needed", in);
    hparams h = read_hparams(g, n_tokens);

    char *tmp = dir_begin(out);
    bool tied = write_weights(g, &h, tmp);
    write_config(&h, tied, gguf_find_kv(g, "llama.attention.key_length") != NULL, tmp);
    write_tokenizer(g, tokens, h.vocab, tmp);
    write_tokenizer_config(g, &h, tokens, tmp);
    // What we wrote must load as the other tools will load it.
    config_load(tmp);
    char *tok_path = xasprintf("%s/tokenizer.json", tmp);
    tokenizer_free(tokenizer_load(tok_path));
    free(tok_path);
    dir_commit(tmp, out);

    fprintf(stderr, "deal-import: %s -> %s: llama, %d layers, hidden %d, %d heads (%d key/value), vocab %d%s; "
                    "eos \"%s\"\n",
            in, out, h.n_layers, h.d_model, h.n_heads, h.n_kv_heads, h.vocab, tied ? ", tied embeddings" : "",
            h.eos >= 0 ? tokens[h.eos] : "(none)");
    gguf_close(g);
    return 0;
}
