// bpe.c: Hugging Face tokenizer.json byte-level BPE (GPT-2, Llama-3), natively.
// Encoding follows the HF pipeline: added tokens found literally in the text
// are split out first; the rest goes through the pre-tokenizer steps (regex
// splits, Digits, ByteLevel's optional prefix space and GPT-2 regex); each
// piece is spelled in GPT-2's byte stand-in characters and merged pair by
// pair, lowest merge rank first. The file is untrusted: anything unexpected
// or unsupported in it stops the load with a message naming the file, never
// a crash.
#include "tokenizer/tokenizer_impl.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "base/util.h"

// Bounds that keep a hostile file from making us allocate without limit.
#define MAX_VOCAB (1 << 22)
#define MAX_STEPS 8
// GPT-2's stand-in characters are code points below this.
#define N_STANDIN 324

// The split of ByteLevel with use_regex (GPT-2's pattern).
static const char gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct {
    char *text;
    size_t len;
    int32_t id;
    bool special;
} added_token;

// A pre-tokenizer step: an Isolated split by re (the matches and the gaps
// between them become pieces) or, where re is NULL, ByteLevel's prefix space.
typedef struct {
    pcre2_code *re;
} pre_step;

typedef struct bpe {
    strmap *vocab;   // model token (in stand-in characters) -> id
    strmap *merges;  // pair of ids as two int32 -> rank << 32 | merged id
    bool ignore_merges;
    int32_t vocab_size;
    char *text;        // what id decodes to: text[text_off[id] .. text_off[id + 1])
    size_t *text_off;
    bool *special;     // id -> an added token marked special
    added_token *added;  // longest first: the first match is the longest
    size_t n_added;
    bool added_start[256];  // bytes an added token starts with
    pre_step steps[MAX_STEPS];
    size_t n_steps;
    int32_t byte_id[256];      // the token of each single byte, -1 if none
    char standin[256][2];      // GPT-2's stand-in character for each byte, UTF-8
    uint8_t standin_len[256];
} bpe;

// ---- loading ---------------------------------------------------------------

// State used while loading only.
typedef struct {
    const char *path;
    bpe *b;
    const char **piece;  // id -> its text in the file (borrowed from the JSON), NULL if unused
    size_t *piece_len;
    size_t cap;
    int16_t standin_byte[N_STANDIN];  // stand-in code point -> byte, -1 for others
} loader;

#define FAIL(L, ...) tokenizer_load_fail((L)->path, __VA_ARGS__)

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others
// (controls, space, DEL, ...) for the code points from 256 on, in byte order.
static void init_standins(loader *L) {
    bpe *b = L->b;
    memset(L->standin_byte, 0xff, sizeof L->standin_byte);
    int next = 256;
    for (int c = 0; c < 256; c++) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        int cp = printable ? c : next++;
        L->standin_byte[cp] = (int16_t)c;
        if (cp < 0x80) {
            b->standin[c][0] = (char)cp;
            b->standin_len[c] = 1;
        } else {
            b->standin[c][0] = (char)(0xC0 | cp >> 6);
            b->standin[c][1] = (char)(0x80 | (cp & 0x3F));
            b->standin_len[c] = 2;
        }
    }
}

// obj.key if present and not null; it must then have the given type.
static json_t *get(const loader *L, json_t *obj, const char *where, const char *key,
                   json_type type, bool required) {
    static const char *const names[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
        [JSON_STRING] = "a string", [JSON_INTEGER] = "an integer"};
    json_t *v = json_object_get(obj, key);
    if (json_is_null(v)) v = NULL;
    if (!v && required) FAIL(L, "%s%s%s is missing", where, *where ? "." : "", key);
    if (v && json_typeof(v) != type)
        FAIL(L, "%s%s%s should be %s", where, *where ? "." : "", key, names[type]);
    return v;
}

static const char *get_string(const loader *L, json_t *obj, const char *where, const char *key,
                              bool required) {
    json_t *v = get(L, obj, where, key, JSON_STRING, required);
    return v ? json_string_value(v) : NULL;
}

static bool get_bool(const loader *L, json_t *obj, const char *where, const char *key, bool dflt) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return dflt;
    if (!json_is_boolean(v)) FAIL(L, "%s.%s should be true or false", where, key);
    return json_is_true(v);
}

