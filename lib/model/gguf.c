// gguf.c: GGUF files mapped read-only, checked in full on open, and their
// tensors dequantized to float32 (ggml's block layouts).
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strmap.h"
#include "base/util.h"

// Numbers are read by copying bytes as they lie, which needs a little-endian host.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF data is little-endian");

#define DEFAULT_ALIGNMENT 32
// A tensor info takes at least a name length, n_dims, one dimension, the type
// and the offset; a key/value at least a key length, a type and one byte.
#define MIN_TENSOR_INFO (8 + 4 + 8 + 4 + 8)
#define MIN_KV (8 + 4 + 1)

// ggml's tensor types: elements and bytes per block for those we dequantize,
// only the name for the others.
static const struct {
    const char *name;
    int block, bytes;
} types[] = {
    [GGML_F32] = {"F32", 1, 4},     [GGML_F16] = {"F16", 1, 2},    [GGML_Q4_0] = {"Q4_0", 32, 18},
    [GGML_Q4_1] = {"Q4_1", 32, 20}, [6] = {"Q5_0", 0, 0},           [7] = {"Q5_1", 0, 0},
    [GGML_Q8_0] = {"Q8_0", 32, 34}, [9] = {"Q8_1", 0, 0},           [10] = {"Q2_K", 0, 0},
    [11] = {"Q3_K", 0, 0},          [12] = {"Q4_K", 0, 0},          [13] = {"Q5_K", 0, 0},
    [14] = {"Q6_K", 0, 0},          [15] = {"Q8_K", 0, 0},          [16] = {"IQ2_XXS", 0, 0},
    [17] = {"IQ2_XS", 0, 0},        [18] = {"IQ3_XXS", 0, 0},       [19] = {"IQ1_S", 0, 0},
    [20] = {"IQ4_NL", 0, 0},        [21] = {"IQ3_S", 0, 0},         [22] = {"IQ2_S", 0, 0},
    [23] = {"IQ4_XS", 0, 0},        [24] = {"I8", 0, 0},            [25] = {"I16", 0, 0},
    [26] = {"I32", 0, 0},           [27] = {"I64", 0, 0},           [28] = {"F64", 0, 0},
    [29] = {"IQ1_M", 0, 0},         [GGML_BF16] = {"BF16", 1, 2},
};
#define N_TYPES (sizeof types / sizeof types[0])

