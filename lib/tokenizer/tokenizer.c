// tokenizer.c: the common front of both tokenizer families. A tokenizer is a
// back end's ops table, its opaque state and what it reported at load time;
// this file picks the back end, checks ids before decoding, and guarantees
// that decoded text is valid UTF-8.
#include "tokenizer/tokenizer_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "base/util.h"

struct tokenizer {
    const tokenizer_ops *ops;
    void *impl;
    tokenizer_info info;
};

void tokenizer_load_fail(const char *path, const char *fmt, ...) {
    char why[1024];  // long enough; a hostile file's token text gets cut short
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    die("cannot load tokenizer %s: %s", path, why);
}

uint64_t tokenizer_fingerprint_piece(uint64_t h, const char *piece, size_t len) {
    static const char sep = 0;
    return fnv1a64(fnv1a64(h, piece, len), &sep, 1);
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

// "*.json" is a HF tokenizer.json and "*.model" a SentencePiece model; any
// other name is told by its content (JSON opens with '{'). Reading the first
// byte here also gives one clear message for missing or unreadable files.
static const tokenizer_ops *pick_backend(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) tokenizer_load_fail(path, "%s", strerror(errno));
    int c;
    while ((c = getc(fp)) != EOF && isspace(c)) {
    }
    int read_errno = errno;
    bool failed = ferror(fp);
    fclose(fp);
    if (failed) tokenizer_load_fail(path, "%s", strerror(read_errno));
    if (c == EOF) tokenizer_load_fail(path, "the file is empty");
    if (has_suffix(path, ".json")) return &bpe_ops;
    if (has_suffix(path, ".model")) return &sp_ops;
    return c == '{' ? &bpe_ops : &sp_ops;
}

tokenizer *tokenizer_load(const char *path) {
    tokenizer *t = xcalloc(1, sizeof *t);
    t->ops = pick_backend(path);
    t->impl = t->ops->load(path, &t->info);
    return t;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    t->ops->free(t->impl);
    free(t);
}

const char *tokenizer_type(const tokenizer *t) { return t->ops->name; }
int32_t tokenizer_vocab_size(const tokenizer *t) { return t->info.vocab_size; }
int32_t tokenizer_bos_id(const tokenizer *t) { return t->info.bos; }
int32_t tokenizer_eos_id(const tokenizer *t) { return t->info.eos; }
int32_t tokenizer_pad_id(const tokenizer *t) { return t->info.pad; }
int32_t tokenizer_unk_id(const tokenizer *t) { return t->info.unk; }
uint64_t tokenizer_fingerprint(const tokenizer *t) { return t->info.fingerprint; }

int32_t tokenizer_piece_to_id(const tokenizer *t, const char *piece) {
    return piece ? t->ops->piece_to_id(t->impl, piece) : -1;
}

int32_t *tokenizer_encode(const tokenizer *t, const char *text, size_t len, size_t *n) {
    return t->ops->encode(t->impl, text, len, n);
}

// The length of the UTF-8 character at s (n > 0 bytes left), or minus the
// length of the invalid sequence there, that is of the longest prefix of a
// valid character (the "maximal subpart" that one U+FFFD replaces).
static int utf8_char(const unsigned char *s, size_t n) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    int more;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return -1;
    }
    for (int i = 1; i <= more; i++) {
        if ((size_t)i >= n || s[i] < lo || s[i] > hi) return -i;
        lo = 0x80, hi = 0xBF;
    }
    return more + 1;
}

// A NUL-terminated copy of s with every invalid sequence replaced by U+FFFD,
// as Hugging Face's decoders do (String::from_utf8_lossy).
static char *utf8_lossy(const char *s, size_t n) {
    char *out = xmalloc(3 * n + 1), *o = out;  // a bad byte grows to 3 at most
    for (size_t i = 0; i < n;) {
        int k = utf8_char((const unsigned char *)s + i, n - i);
        if (k > 0) {
            memcpy(o, s + i, (size_t)k);
            o += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            k = -k;
        }
        i += (size_t)k;
    }
    *o = '\0';
    return out;
}

char *tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->info.vocab_size)
            die("cannot decode token id %d: the vocabulary has ids 0 to %d", ids[i],
                t->info.vocab_size - 1);
    size_t len;
    char *raw = t->ops->decode(t->impl, ids, n, skip_special, &len);
    char *text = utf8_lossy(raw, len);
    free(raw);
    return text;
}

void tokenizer_train_sentencepiece(char *const *texts, size_t n_texts, int vocab_size,
                                   const char *out_path) {
    size_t len;
    char *model = sp_train(texts, n_texts, vocab_size, &len);
    atomic_file f = atomic_open(out_path);
    if (fwrite(model, 1, len, f.fp) != len) die("%s: write error: %s", out_path, strerror(errno));
    atomic_commit(&f);
    free(model);
}

char *tokenizer_path_in(const char *dir) {
    static const char *names[] = {"spiece.model", "tokenizer.json", "tokenizer.model"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = xasprintf("%s/%s", dir, names[i]);
        if (access(p, R_OK) == 0) return p;
        free(p);
    }
    return NULL;
}