static int32_t get_id(const loader *L, json_t *v, const char *token) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= MAX_VOCAB)
        FAIL(L, "token \"%.100s\": the id should be an integer from 0 to %d", token, MAX_VOCAB - 1);
    return (int32_t)json_integer_value(v);
}

// Records the text of token id (an added token's replaces a model token's).
static void set_piece(loader *L, int32_t id, const char *text) {
    size_t need = (size_t)id + 1;
    if (need > L->cap) {
        size_t cap = L->cap ? L->cap : 1024;
        while (cap < need) cap *= 2;
        L->piece = xrealloc(L->piece, cap * sizeof *L->piece);
        L->piece_len = xrealloc(L->piece_len, cap * sizeof *L->piece_len);
        memset(L->piece + L->cap, 0, (cap - L->cap) * sizeof *L->piece);
        memset(L->piece_len + L->cap, 0, (cap - L->cap) * sizeof *L->piece_len);
        L->cap = cap;
    }
    if ((int32_t)need > L->b->vocab_size) L->b->vocab_size = (int32_t)need;
    L->piece[id] = text;
    L->piece_len[id] = strlen(text);
}

static void load_vocab(loader *L, json_t *vocab) {
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        int32_t id = get_id(L, v, key);
        if ((size_t)id < L->cap && L->piece[id])
            FAIL(L, "tokens \"%.100s\" and \"%.100s\" both have id %d", L->piece[id], key, id);
        set_piece(L, id, key);
        strmap_put(L->b->vocab, key, strlen(key), id);
    }
}

static int32_t merge_token_id(const loader *L, size_t rank, const char *token, size_t len) {
    int64_t id;
    if (!strmap_get(L->b->vocab, token, len, &id))
        FAIL(L, "merge %zu: token \"%.*s\" is not in the vocabulary", rank, (int)(len > 100 ? 100 : len),
             token);
    return (int32_t)id;
}

// A merge is "a b" (older files) or ["a", "b"]; its rank is its index. The
// merged token a+b must be in the vocabulary too.
static void load_merges(loader *L, json_t *merges) {
    size_t rank;
    json_t *m;
    char *joined = NULL;
    json_array_foreach(merges, rank, m) {
        const char *a, *b;
        size_t a_len, b_len;
        if (json_is_string(m) && strchr(json_string_value(m), ' ')) {
            a = json_string_value(m);
            b = strchr(a, ' ') + 1;
            a_len = (size_t)(b - 1 - a);
            b_len = strlen(b);
            if (memchr(b, ' ', b_len)) FAIL(L, "merge %zu is not two tokens: \"%.100s\"", rank, a);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            a_len = strlen(a);
            b_len = strlen(b);
        } else {
            FAIL(L, "merge %zu should be \"a b\" or [\"a\", \"b\"]", rank);
        }
        int32_t pair[2] = {merge_token_id(L, rank, a, a_len), merge_token_id(L, rank, b, b_len)};
        joined = xrealloc(joined, a_len + b_len);
        memcpy(joined, a, a_len);
        memcpy(joined + a_len, b, b_len);
        int64_t merged = merge_token_id(L, rank, joined, a_len + b_len);
        strmap_put(L->b->merges, pair, sizeof pair, (int64_t)rank << 32 | merged);
    }
    free(joined);
}

static void load_model(loader *L, json_t *model) {
    const char *type = get_string(L, model, "model", "type", true);
    if (strcmp(type, "BPE") != 0) FAIL(L, "model type \"%.100s\" is not supported (only BPE)", type);
    if (get_bool(L, model, "model", "byte_fallback", false))
        FAIL(L, "BPE with byte_fallback is not supported (only byte-level BPE)");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0)
        FAIL(L, "BPE dropout is not supported");
    const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *s = get_string(L, model, "model", affixes[i], false);
        if (s && *s) FAIL(L, "model.%s is not supported", affixes[i]);
    }
    L->b->ignore_merges = get_bool(L, model, "model", "ignore_merges", false);
    load_vocab(L, get(L, model, "model", "vocab", JSON_OBJECT, true));
    json_t *merges = get(L, model, "model", "merges", JSON_ARRAY, false);
    if (merges) load_merges(L, merges);
}

