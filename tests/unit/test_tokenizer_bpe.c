// test_tokenizer_bpe.c: the Hugging Face byte-level BPE tokenizer: Llama-3.1's
// tokenizer.json against reference ids from an independent implementation,
// a tiny hand-written tokenizer whose ids are worked out by hand, and
// malformed files that must stop with a message naming the file.
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

static char dir[] = "/tmp/deal-test-bpe-XXXXXX";

static char *path_in_dir(const char *name) { return xasprintf("%s/%s", dir, name); }

// True if text encodes to want; prints both otherwise.
static int encodes_to(const tokenizer *t, const char *text, size_t len, const int32_t *want, size_t n_want) {
    size_t n;
    int32_t *got = tokenizer_encode(t, text, len, &n);
    int same = n == n_want && memcmp(got, want, n * sizeof *got) == 0;
    if (!same) {
        fprintf(stderr, "  \"%.80s\":\n    got: ", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n    want:");
        for (size_t i = 0; i < n_want; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    free(got);
    return same;
}

#define ENCODES_TO(t, text, ...)                                                                \
    encodes_to(t, text, strlen(text), (const int32_t[]){__VA_ARGS__},                          \
               sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

// True if decode(encode(text)) gives text back.
static int round_trips(const tokenizer *t, const char *text, size_t len) {
    size_t n;
    int32_t *ids = tokenizer_encode(t, text, len, &n);
    char *back = tokenizer_decode(t, ids, n, false);
    int same = strlen(back) == len && memcmp(back, text, len) == 0;
    if (!same) fprintf(stderr, "  round trip of \"%.80s\" gave \"%.80s\"\n", text, back);
    free(ids);
    free(back);
    return same;
}

// True if ids decode to want; prints what they gave otherwise.
static int decodes_to(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special, const char *want) {
    char *got = tokenizer_decode(t, ids, n, skip_special);
    int same = strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "  decoded \"%s\", want \"%s\"\n", got, want);
    free(got);
    return same;
}

// ---- Llama-3.1 -------------------------------------------------------------

static char *llama3_file(const char *name) {
    const char *shared = test_shared_dir();
    if (!shared) return NULL;
    char *path = xasprintf("%s/data/tokenizers/llama3_1/%s", shared, name);
    if (access(path, R_OK) == 0) return path;
    free(path);
    return NULL;
}

static void test_llama3_reference_vectors(void) {
    char *json = llama3_file("tokenizer.json"), *vectors = llama3_file("encode_vectors.jsonl");
    if (!json || !vectors) {
        free(json), free(vectors);
        SKIP("no shared data/tokenizers/llama3_1/{tokenizer.json,encode_vectors.jsonl} (set DEAL_SHARED)");
    }
    tokenizer *t = tokenizer_load(json);
    char *data = read_file(vectors, NULL);
    int lines = 0, matched = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t err;
        json_t *v = json_loads(line, JSON_ALLOW_NUL, &err);
        json_t *text = json_object_get(v, "text"), *ids = json_object_get(v, "ids");
        CHECK(json_is_string(text) && json_is_array(ids));
        if (!json_is_string(text) || !json_is_array(ids)) break;
        size_t n_want = json_array_size(ids);
        int32_t *want = xmalloc(n_want * sizeof *want);
        for (size_t i = 0; i < n_want; i++) want[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        const char *s = json_string_value(text);
        size_t len = json_string_length(text);
        lines++;
        int ok = encodes_to(t, s, len, want, n_want);
        matched += ok;
        CHECK(ok);
        CHECK(round_trips(t, s, len));
        free(want);
        json_decref(v);
    }
    fprintf(stderr, "  %d of %d reference vectors match\n", matched, lines);
    CHECK(lines >= 100);
    free(data), free(json), free(vectors);
    tokenizer_free(t);
}

static void test_llama3_specials(void) {
    char *json = llama3_file("tokenizer.json");
    if (!json) SKIP("no shared data/tokenizers/llama3_1/tokenizer.json (set DEAL_SHARED)");
    tokenizer *t = tokenizer_load(json);
    CHECK_STR(tokenizer_type(t), "bpe");
    CHECK(tokenizer_vocab_size(t) == 128256);
    CHECK(tokenizer_bos_id(t) == 128000);
    CHECK(tokenizer_eos_id(t) == 128009);  // tokenizer_config.json: "<|eot_id|>"
    CHECK(tokenizer_pad_id(t) == -1);
    CHECK(tokenizer_unk_id(t) == -1);
    CHECK(tokenizer_piece_to_id(t, "<|end_of_text|>") == 128001);
    CHECK(tokenizer_piece_to_id(t, "Ġthe") == 279);
    CHECK(tokenizer_piece_to_id(t, "no such token") == -1);
    // Special tokens written in the text are found as such.
    CHECK(ENCODES_TO(t, "<|begin_of_text|>Hello<|eot_id|>", 128000, 9906, 128009));
    const int32_t ids[] = {128000, 9906, 128009};
    CHECK(decodes_to(t, ids, 3, true, "Hello"));
    CHECK(decodes_to(t, ids, 3, false, "<|begin_of_text|>Hello<|eot_id|>"));
    uint64_t fp = tokenizer_fingerprint(t);
    tokenizer_free(t);
    t = tokenizer_load(json);
    CHECK(tokenizer_fingerprint(t) == fp);
    tokenizer_free(t);
    free(json);
}

// ---- a tiny hand-written tokenizer ------------------------------------------

// GPT-2's stand-in for byte c, as UTF-8: printable bytes are themselves, the
// 68 others are U+0100 on in byte order (space is U+0120 'Ġ').
static const char *standin(int c) {
    static char s[3];
    int k = 0;
    for (int d = 0; d < c; d++) k += !((d >= 0x21 && d <= 0x7E) || (d >= 0xA1 && d <= 0xAC) || d >= 0xAE);
    bool printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
    int cp = printable ? c : 0x100 + k;
    if (cp < 0x80) {
        s[0] = (char)cp, s[1] = 0;
    } else {
        s[0] = (char)(0xC0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3F)), s[2] = 0;
    }
    return s;
}

static const char *llama3_regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Bytes are ids 0-255 (id = byte value), then:
//   256 ll, 257 he, 258 llo, 259 hello, 260 Ġw, 261 or, 262 Ġwor, 263 el,
//   264 ab (in the vocabulary, but no merge makes it);
// merges by rank: l+l, h+e, ll+o, he+llo, Ġ+w, o+r, Ġw+or, e+l;
// added tokens 300 <|end|> (special), 301 <x>, 302 <x>>.
// Llama-3's pre-tokenizer, or, with gpt2, ByteLevel with its own regex and
// prefix space.
static json_t *tiny_tokenizer(bool ignore_merges, bool gpt2) {
    json_t *vocab = json_object();
    for (int c = 0; c < 256; c++) json_object_set_new(vocab, standin(c), json_integer(c));
    const char *extra[] = {"ll", "he", "llo", "hello", "Ġw", "or", "Ġwor", "el", "ab"};
    for (int i = 0; i < 9; i++) json_object_set_new(vocab, extra[i], json_integer(256 + i));
    json_t *merges = json_pack("[s, s, [s, s], s, s, s, s, s]", "l l", "h e", "ll", "o", "he llo", "Ġ w",
                               "o r", "Ġw or", "e l");
    json_t *pre = gpt2 ? json_pack("{s:s, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 1,
                                   "use_regex", 1)
                       : json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b}]}", "type",
                                   "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
                                   llama3_regex, "behavior", "Isolated", "invert", 0, "type", "ByteLevel",
                                   "add_prefix_space", 0, "use_regex", 0);
    return json_pack("{s:[{s:i, s:s, s:b}, {s:i, s:s, s:b}, {s:i, s:s, s:b}], s:n, s:o, s:o, "
                     "s:{s:s}, s:{s:s, s:n, s:b, s:o, s:o}}",
                     "added_tokens", "id", 300, "content", "<|end|>", "special", 1, "id", 301, "content",
                     "<x>", "special", 0, "id", 302, "content", "<x>>", "special", 0, "normalizer",
                     "pre_tokenizer", pre, "decoder", json_pack("{s:s}", "type", "ByteLevel"), "post_processor",
                     "type", "TemplateProcessing", "model", "type", "BPE", "unk_token", "ignore_merges",
                     ignore_merges, "vocab", vocab, "merges", merges);
}