// Bytes of one metadata value of each fixed-size type (0: string, array).
static const int value_size[] = {
    [GGUF_UINT8] = 1,  [GGUF_INT8] = 1,   [GGUF_UINT16] = 2, [GGUF_INT16] = 2,   [GGUF_UINT32] = 4,
    [GGUF_INT32] = 4,  [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1,  [GGUF_UINT64] = 8, [GGUF_INT64] = 8,
    [GGUF_FLOAT64] = 8,
};

struct gguf {
    char *path;
    unsigned char *map;
    size_t size;
    uint32_t version;
    gguf_kv *kvs;
    int n_kv;
    gguf_tensor *tensors;
    int n_tensors;
    strmap *kv_by_key, *tensor_by_name;  // -> index
};

const char *gguf_type_name(uint32_t type) { return type < N_TYPES ? types[type].name : NULL; }

// ---- parsing ---------------------------------------------------------------

// The read position in the header, and what is being read (for messages).
typedef struct {
    const gguf *g;
    size_t at;
    char what[160];  // e.g. "key general.name", "tensor blk.0.attn_q.weight"
} cursor;

__attribute__((noreturn, format(printf, 2, 3))) static void fail(const cursor *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    die("%s: %s: %s", c->g->path, c->what, msg);
}

static size_t remaining(const cursor *c) { return c->g->size - c->at; }

// n bytes at the cursor, which moves past them.
static const unsigned char *take(cursor *c, uint64_t n) {
    if (n > remaining(c))
        fail(c, "truncated: needs %llu bytes at offset %zu, the file has %zu", (unsigned long long)n, c->at,
             c->g->size);
    const unsigned char *p = c->g->map + c->at;
    c->at += n;
    return p;
}

static uint32_t read_u32(cursor *c) {
    uint32_t v;
    memcpy(&v, take(c, 4), 4);
    return v;
}

static uint64_t read_u64(cursor *c) {
    uint64_t v;
    memcpy(&v, take(c, 8), 8);
    return v;
}

// Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || len > n - i) return false;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

// A string, copied and NUL-terminated; one holding NUL or invalid UTF-8 is
// refused (it could not be a key, a token or a JSON string).
static char *read_string(cursor *c) {
    uint64_t len = read_u64(c);
    if (len > remaining(c))
        fail(c, "string of %llu bytes at offset %zu runs past the end of the file (%zu bytes)",
             (unsigned long long)len, c->at - 8, c->g->size);
    const unsigned char *p = take(c, len);
    if (memchr(p, 0, len)) fail(c, "string at offset %zu holds a NUL byte", c->at - len);
    if (!valid_utf8(p, len)) fail(c, "string at offset %zu is not valid UTF-8", c->at - len);
    return xstrndup((const char *)p, len);
}

// A count of items of at least min_size bytes each, which the rest of the
// file must be able to hold.
static uint64_t read_count(cursor *c, size_t min_size, const char *items) {
    uint64_t n = read_u64(c);
    if (n > remaining(c) / min_size)
        fail(c, "%llu %s cannot fit in the %zu bytes left of the file", (unsigned long long)n, items, remaining(c));
    return n;
}

static void read_value(cursor *c, gguf_kv *kv) {
    uint32_t type = read_u32(c);
    kv->n = 1;
    if (type == GGUF_ARRAY) {
        kv->is_array = true;
        type = read_u32(c);
        if (type == GGUF_ARRAY) fail(c, "arrays of arrays are not supported");
    }
    if (type > GGUF_FLOAT64) fail(c, "unknown value type %u", type);
    kv->type = (gguf_type)type;
    if (type == GGUF_STRING) {
        if (kv->is_array) kv->n = read_count(c, 8, "strings");
        kv->strings = xcalloc(kv->n, sizeof *kv->strings);
        for (uint64_t i = 0; i < kv->n; i++) kv->strings[i] = read_string(c);
        return;
    }
    if (kv->is_array) kv->n = read_count(c, (size_t)value_size[type], "values");
    const unsigned char *p = take(c, kv->n * (uint64_t)value_size[type]);
    if (type == GGUF_BOOL)
        for (uint64_t i = 0; i < kv->n; i++)
            if (p[i] > 1) fail(c, "bool value %u (should be 0 or 1)", p[i]);
    kv->data = p;
}

static void read_kvs(cursor *c, gguf *g, uint64_t n) {
    g->kvs = xcalloc(n, sizeof *g->kvs);
    g->n_kv = (int)n;
    for (uint64_t i = 0; i < n; i++) {
        gguf_kv *kv = &g->kvs[i];
        snprintf(c->what, sizeof c->what, "key %llu", (unsigned long long)i);
        kv->key = read_string(c);
        kv->file = g->path;
        snprintf(c->what, sizeof c->what, "key %.120s", kv->key);
        if (!strmap_put(g->kv_by_key, kv->key, strlen(kv->key), (int64_t)i)) fail(c, "appears twice");
        read_value(c, kv);
    }
}

// Reads tensor i's info; its data offset goes to *offset, to be checked once
// the data section's start is known.
static void read_tensor_info(cursor *c, gguf *g, gguf_tensor *t, int i, uint64_t *offset) {
    snprintf(c->what, sizeof c->what, "tensor %d", i);
    t->name = read_string(c);
    snprintf(c->what, sizeof c->what, "tensor %.120s", t->name);
    if (!strmap_put(g->tensor_by_name, t->name, strlen(t->name), i)) fail(c, "appears twice");
    uint32_t n_dims = read_u32(c);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) fail(c, "%u dimensions (1 to %d supported)", n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    t->numel = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = d < t->n_dims ? read_u64(c) : 1;
        if (ne < 1 || ne > INT64_MAX) fail(c, "dimension %d is %llu", d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        if (__builtin_mul_overflow(t->numel, t->ne[d], &t->numel)) fail(c, "too many elements");
    }
    t->type = read_u32(c);
    const char *name = gguf_type_name(t->type);
    if (!name) fail(c, "unknown tensor type %u", t->type);
    if (!types[t->type].block)
        fail(c, "unsupported tensor type %s (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)", name);
    int block = types[t->type].block;
    if (t->ne[0] % block)
        fail(c, "rows of %lld elements are not whole %s blocks of %d", (long long)t->ne[0], name, block);
    int64_t nbytes;
    if (__builtin_mul_overflow(t->numel / block, (int64_t)types[t->type].bytes, &nbytes) ||
        (uint64_t)nbytes > g->size)
        fail(c, "%lld elements of %s cannot fit in the file", (long long)t->numel, name);
    t->nbytes = (size_t)nbytes;
    *offset = read_u64(c);
}

// general.alignment: a power of two, as a UINT32 (as llama.cpp writes it).
static uint64_t alignment_of(const gguf *g) {
    const gguf_kv *kv = gguf_find_kv(g, "general.alignment");
    if (!kv) return DEFAULT_ALIGNMENT;
    uint32_t a = 0;
    if (kv->type == GGUF_UINT32 && !kv->is_array) memcpy(&a, kv->data, 4);
    if (!a || (a & (a - 1))) die("%s: key general.alignment should be a UINT32 power of two", g->path);
    return a;
}

// Places every tensor in the data section, which starts at `at` rounded up to
// the alignment; each must lie inside it, at an aligned offset.
static void place_tensors(cursor *c, gguf *g, const uint64_t *offsets) {
    uint64_t align = alignment_of(g);
    uint64_t start = (c->at + align - 1) / align * align;
    if (start > g->size) {
        snprintf(c->what, sizeof c->what, "data section");
        fail(c, "starts at offset %llu, past the end of the file (%zu bytes)", (unsigned long long)start, g->size);
    }
    size_t data_size = g->size - start;
    for (int i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        uint64_t offset = offsets[i];
        snprintf(c->what, sizeof c->what, "tensor %.120s", t->name);
        if (offset % align)
            fail(c, "misaligned: offset %llu is not a multiple of the alignment %llu", (unsigned long long)offset,
                 (unsigned long long)align);
        if (offset > data_size || t->nbytes > data_size - offset)
            fail(c, "data [%llu, %llu) lies outside the data section of %zu bytes", (unsigned long long)offset,
                 (unsigned long long)offset + t->nbytes, data_size);
        t->data = g->map + start + offset;
    }
}

gguf *gguf_open(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) die("%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) die("%s: not a regular file", path);
    gguf *g = xcalloc(1, sizeof *g);
    g->path = xstrdup(path);
    g->size = (size_t)st.st_size;
    if (g->size < 24) die("%s: not a GGUF file (only %zu bytes)", path, g->size);
    g->map = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (g->map == MAP_FAILED) die("%s: cannot map: %s", path, strerror(errno));
    close(fd);
    g->kv_by_key = strmap_new();
    g->tensor_by_name = strmap_new();

    cursor c = {.g = g, .what = "header"};
    if (memcmp(take(&c, 4), "GGUF", 4) != 0) die("%s: not a GGUF file (bad magic)", path);
    g->version = read_u32(&c);
    if (g->version != 2 && g->version != 3)
        die("%s: GGUF version %u is not supported (only 2 and 3)%s", path, g->version,
            g->version > 0xffff ? "; a big-endian file?" : "");
    uint64_t n_tensors = read_u64(&c), n_kv = read_u64(&c);
    if (n_kv > INT_MAX || n_kv > remaining(&c) / MIN_KV)
        fail(&c, "%llu keys cannot fit in the file", (unsigned long long)n_kv);
    if (n_tensors > INT_MAX || n_tensors > remaining(&c) / MIN_TENSOR_INFO)
        fail(&c, "%llu tensors cannot fit in the file", (unsigned long long)n_tensors);
    read_kvs(&c, g, n_kv);
    g->tensors = xcalloc(n_tensors, sizeof *g->tensors);
    g->n_tensors = (int)n_tensors;
    uint64_t *offsets = xcalloc(n_tensors, sizeof *offsets);
    for (int i = 0; i < g->n_tensors; i++) read_tensor_info(&c, g, &g->tensors[i], i, &offsets[i]);
    place_tensors(&c, g, offsets);
    free(offsets);
    return g;
}

void gguf_close(gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kvs[i];
        free((char *)kv->key);
        if (kv->strings)
            for (uint64_t k = 0; k < kv->n; k++) free(kv->strings[k]);
        free(kv->strings);
    }
    for (int i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    strmap_free(g->kv_by_key);
    strmap_free(g->tensor_by_name);
    munmap(g->map, g->size);
    free(g->path);
    free(g);
}

uint32_t gguf_version(const gguf *g) { return g->version; }
const char *gguf_path(const gguf *g) { return g->path; }

// ---- metadata --------------------------------------------------------------

int gguf_n_kv(const gguf *g) { return g->n_kv; }
const gguf_kv *gguf_kv_at(const gguf *g, int i) { return &g->kvs[i]; }

const gguf_kv *gguf_find_kv(const gguf *g, const char *key) {
    int64_t i;
    return strmap_get(g->kv_by_key, key, strlen(key), &i) ? &g->kvs[i] : NULL;
}

static const char *const value_names[] = {
    [GGUF_UINT8] = "UINT8",     [GGUF_INT8] = "INT8",     [GGUF_UINT16] = "UINT16", [GGUF_INT16] = "INT16",
    [GGUF_UINT32] = "UINT32",   [GGUF_INT32] = "INT32",   [GGUF_FLOAT32] = "FLOAT32", [GGUF_BOOL] = "BOOL",
    [GGUF_STRING] = "STRING",   [GGUF_ARRAY] = "ARRAY",   [GGUF_UINT64] = "UINT64", [GGUF_INT64] = "INT64",
    [GGUF_FLOAT64] = "FLOAT64",
};

__attribute__((noreturn)) static void wrong_type(const gguf_kv *kv, const char *want) {
    die("%s: key %s should be %s, not %s%s", kv->file, kv->key, want, kv->is_array ? "an array of " : "",
        value_names[kv->type]);
}

int64_t gguf_kv_int(const gguf_kv *kv, uint64_t i) {
    const unsigned char *p = (const unsigned char *)kv->data + i * (uint64_t)value_size[kv->type];
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
    } v;
    switch (kv->type) {
    case GGUF_BOOL:
    case GGUF_UINT8: memcpy(&v.u8, p, 1); return v.u8;
    case GGUF_INT8: memcpy(&v.i8, p, 1); return v.i8;
    case GGUF_UINT16: memcpy(&v.u16, p, 2); return v.u16;
    case GGUF_INT16: memcpy(&v.i16, p, 2); return v.i16;
    case GGUF_UINT32: memcpy(&v.u32, p, 4); return v.u32;
    case GGUF_INT32: memcpy(&v.i32, p, 4); return v.i32;
    case GGUF_INT64: memcpy(&v.i64, p, 8); return v.i64;
    case GGUF_UINT64:
        memcpy(&v.u64, p, 8);
        if (v.u64 > INT64_MAX) die("%s: key %s: value %llu is too large", kv->file, kv->key, (unsigned long long)v.u64);
        return (int64_t)v.u64;
    default: wrong_type(kv, "an integer");
    }
}