static int by_length_desc(const void *x, const void *y) {
    size_t a = ((const added_token *)x)->len, b = ((const added_token *)y)->len;
    return (a < b) - (a > b);
}

static void load_added_tokens(loader *L, json_t *list) {
    bpe *b = L->b;
    b->added = xcalloc(json_array_size(list), sizeof *b->added);
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        if (!json_is_object(t)) FAIL(L, "added_tokens[%zu] should be an object", i);
        const char *content = get_string(L, t, "added_tokens[]", "content", true);
        if (!*content) FAIL(L, "added_tokens[%zu] is empty", i);
        // These change how the token is found in text; Llama-3 uses none.
        const char *flags[] = {"lstrip", "rstrip", "single_word"};
        for (int f = 0; f < 3; f++)
            if (get_bool(L, t, "added_tokens[]", flags[f], false))
                FAIL(L, "added token \"%.100s\": %s is not supported", content, flags[f]);
        int32_t id = get_id(L, json_object_get(t, "id"), content);
        set_piece(L, id, content);
        b->added[b->n_added++] = (added_token){xstrdup(content), strlen(content), id,
                                               get_bool(L, t, "added_tokens[]", "special", false)};
        b->added_start[(unsigned char)content[0]] = true;
    }
    qsort(b->added, b->n_added, sizeof *b->added, by_length_desc);
}

static void add_step(loader *L, pcre2_code *re) {
    if (L->b->n_steps == MAX_STEPS) FAIL(L, "more than %d pre-tokenizer steps", MAX_STEPS);
    L->b->steps[L->b->n_steps++].re = re;
}

// Compiles a split pattern in UTF mode with Unicode classes (\s, \p{L});
// invalid UTF-8 in the text to encode is left unmatched instead of failing.
static pcre2_code *compile_split(const loader *L, const char *pattern, bool literal) {
    uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    int err;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &err, &at, NULL);
    if (!re) {
        PCRE2_UCHAR why[256];
        pcre2_get_error_message(err, why, sizeof why);
        FAIL(L, "split pattern \"%.200s\": %s (at offset %zu)", pattern, (char *)why, (size_t)at);
    }
    uint32_t min_len;
    pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &min_len);
    if (min_len == 0) FAIL(L, "split pattern \"%.200s\" can match the empty string", pattern);
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // where JIT is unavailable, pcre2_match interprets
    return re;
}

static void load_split(loader *L, json_t *split) {
    json_t *pattern = get(L, split, "Split", "pattern", JSON_OBJECT, true);
    const char *regex = get_string(L, pattern, "Split.pattern", "Regex", false);
    const char *literal = get_string(L, pattern, "Split.pattern", "String", false);
    if (!regex == !literal) FAIL(L, "Split.pattern should be {\"Regex\": ...} or {\"String\": ...}");
    const char *behavior = get_string(L, split, "Split", "behavior", true);
    if (strcmp(behavior, "Isolated") != 0)
        FAIL(L, "Split behavior \"%.100s\" is not supported (only Isolated)", behavior);
    if (get_bool(L, split, "Split", "invert", false)) FAIL(L, "inverted Split is not supported");
    add_step(L, compile_split(L, regex ? regex : literal, !regex));
}

// ByteLevel's defaults are HF's: prefix space and GPT-2 regex both on.
static void load_byte_level(loader *L, json_t *byte_level) {
    if (get_bool(L, byte_level, "ByteLevel", "add_prefix_space", true)) add_step(L, NULL);
    if (get_bool(L, byte_level, "ByteLevel", "use_regex", true))
        add_step(L, compile_split(L, gpt2_regex, false));
}

// Digits isolates numbers (Unicode category N, as Rust's char::is_numeric):
// each digit on its own with individual_digits (StarCoder, SmolLM), else runs.
static void load_digits(loader *L, json_t *digits) {
    bool each = get_bool(L, digits, "Digits", "individual_digits", false);
    add_step(L, compile_split(L, each ? "\\p{N}" : "\\p{N}+", false));
}

