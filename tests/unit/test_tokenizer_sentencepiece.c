// test_tokenizer_sentencepiece.c: training a small SentencePiece unigram model
// from generated sentences, T5's special ids, encode/decode round trips,
// fingerprints, and clean failures for corrupt models and impossible training.
#include <stdlib.h>
#include <unistd.h>

#include "base/util.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

static char dir[] = "/tmp/deal-test-sp-XXXXXX";

static char *path_in_dir(const char *name) { return xasprintf("%s/%s", dir, name); }

// Sentences of six to eleven made-up words of one to three syllables, varied
// enough for a few hundred pieces; the same seed gives the same sentences.
static char *sentence(unsigned *seed) {
    static const char *const syllables[] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ber",
                                            "dan", "fel", "gor", "hin", "jus", "pra", "qua", "stel",
                                            "tro", "wen", "xi", "yel", "zor", "ash", "om"};
    static const char *const ends[] = {".", "!", "?", ",", ";"};
    enum { N_SYLLABLES = sizeof syllables / sizeof *syllables };
    char s[256] = "";
    *seed = *seed * 1103515245u + 12345u;
    int words = 6 + (int)(*seed >> 16) % 6;
    for (int w = 0; w < words; w++) {
        if (w) strcat(s, " ");
        *seed = *seed * 1103515245u + 12345u;
        for (int k = 0; k <= (int)(*seed >> 20) % 3; k++) {
            *seed = *seed * 1103515245u + 12345u;
            strcat(s, syllables[(*seed >> 16) % N_SYLLABLES]);
        }
    }
    *seed = *seed * 1103515245u + 12345u;
    strcat(s, ends[(*seed >> 16) % 5]);
    s[0] = (char)(s[0] - 'a' + 'A');
    return xstrdup(s);
}

enum { N_TEXTS = 400 };

static char *train(const char *name, int vocab_size) {
    char *texts[N_TEXTS];
    unsigned seed = 1;
    for (int i = 0; i < N_TEXTS; i++) texts[i] = sentence(&seed);
    char *path = path_in_dir(name);
    tokenizer_train_sentencepiece(texts, N_TEXTS, vocab_size, path);
    for (int i = 0; i < N_TEXTS; i++) free(texts[i]);
    return path;
}

static char *model_path;  // trained once, by test_train_and_special_ids

static void test_train_and_special_ids(void) {
    model_path = train("sp.model", 400);
    tokenizer *t = tokenizer_load(model_path);
    CHECK_STR(tokenizer_type(t), "sentencepiece");
    CHECK(tokenizer_vocab_size(t) == 400);
    CHECK(tokenizer_pad_id(t) == 0);
    CHECK(tokenizer_eos_id(t) == 1);
    CHECK(tokenizer_unk_id(t) == 2);
    CHECK(tokenizer_bos_id(t) == -1);
    CHECK(tokenizer_piece_to_id(t, "</s>") == 1);
    CHECK(tokenizer_piece_to_id(t, "<pad>") == 0);
    CHECK(tokenizer_piece_to_id(t, "no such piece") == -1);
    tokenizer_free(t);
    char *cmd = xasprintf("test $(ls -A %s | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0);  // the model and no temporary beside it
    free(cmd);
}

// True if decoding ids (with skip_special as given) gives want.
static int decodes_to(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special, const char *want) {
    char *got = tokenizer_decode(t, ids, n, skip_special);
    int same = strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "  decoded \"%s\", want \"%s\"\n", got, want);
    free(got);
    return same;
}

