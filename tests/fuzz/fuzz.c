// fuzz.c: mutation fuzzing of the readers of untrusted files. Each input is
// a valid seed file with a few random mutations (bytes flipped or set to
// boundary values, 8-byte integers overwritten with extreme ones, the file
// cut short, a stretch repeated); a child process reads it through the
// library, as the tools do. The child must either succeed (exit 0) or refuse
// the file with a message (die(): exit 1). Anything else is a finding: a
// crash or a sanitizer report (run under ASan and UBSan with abort_on_error,
// see make fuzz), an internal error (exit 2: e.g. a size read from the file
// reaching the allocator), or a child still running after 20 s. Its input is
// kept as WORK_DIR/finding-TARGET-N (to read it again, a tokenizer's needs
// its .json name back, a config's a folder of its own).
//
//   fuzz TARGET SEED ITERATIONS WORK_DIR [RNG_SEED]
//   targets: safetensors, gguf, tokens (a deal-tokenize stream), tokenizer (a
//   tokenizer.json), config (a model's config.json)
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/rng.h"
#include "base/util.h"
#include "data/tokens.h"
#include "model/config.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"

// ---- what a child does with an input ------------------------------------------------------

static void read_safetensors(const char *path) {
    safetensors *st = st_open(path);
    for (int i = 0; i < st_count(st); i++) {
        const st_tensor *t = st_at(st, i);
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) continue;
        float *out = xmalloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
        st_read_f32(st, t->name, t->shape, t->ndim, out);
        free(out);
    }
    st_close(st);
}

static void read_gguf(const char *path) {
    gguf *g = gguf_open(path);
    uint64_t n;
    gguf_strings(g, "tokenizer.ggml.tokens", &n);
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        float *out = xmalloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
        gguf_read_f32(g, t, out);
        free(out);
    }
    gguf_close(g);
}

static void read_tokens(const char *path) {
    token_set s = token_set_read(path);
    token_set_free(&s);
}

static void read_tokenizer(const char *path) {
    tokenizer *t = tokenizer_load(path);
    static const char text[] = "Hello world, 42 times!";
    size_t n;
    int32_t *ids = tokenizer_encode(t, text, sizeof text - 1, &n);
    char *back = tokenizer_decode(t, ids, n, false);
    free(ids), free(back);
    tokenizer_free(t);
}

// A model folder's config.json: the folder is the input's.
static void read_config(const char *path) {
    char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    config_load(dir);
    free(dir);
}

typedef struct {
    const char *name, *ext;  // the input is WORK_DIR/input + ext (the tokenizer goes by the extension)
    void (*read)(const char *path);
} target;

static const target targets[] = {
    {"safetensors", ".safetensors", read_safetensors},
    {"gguf", ".gguf", read_gguf},
    {"tokens", ".tok", read_tokens},
    {"tokenizer", ".json", read_tokenizer},
    {"config", "/config.json", read_config},
};

// ---- mutations --------------------------------------------------------------------------------

// A position, half the time in the first KiB (where the headers are).
static size_t position(rng *r, size_t n) {
    size_t span = rng_next(r) % 2 && n > 1024 ? 1024 : n;
    return (size_t)(rng_next(r) % span);
}

// Applies 1-4 random mutations to buf (n bytes, room for cap); returns the new size.
static size_t mutate(rng *r, unsigned char *buf, size_t n, size_t cap) {
    static const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', '{', ']', '0', '9'};
    static const uint64_t words[] = {0, 1, 0x7fffffffffffffffull, 0xffffffffffffffffull, 0x100000000ull, 0x80000000ull};
    int k = 1 + (int)(rng_next(r) % 4);
    for (int m = 0; m < k && n > 0; m++) {
        size_t at = position(r, n);
        switch (rng_next(r) % 5) {
        case 0: buf[at] ^= (unsigned char)(1u << (rng_next(r) % 8)); break;
        case 1: buf[at] = bytes[rng_next(r) % sizeof bytes]; break;
        case 2:
            if (at + 8 <= n) {
                uint64_t w = words[rng_next(r) % (sizeof words / sizeof *words)];
                memcpy(buf + at, &w, 8);  // little-endian on x86-64, as the formats are
            }
            break;
        case 3: n = at; break;  // cut short
        case 4: {  // repeat a stretch of up to 64 bytes in place after itself
            size_t len = 1 + (size_t)(rng_next(r) % 64);
            if (at + len > n || n + len > cap) break;
            memmove(buf + at + len, buf + at, n - at);
            n += len;
            break;
        }
        }
    }
    return n;
}

// ---- the loop ---------------------------------------------------------------------------------

static void write_file(const char *path, const unsigned char *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) die("cannot write %s", path);
}

// Runs t on path in a child (stderr to err_path); returns its wait status.
static int run_child(const target *t, const char *path, const char *err_path) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die_internal("fork failed");
    if (pid == 0) {
        if (!freopen(err_path, "w", stderr)) _exit(3);
        alarm(20);  // a hang is a finding too
        t->read(path);
        exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

int main(int argc, char **argv) {
    deal_set_tool("fuzz");
    if (argc < 5 || argc > 6) die("usage: fuzz TARGET SEED ITERATIONS WORK_DIR [RNG_SEED]");
    const target *t = NULL;
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++)
        if (strcmp(argv[1], targets[i].name) == 0) t = &targets[i];
    if (!t) die("unknown target \"%s\" (safetensors, gguf, tokens, tokenizer, config)", argv[1]);
    long iterations = atol(argv[3]);
    const char *dir = argv[4];
    size_t seed_n;
    unsigned char *seed = (unsigned char *)read_file(argv[2], &seed_n), *buf = xmalloc(seed_n + 4096);
    rng r;
    rng_seed(&r, argc == 6 ? strtoull(argv[5], NULL, 10) : 1);
    char *input = xasprintf("%s/input%s", dir, t->ext), *err = xasprintf("%s/stderr", dir);
    char *input_dir = xasprintf("%s/input", dir);
    if (strchr(t->ext, '/')) mkdir(input_dir, 0755);  // config: the input is a file in a folder
    free(input_dir);
    long accepted = 0, refused = 0, findings = 0;
    for (long it = 0; it < iterations; it++) {
        memcpy(buf, seed, seed_n);
        size_t n = mutate(&r, buf, seed_n, seed_n + 4096);
        write_file(input, buf, n);
        int status = run_child(t, input, err);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            accepted++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_BAD_INPUT) {
            refused++;
        } else {
            char *keep = xasprintf("%s/finding-%s-%ld", dir, t->name, it);
            write_file(keep, buf, n);
            fprintf(stderr, "fuzz %s: input %ld: %s %d; kept as %s; its stderr:\n", t->name, it,
                    WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                    keep);
            size_t en;
            char *e = read_file(err, &en);
            fwrite(e, 1, en > 3000 ? 3000 : en, stderr);
            free(e), free(keep);
            findings++;
        }
    }
    printf("fuzz %s: %ld inputs, %ld read, %ld refused with a message, %ld findings\n", t->name, iterations, accepted,
           refused, findings);
    free(seed), free(buf), free(input), free(err);
    return findings ? 1 : 0;
}