// Supported: ByteLevel alone, or a Sequence of Splits and Digits ending with
// ByteLevel.
static void load_pre_tokenizer(loader *L, json_t *pre) {
    if (!pre) FAIL(L, "pre_tokenizer is missing (byte-level BPE needs ByteLevel)");
    const char *type = get_string(L, pre, "pre_tokenizer", "type", true);
    if (strcmp(type, "ByteLevel") == 0) {
        load_byte_level(L, pre);
        return;
    }
    if (strcmp(type, "Sequence") != 0) FAIL(L, "pre-tokenizer \"%.100s\" is not supported", type);
    json_t *list = get(L, pre, "pre_tokenizer", "pretokenizers", JSON_ARRAY, true);
    size_t i;
    json_t *step;
    bool byte_level = false;
    json_array_foreach(list, i, step) {
        if (byte_level) FAIL(L, "ByteLevel should be the last pre-tokenizer of the Sequence");
        if (!json_is_object(step)) FAIL(L, "pre_tokenizer.pretokenizers[%zu] should be an object", i);
        const char *t = get_string(L, step, "pre_tokenizer.pretokenizers[]", "type", true);
        if (strcmp(t, "Split") == 0) {
            load_split(L, step);
        } else if (strcmp(t, "Digits") == 0) {
            load_digits(L, step);
        } else if (strcmp(t, "ByteLevel") == 0) {
            load_byte_level(L, step);
            byte_level = true;
        } else {
            FAIL(L, "pre-tokenizer \"%.100s\" is not supported", t);
        }
    }
    if (!byte_level) FAIL(L, "the pre_tokenizer Sequence has no ByteLevel");
}

// Normalizers change the text before splitting; none is supported. Decoding
// is always ByteLevel's.
static void check_unsupported(const loader *L, json_t *root) {
    json_t *normalizer = get(L, root, "", "normalizer", JSON_OBJECT, false);
    if (normalizer) FAIL(L, "normalizers are not supported");
    json_t *decoder = get(L, root, "", "decoder", JSON_OBJECT, false);
    const char *type = decoder ? get_string(L, decoder, "decoder", "type", true) : "ByteLevel";
    if (strcmp(type, "ByteLevel") != 0) FAIL(L, "decoder \"%.100s\" is not supported", type);
}

// A byte without a token is dropped from the text, as HF's BPE does when it
// has no unk_token (StarCoder's vocabulary, SmolLM's, lacks 21 bytes never
// seen in training); with an unk_token HF would emit that instead.
static void find_byte_ids(const loader *L, json_t *model) {
    bpe *b = L->b;
    for (int c = 0; c < 256; c++) {
        int64_t id;
        if (!strmap_get(b->vocab, b->standin[c], b->standin_len[c], &id)) {
            if (get_string(L, model, "model", "unk_token", false))
                FAIL(L, "the vocabulary has no token for byte 0x%02x (with an unk_token: not supported)", c);
            id = -1;
        }
        b->byte_id[c] = (int32_t)id;
    }
}

// The bytes a token decodes to, as HF's ByteLevel decoder gives them: each
// stand-in character back to its byte; a token with any other character
// (only an added token can have one) stays as it is.
static size_t token_bytes(const loader *L, const char *p, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = (unsigned char)p[i], cp = N_STANDIN;
        if (c < 0x80) {
            cp = c, i += 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < len) {
            cp = (c & 0x1F) << 6 | ((unsigned char)p[i + 1] & 0x3F), i += 2;
        }
        if (cp >= N_STANDIN || L->standin_byte[cp] < 0) {
            memcpy(out, p, len);
            return len;
        }
        out[n++] = (char)L->standin_byte[cp];
    }
    return n;
}

// Per-id tables (decoded bytes, special flags) and the fingerprint, from the
// token texts gathered while loading.
static uint64_t finish_vocab(const loader *L) {
    bpe *b = L->b;
    size_t n = (size_t)b->vocab_size, total = 0;
    uint64_t h = FNV1A64_INIT;
    for (size_t id = 0; id < n; id++) {
        total += L->piece_len[id];
        h = tokenizer_fingerprint_piece(h, L->piece[id] ? L->piece[id] : "", L->piece_len[id]);
    }
    b->text = xmalloc(total);
    b->text_off = xmalloc((n + 1) * sizeof *b->text_off);
    b->text_off[0] = 0;
    for (size_t id = 0; id < n; id++)
        b->text_off[id + 1] =
            b->text_off[id] + token_bytes(L, L->piece[id], L->piece_len[id], b->text + b->text_off[id]);
    b->special = xcalloc(n, sizeof *b->special);
    for (size_t i = 0; i < b->n_added; i++) b->special[b->added[i].id] = b->added[i].special;
    return h;
}