double gguf_kv_float(const gguf_kv *kv, uint64_t i) {
    const unsigned char *p = (const unsigned char *)kv->data + i * (uint64_t)value_size[kv->type];
    if (kv->type == GGUF_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    if (kv->type != GGUF_FLOAT64) wrong_type(kv, "a float");
    double d;
    memcpy(&d, p, 8);
    return d;
}

// The key's scalar entry; NULL if absent and not required.
static const gguf_kv *scalar(const gguf *g, const char *key, bool required, const char *want) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv && required) die("%s: missing key %s", g->path, key);
    if (kv && kv->is_array) wrong_type(kv, want);
    return kv;
}

int64_t gguf_int(const gguf *g, const char *key, int64_t fallback) {
    const gguf_kv *kv = scalar(g, key, fallback == GGUF_REQUIRED, "an integer");
    if (kv && kv->type == GGUF_BOOL) wrong_type(kv, "an integer");
    return kv ? gguf_kv_int(kv, 0) : fallback;
}

double gguf_float(const gguf *g, const char *key, double fallback) {
    const gguf_kv *kv = scalar(g, key, isnan(fallback), "a float");
    return kv ? gguf_kv_float(kv, 0) : fallback;
}

bool gguf_bool(const gguf *g, const char *key, bool fallback) {
    const gguf_kv *kv = scalar(g, key, false, "a bool");
    if (kv && kv->type != GGUF_BOOL) wrong_type(kv, "a bool");
    return kv ? *(const unsigned char *)kv->data : fallback;
}