// Writes root (taking it) as dir/name and returns the path.
static char *write_json(const char *name, json_t *root) {
    char *path = path_in_dir(name);
    if (json_dump_file(root, path, 0) != 0) fprintf(stderr, "cannot write %s\n", path);
    json_decref(root);
    return path;
}

static void write_text(const char *path, const char *text, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (fp) fwrite(text, 1, len, fp), fclose(fp);
}

static void test_tiny_by_hand(void) {
    char *path = write_json("tiny.json", tiny_tokenizer(true, false));
    tokenizer *t = tokenizer_load(path);
    CHECK(tokenizer_vocab_size(t) == 303);
    CHECK(tokenizer_bos_id(t) == -1);
    CHECK(tokenizer_eos_id(t) == 300);  // from tokenizer_config.json
    CHECK(tokenizer_pad_id(t) == 301);
    CHECK(tokenizer_piece_to_id(t, "Ġwor") == 262);
    CHECK(tokenizer_piece_to_id(t, "<x>>") == 302);
    CHECK(ENCODES_TO(t, "hello world", 259, 262, 108, 100));  // "hello" is a token (ignore_merges)
    CHECK(ENCODES_TO(t, "hell", 257, 256));                   // l+l first, then h+e
    CHECK(ENCODES_TO(t, "ell", 101, 256));                    // rank beats position: l+l before e+l
    CHECK(ENCODES_TO(t, "ab", 264));                          // a token although no merge makes it
    CHECK(ENCODES_TO(t, "  x", 32, 32, 120));                 // "\s+(?!\S)" leaves " x" together
    CHECK(ENCODES_TO(t, "hi<|end|>there<x>><x>", 104, 105, 300, 116, 257, 114, 101, 302, 301));
    CHECK(ENCODES_TO(t, "\xc3\xa9", 0xc3, 0xa9));
    CHECK(ENCODES_TO(t, "\xff\xfe", 0xff, 0xfe));  // invalid UTF-8 still encodes, byte by byte
    size_t n;
    free(tokenizer_encode(t, "", 0, &n));
    CHECK(n == 0);
    const int32_t ids[] = {104, 105, 300, 116, 257, 114, 101, 301, 280};  // 280: no token, decodes to ""
    CHECK(decodes_to(t, ids, 9, true, "hithere<x>"));
    CHECK(decodes_to(t, ids, 9, false, "hi<|end|>there<x>"));
    const int32_t bad_utf8[] = {0xff, 0xfe, 0xc3};  // each byte is replaced by U+FFFD
    CHECK(decodes_to(t, bad_utf8, 3, false, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
    const char *texts[] = {"hello world", "  tabs\tand\nnewlines\r\n\r\n", "héllo wörld 世界 🙂", "<|end|>"};
    for (int i = 0; i < 4; i++) CHECK(round_trips(t, texts[i], strlen(texts[i])));
    tokenizer_free(t);
    free(path);
}

static void test_tiny_variants(void) {
    char *path = write_json("merges.json", tiny_tokenizer(false, false));
    tokenizer *t = tokenizer_load(path);
    CHECK(ENCODES_TO(t, "ab", 97, 98));  // without ignore_merges only merges make tokens
    CHECK(ENCODES_TO(t, "hello", 259));
    tokenizer_free(t);
    free(path);
    path = write_json("gpt2.json", tiny_tokenizer(false, true));
    t = tokenizer_load(path);
    CHECK(ENCODES_TO(t, "hello world", 32, 259, 262, 108, 100));  // prefix space: " hello"
    tokenizer_free(t);
    free(path);
}

static void load(void *path) { tokenizer_load(path); }

// Writes root (a broken tiny tokenizer) as dir/name and checks that loading
// it dies naming the file and mentioning needle.
static int bad_file_dies(const char *name, json_t *root, const char *needle) {
    char *path = write_json(name, root);
    int ok = dies_with(load, path, "cannot load tokenizer") && dies_with(load, path, path) &&
             dies_with(load, path, needle);
    free(path);
    return ok;
}

static json_t *tiny_model(json_t *root) { return json_object_get(root, "model"); }

static json_t *tiny_split_pattern(json_t *root) {
    json_t *steps = json_object_get(json_object_get(root, "pre_tokenizer"), "pretokenizers");
    return json_object_get(json_array_get(steps, 0), "pattern");
}

static void test_malformed_files_fail_cleanly(void) {
    json_t *root = tiny_tokenizer(true, false);
    char *text = json_dumps(root, 0);
    json_decref(root);
    char *cut = path_in_dir("truncated.json");
    write_text(cut, text, strlen(text) / 2);
    CHECK(dies_with(load, cut, "invalid JSON"));
    free(text), free(cut);

    root = tiny_tokenizer(true, false);
    json_array_append_new(json_object_get(tiny_model(root), "merges"), json_string("q zz"));
    CHECK(bad_file_dies("unknown-merge.json", root, "token \"zz\" is not in the vocabulary"));

    root = tiny_tokenizer(true, false);
    json_array_append_new(json_object_get(tiny_model(root), "merges"), json_string("x y"));
    CHECK(bad_file_dies("unknown-merged.json", root, "token \"xy\" is not in the vocabulary"));

    root = tiny_tokenizer(true, false);
    json_array_append_new(json_object_get(tiny_model(root), "merges"), json_string("xy"));
    CHECK(bad_file_dies("merge-no-space.json", root, "merge 8"));

    root = tiny_tokenizer(true, false);
    json_object_set_new(tiny_model(root), "type", json_string("WordPiece"));
    CHECK(bad_file_dies("wordpiece.json", root, "model type \"WordPiece\" is not supported"));

    root = tiny_tokenizer(true, false);
    json_object_del(tiny_model(root), "vocab");
    CHECK(bad_file_dies("no-vocab.json", root, "model.vocab is missing"));

    root = tiny_tokenizer(true, false);
    json_object_set_new(json_object_get(tiny_model(root), "vocab"), "zz", json_integer(-5));
    CHECK(bad_file_dies("negative-id.json", root, "token \"zz\": the id should be"));

    root = tiny_tokenizer(true, false);
    json_object_set_new(json_object_get(tiny_model(root), "vocab"), "zz", json_integer(97));
    CHECK(bad_file_dies("same-id.json", root, "both have id 97"));

    root = tiny_tokenizer(true, false);
    json_object_del(json_object_get(tiny_model(root), "vocab"), standin(0));
    json_object_set_new(tiny_model(root), "unk_token", json_string("a"));  // without one, HF drops the byte
    CHECK(bad_file_dies("no-byte.json", root, "no token for byte 0x00"));

    root = tiny_tokenizer(true, false);
    json_object_set_new(root, "normalizer", json_pack("{s:s}", "type", "NFC"));
    CHECK(bad_file_dies("normalizer.json", root, "normalizers are not supported"));

    root = tiny_tokenizer(true, false);
    json_object_set_new(tiny_split_pattern(root), "Regex", json_string("(unclosed"));
    CHECK(bad_file_dies("bad-regex.json", root, "split pattern \"(unclosed\""));

    root = tiny_tokenizer(true, false);
    json_object_set_new(tiny_split_pattern(root), "Regex", json_string("a*"));
    CHECK(bad_file_dies("empty-match.json", root, "can match the empty string"));

    CHECK(bad_file_dies("array.json", json_pack("[i]", 1), "not a tokenizer.json"));

    char *none = path_in_dir("none.json");
    CHECK(dies_with(load, none, "No such file"));
    free(none);
}

static void test_config_errors_and_defaults(void) {
    char *sub = path_in_dir("cfg");
    CHECK(mkdir(sub, 0700) == 0);
    char *cfg = xasprintf("%s/tokenizer_config.json", sub), *json = xasprintf("%s/tokenizer.json", sub);
    json_t *root = tiny_tokenizer(true, false);
    json_dump_file(root, json, 0);
    json_decref(root);
    // Without tokenizer_config.json: "<|end_of_text|>" is the default eos, absent here.
    tokenizer *t = tokenizer_load(json);
    CHECK(tokenizer_eos_id(t) == -1 && tokenizer_pad_id(t) == -1);
    tokenizer_free(t);
    const char nope[] = "{\"eos_token\": \"<nope>\"}";
    write_text(cfg, nope, sizeof nope - 1);
    CHECK(dies_with(load, json, "eos_token \"<nope>\" is not in the vocabulary"));
    write_text(cfg, "{\"eos", 5);
    CHECK(dies_with(load, json, "tokenizer_config.json: invalid JSON"));
    free(sub), free(cfg), free(json);
}

static void decode_out_of_range(void *path) {
    tokenizer *t = tokenizer_load(path);
    const int32_t ids[] = {104, 303};
    tokenizer_decode(t, ids, 2, false);
}

static void test_decode_rejects_unknown_ids(void) {
    char *path = path_in_dir("tiny.json");
    CHECK(dies_with(decode_out_of_range, path, "cannot decode token id 303"));
    free(path);
}

int main(void) {
    deal_set_tool("test_tokenizer_bpe");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    char *cfg = path_in_dir("tokenizer_config.json");
    const char config[] = "{\"eos_token\": {\"content\": \"<|end|>\"}, \"pad_token\": \"<x>\"}";
    write_text(cfg, config, sizeof config - 1);
    free(cfg);
    RUN(test_llama3_reference_vectors);
    RUN(test_llama3_specials);
    RUN(test_tiny_by_hand);
    RUN(test_tiny_variants);
    RUN(test_malformed_files_fail_cleanly);
    RUN(test_config_errors_and_defaults);
    RUN(test_decode_rejects_unknown_ids);
    remove_tree(dir);
    return test_summary();
}