static int32_t bpe_piece_to_id(const void *impl, const char *piece) {
    const bpe *b = impl;
    size_t len = strlen(piece);
    for (size_t i = 0; i < b->n_added; i++)
        if (b->added[i].len == len && memcmp(b->added[i].text, piece, len) == 0) return b->added[i].id;
    int64_t id;
    return strmap_get(b->vocab, piece, len, &id) ? (int32_t)id : -1;
}

// tokenizer_config.json beside the tokenizer, or NULL if there is none.
static json_t *load_config(const loader *L) {
    const char *slash = strrchr(L->path, '/');
    char *path = xasprintf("%.*stokenizer_config.json", slash ? (int)(slash + 1 - L->path) : 0, L->path);
    FILE *fp = fopen(path, "rb");
    if (!fp && errno != ENOENT) FAIL(L, "%s: %s", path, strerror(errno));
    json_t *config = NULL;
    if (fp) {
        json_error_t err;
        // Numbers there can exceed 64 bits (model_max_length); only strings are read.
        config = json_loadf(fp, JSON_DECODE_INT_AS_REAL, &err);
        fclose(fp);
        if (!config) FAIL(L, "%s: invalid JSON at line %d: %s", path, err.line, err.text);
        if (!json_is_object(config)) FAIL(L, "%s should hold a JSON object", path);
    }
    free(path);
    return config;
}

// The special token that tokenizer_config.json names under key (a string or
// {"content": ...}), else the token `fallback` if there is one, else -1.
static int32_t special_id(const loader *L, json_t *config, const char *key, const char *fallback) {
    json_t *v = config ? json_object_get(config, key) : NULL;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (v && !json_is_null(v) && !json_is_string(v))
        FAIL(L, "tokenizer_config.json: %s should be a string or {\"content\": string}", key);
    if (!json_is_string(v)) return fallback ? bpe_piece_to_id(L->b, fallback) : -1;
    int32_t id = bpe_piece_to_id(L->b, json_string_value(v));
    if (id < 0)
        FAIL(L, "tokenizer_config.json: %s \"%.100s\" is not in the vocabulary", key, json_string_value(v));
    return id;
}

static void load_special_ids(const loader *L, json_t *model, tokenizer_info *info) {
    json_t *config = load_config(L);
    info->bos = special_id(L, config, "bos_token", "<|begin_of_text|>");
    info->eos = special_id(L, config, "eos_token", "<|end_of_text|>");
    info->pad = special_id(L, config, "pad_token", NULL);
    json_decref(config);
    const char *unk = get_string(L, model, "model", "unk_token", false);
    info->unk = unk ? bpe_piece_to_id(L->b, unk) : -1;
    if (unk && info->unk < 0) FAIL(L, "model.unk_token \"%.100s\" is not in the vocabulary", unk);
}

static void *bpe_load(const char *path, tokenizer_info *info) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) tokenizer_load_fail(path, "invalid JSON at line %d: %s", err.line, err.text);
    if (!json_is_object(root)) tokenizer_load_fail(path, "not a tokenizer.json (no JSON object)");
    loader L = {.path = path, .b = xcalloc(1, sizeof(bpe))};
    bpe *b = L.b;
    b->vocab = strmap_new();
    b->merges = strmap_new();
    init_standins(&L);
    check_unsupported(&L, root);
    json_t *model = get(&L, root, "", "model", JSON_OBJECT, true);
    load_model(&L, model);
    json_t *added = get(&L, root, "", "added_tokens", JSON_ARRAY, false);
    if (added) load_added_tokens(&L, added);
    load_pre_tokenizer(&L, get(&L, root, "", "pre_tokenizer", JSON_OBJECT, false));
    find_byte_ids(&L, model);
    info->vocab_size = b->vocab_size;
    info->fingerprint = finish_vocab(&L);
    load_special_ids(&L, model, info);
    free(L.piece);
    free(L.piece_len);
    json_decref(root);
    return b;
}