const char *gguf_string(const gguf *g, const char *key, const char *fallback) {
    const gguf_kv *kv = scalar(g, key, !fallback, "a string");
    if (kv && kv->type != GGUF_STRING) wrong_type(kv, "a string");
    return kv ? kv->strings[0] : fallback;
}

char *const *gguf_strings(const gguf *g, const char *key, uint64_t *n) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return NULL;
    if (!kv->is_array || kv->type != GGUF_STRING) wrong_type(kv, "an array of strings");
    *n = kv->n;
    return kv->strings;
}

// ---- tensors ---------------------------------------------------------------

int gguf_n_tensors(const gguf *g) { return g->n_tensors; }
const gguf_tensor *gguf_tensor_at(const gguf *g, int i) { return &g->tensors[i]; }

const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name) {
    int64_t i;
    return strmap_get(g->tensor_by_name, name, strlen(name), &i) ? &g->tensors[i] : NULL;
}

// IEEE half precision, subnormals, infinities and NaN included.
static float half_to_float(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = h >> 10 & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    bits = exp == 0x1f ? sign | 0x7f800000 | mant << 13 : sign | (exp + 112) << 23 | mant << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_float(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// One block of 32: Q8_0 is a half scale d and 32 int8 (x = q d); Q4_0 and
// Q4_1 hold 32 nibbles in 16 bytes, the low nibbles elements 0..15 and the
// high ones 16..31, with x = (q - 8) d, or x = q d + m after a second half m.
// The arithmetic is ggml's, so the values are the same to the bit.
static void dequantize_block(uint32_t type, const unsigned char *b, float *x) {
    float d = half_to_float(b);
    if (type == GGML_Q8_0) {
        for (int j = 0; j < 32; j++) x[j] = (float)(int8_t)b[2 + j] * d;
        return;
    }
    bool q1 = type == GGML_Q4_1;
    float m = q1 ? half_to_float(b + 2) : 0.0f;
    const unsigned char *q = b + (q1 ? 4 : 2);
    for (int j = 0; j < 32; j++) {
        int v = j < 16 ? q[j] & 0xF : q[j - 16] >> 4;
        x[j] = q1 ? (float)v * d + m : (float)(v - 8) * d;
    }
}

void gguf_read_f32(const gguf *g, const gguf_tensor *t, float *out) {
    const unsigned char *p = t->data;
    int64_t n = t->numel;
    switch (t->type) {
    case GGML_F32: memcpy(out, p, (size_t)n * 4); break;
    case GGML_F16:
        for (int64_t i = 0; i < n; i++) out[i] = half_to_float(p + 2 * i);
        break;
    case GGML_BF16:
        for (int64_t i = 0; i < n; i++) out[i] = bf16_to_float(p + 2 * i);
        break;
    default:
        for (int64_t i = 0; i < n / 32; i++) dequantize_block(t->type, p + i * types[t->type].bytes, out + 32 * i);
    }
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            die("%s: tensor %s: element %lld is %s", g->path, t->name, (long long)i,
                isnan(out[i]) ? "NaN" : "infinite");
}