static void test_round_trips(void) {
    tokenizer *t = tokenizer_load(model_path);
    unsigned seed = 99;  // sentences other than the training ones
    for (int i = 0; i < 20; i++) {
        char *s = sentence(&seed);
        char *with_eos = xasprintf("%s</s>", s);
        size_t n;
        int32_t *ids = tokenizer_encode(t, s, strlen(s), &n);
        CHECK(n > 0);
        bool plain = true;  // no eos, bos or pad added
        for (size_t k = 0; k < n; k++) plain &= ids[k] > 2;
        CHECK(plain);
        CHECK(decodes_to(t, ids, n, false, s));
        ids = xrealloc(ids, (n + 2) * sizeof *ids);
        ids[n] = tokenizer_eos_id(t);
        ids[n + 1] = tokenizer_pad_id(t);
        CHECK(decodes_to(t, ids, n + 2, true, s));
        ids[n + 1] = ids[n];
        CHECK(decodes_to(t, ids, n + 1, false, with_eos));
        free(ids), free(s), free(with_eos);
    }
    // Characters never seen in training come back too (byte fallback).
    const char *unseen = "Digits 0123456789, snow \xe2\x98\x83 and caf\xc3\xa9.";
    size_t n;
    int32_t *ids = tokenizer_encode(t, unseen, strlen(unseen), &n);
    bool known = true;
    for (size_t k = 0; k < n; k++) known &= ids[k] != tokenizer_unk_id(t);
    CHECK(known);
    CHECK(decodes_to(t, ids, n, true, unseen));
    free(ids);
    free(tokenizer_encode(t, "", 0, &n));
    CHECK(n == 0);
    tokenizer_free(t);
}

static void test_fingerprints(void) {
    tokenizer *a = tokenizer_load(model_path), *b = tokenizer_load(model_path);
    CHECK(tokenizer_fingerprint(a) == tokenizer_fingerprint(b));
    char *other_path = train("other.model", 350);
    tokenizer *other = tokenizer_load(other_path);
    CHECK(tokenizer_fingerprint(other) != tokenizer_fingerprint(a));
    tokenizer_free(other);
    unlink(other_path);
    free(other_path);
    const char *shared = test_shared_dir();
    char *bpe_path = shared ? xasprintf("%s/data/tokenizers/llama3_1/tokenizer.json", shared) : NULL;
    if (bpe_path && access(bpe_path, R_OK) == 0) {
        tokenizer *bpe = tokenizer_load(bpe_path);
        CHECK(tokenizer_fingerprint(bpe) != tokenizer_fingerprint(a));
        tokenizer_free(bpe);
    } else {
        fprintf(stderr, "  (no shared Llama-3.1 tokenizer.json: fingerprint not compared with BPE)\n");
    }
    free(bpe_path);
    tokenizer_free(a), tokenizer_free(b);
}

static void load(void *path) { tokenizer_load(path); }

static void write_bytes(const char *path, const char *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (fp) fwrite(data, 1, len, fp), fclose(fp);
}

static void test_corrupt_models_fail_cleanly(void) {
    char *garbage = path_in_dir("garbage.model");
    const char junk[] = "\x0a\xff\xff\xff\xff\x0f this is not a protobuf";
    write_bytes(garbage, junk, sizeof junk - 1);
    CHECK(dies_with(load, garbage, "cannot load tokenizer"));
    CHECK(dies_with(load, garbage, garbage));
    size_t len;
    char *model = read_file(model_path, &len);
    char *cut = path_in_dir("cut.model");
    write_bytes(cut, model, len / 2);
    CHECK(dies_with(load, cut, "cannot load tokenizer"));
    char *empty = path_in_dir("empty.model");
    write_bytes(empty, "", 0);
    CHECK(dies_with(load, empty, "the file is empty"));
    char *none = path_in_dir("none.model");
    CHECK(dies_with(load, none, "No such file"));
    unlink(garbage), unlink(cut), unlink(empty);
    free(garbage), free(model), free(cut), free(empty), free(none);
}

static void train_too_small(void *path) {
    char *texts[] = {"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"};
    tokenizer_train_sentencepiece(texts, 2, 10, path);
}

static void train_too_large(void *name) { free(train(name, 100000)); }

static void test_training_errors_are_clear(void) {
    char *small = path_in_dir("small.model"), *large = path_in_dir("large.model");
    CHECK(dies_with(train_too_small, small, "cannot train a SentencePiece vocabulary of 10 pieces: "
                                            "Vocabulary size is smaller than required_chars"));
    CHECK(dies_with(train_too_large, "large.model", "cannot train a SentencePiece vocabulary of 100000 "
                                                    "pieces: Vocabulary size too high"));
    CHECK(access(small, F_OK) != 0 && access(large, F_OK) != 0);
    free(small), free(large);
}

int main(void) {
    deal_set_tool("test_tokenizer_sentencepiece");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    RUN(test_train_and_special_ids);
    RUN(test_round_trips);
    RUN(test_fingerprints);
    RUN(test_corrupt_models_fail_cleanly);
    RUN(test_training_errors_are_clear);
    remove_tree(dir);
    free(model_path);
    return test_summary();
}