static void bpe_free(void *impl) {
    bpe *b = impl;
    if (!b) return;
    strmap_free(b->vocab);
    strmap_free(b->merges);
    free(b->text);
    free(b->text_off);
    free(b->special);
    for (size_t i = 0; i < b->n_added; i++) free(b->added[i].text);
    free(b->added);
    for (size_t i = 0; i < b->n_steps; i++) pcre2_code_free(b->steps[i].re);
    free(b);
}

// ---- encoding --------------------------------------------------------------

// A queued merge of the symbols at pos and next[pos], valid while they still
// hold the ids left and right.
typedef struct {
    int32_t rank, pos, left, right, merged;
} merge;

typedef struct {
    int32_t *ids;  // the output
    size_t n, cap;
    pcre2_match_data *match;
    // Scratch for one piece of n bytes: its stand-in spelling (2n), its
    // symbols as a linked list (n; sym -1 once merged away), a heap (3n).
    size_t piece_cap;
    char *spelling;
    int32_t *sym, *next, *prev;
    merge *heap;
    size_t n_heap;
} encoder;

static void emit(encoder *e, int32_t id) {
    if (e->n == e->cap) e->ids = xrealloc(e->ids, (e->cap *= 2) * sizeof *e->ids);
    e->ids[e->n++] = id;
}

static void reserve_piece(encoder *e, size_t n) {
    if (n <= e->piece_cap) return;
    e->piece_cap = n;
    e->spelling = xrealloc(e->spelling, 2 * n);
    e->sym = xrealloc(e->sym, n * sizeof *e->sym);
    e->next = xrealloc(e->next, n * sizeof *e->next);
    e->prev = xrealloc(e->prev, n * sizeof *e->prev);
    e->heap = xrealloc(e->heap, 3 * n * sizeof *e->heap);
}

// Lower rank first; between equal ranks, the leftmost (as HF's BPE does).
static bool before(const merge *x, const merge *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(encoder *e, merge m) {
    size_t i = e->n_heap++;
    for (; i > 0 && before(&m, &e->heap[(i - 1) / 2]); i = (i - 1) / 2) e->heap[i] = e->heap[(i - 1) / 2];
    e->heap[i] = m;
}

static merge heap_pop(encoder *e) {
    merge top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!before(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    e->heap[i] = last;
    return top;
}

static void queue_pair(const bpe *b, encoder *e, int32_t pos) {
    int32_t right = e->next[pos];
    if (right < 0) return;
    int32_t pair[2] = {e->sym[pos], e->sym[right]};
    int64_t v;
    if (strmap_get(b->merges, pair, sizeof pair, &v))
        heap_push(e, (merge){(int32_t)(v >> 32), pos, pair[0], pair[1], (int32_t)(v & 0xffffffff)});
}

// BPE proper: start from one symbol per byte (bytes without a token left
// out) and apply the best-ranked merge available until none is; a heap keeps
// this O(n log n) for long pieces.
static void merge_piece(const bpe *b, encoder *e, const char *s, size_t n) {
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = b->byte_id[(unsigned char)s[i]];
        if (id < 0) continue;
        e->sym[k] = id;
        e->prev[k] = k - 1;
        e->next[k] = k + 1;
        k++;
    }
    if (k == 0) return;
    e->next[k - 1] = -1;
    e->n_heap = 0;
    for (int32_t i = 0; i + 1 < k; i++) queue_pair(b, e, i);
    while (e->n_heap) {
        merge m = heap_pop(e);
        int32_t right = e->next[m.pos];
        if (e->sym[m.pos] != m.left || right < 0 || e->sym[right] != m.right) continue;  // stale
        e->sym[m.pos] = m.merged;
        e->sym[right] = -1;
        e->next[m.pos] = e->next[right];
        if (e->next[right] >= 0) e->prev[e->next[right]] = m.pos;
        if (e->prev[m.pos] >= 0) queue_pair(b, e, e->prev[m.pos]);
        queue_pair(b, e, m.pos);
    }
    for (int32_t i = 0; i >= 0; i = e->next[i]) emit(e, e->sym[i]);
}

static void encode_piece(const bpe *b, encoder *e, const char *s, size_t n) {
    if (n == 1) {
        if (b->byte_id[(unsigned char)s[0]] >= 0) emit(e, b->byte_id[(unsigned char)s[0]]);
        return;
    }
    reserve_piece(e, n);
    if (b->ignore_merges) {  // a piece that is a token is that token (Llama-3)
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            memcpy(e->spelling + len, b->standin[c], b->standin_len[c]);
            len += b->standin_len[c];
        }
        int64_t id;
        if (strmap_get(b->vocab, e->spelling, len, &id)) {
            emit(e, (int32_t)id);
            return;
        }
    }
    merge_piece(b, e, s, n);
}

static void pretokenize(const bpe *b, encoder *e, size_t step, const char *s, size_t n);

// An Isolated split: each match and each gap between matches is a piece.
static void split_isolated(const bpe *b, encoder *e, size_t step, const char *s, size_t n) {
    size_t done = 0;
    while (done < n) {
        int rc = pcre2_match(b->steps[step].re, (PCRE2_SPTR)s, n, done, 0, e->match, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR why[256];
            pcre2_get_error_message(rc, why, sizeof why);
            die("tokenizer: cannot split the text: %s", (char *)why);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->match);
        size_t start = ov[0], end = ov[1];
        // Empty matches were ruled out at load, but \K could still make one.
        if (end <= start) break;
        pretokenize(b, e, step + 1, s + done, start - done);
        pretokenize(b, e, step + 1, s + start, end - start);
        done = end;
    }
    pretokenize(b, e, step + 1, s + done, n - done);
}

static void pretokenize(const bpe *b, encoder *e, size_t step, const char *s, size_t n) {
    if (n == 0) return;
    if (step == b->n_steps) {
        encode_piece(b, e, s, n);
    } else if (b->steps[step].re) {
        split_isolated(b, e, step, s, n);
    } else if (s[0] == ' ') {
        pretokenize(b, e, step + 1, s, n);
    } else {  // ByteLevel's add_prefix_space
        char *spaced = xmalloc(n + 1);
        spaced[0] = ' ';
        memcpy(spaced + 1, s, n);
        pretokenize(b, e, step + 1, spaced, n + 1);
        free(spaced);
    }
}

// The longest added token at s, if any.
static const added_token *added_at(const bpe *b, const char *s, size_t n) {
    for (size_t i = 0; i < b->n_added; i++)
        if (b->added[i].len <= n && memcmp(b->added[i].text, s, b->added[i].len) == 0) return &b->added[i];
    return NULL;
}

static int32_t *bpe_encode(const void *impl, const char *text, size_t len, size_t *n) {
    const bpe *b = impl;
    encoder e = {.cap = 64};
    e.ids = xmalloc(e.cap * sizeof *e.ids);
    e.match = pcre2_match_data_create(1, NULL);
    if (!e.match) die_internal("out of memory");
    // Added tokens are found first, leftmost then longest; the text between
    // them is pre-tokenized.
    size_t done = 0;
    for (size_t i = 0; i < len; i++) {
        if (!b->added_start[(unsigned char)text[i]]) continue;
        const added_token *a = added_at(b, text + i, len - i);
        if (!a) continue;
        pretokenize(b, &e, 0, text + done, i - done);
        emit(&e, a->id);
        done = i + a->len;
        i = done - 1;
    }
    pretokenize(b, &e, 0, text + done, len - done);
    pcre2_match_data_free(e.match);
    free(e.spelling);
    free(e.sym);
    free(e.next);
    free(e.prev);
    free(e.heap);
    *n = e.n;
    return e.ids;
}

static char *bpe_decode(const void *impl, const int32_t *ids, size_t n, bool skip_special, size_t *len) {
    const bpe *b = impl;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (!(skip_special && b->special[ids[i]])) total += b->text_off[ids[i] + 1] - b->text_off[ids[i]];
    char *out = xmalloc(total), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (skip_special && b->special[ids[i]]) continue;
        size_t k = b->text_off[ids[i] + 1] - b->text_off[ids[i]];
        memcpy(o, b->text + b->text_off[ids[i]], k);
        o += k;
    }
    *len = total;
    return out;
}

const tokenizer_ops bpe_ops = {
    .name = "bpe",
    .load = bpe_load,
    .free = bpe_free,
    .encode = bpe_encode,
    .decode = bpe_decode,
    .piece_to_id = bpe_piece_to_id,
};
