// safetensors.c: reading (mmap, header checked in full) and writing of
// safetensors files, and model folders sharded over several of them.
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strmap.h"
#include "base/util.h"

// Tensor bytes are copied as they lie in the file, which is little-endian.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

// Real headers are a few hundred bytes per tensor; anything far larger is not
// a model file, and would only make us parse garbage.
#define ST_MAX_HEADER (100 << 20)

static const struct {
    const char *name;
    int size;
} dtypes[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_I64] = {"I64", 8},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *st_dtype_name(st_dtype dtype) { return dtypes[dtype].name; }

typedef struct {
    char *path;
    unsigned char *map;
    size_t size;
    st_tensor *tensors;
    int n_tensors;
    json_t *metadata;  // the "__metadata__" object (strings only), or NULL
} st_file;

struct safetensors {
    char *path;  // the file or folder, for messages
    st_file *files;
    int n_files;
    const st_tensor **tensors;
    int n_tensors;
    strmap *by_name;  // name -> index into tensors
};

// "[2, 3]", into buf.
static const char *format_shape(char *buf, size_t size, const int64_t *shape, int ndim) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

// Dies with "<file>: tensor <name>: <what is wrong>".
__attribute__((noreturn, format(printf, 3, 4))) static void bad_tensor(const char *path, const char *name,
                                                                        const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    die("%s: tensor %s: %s", path, name, what);
}

// ---- reading one file ------------------------------------------------------

static st_dtype parse_dtype(const char *path, const char *name, const json_t *v) {
    if (!json_is_string(v)) bad_tensor(path, name, "\"dtype\" is missing or not a string");
    for (int d = 0; d < N_DTYPES; d++)
        if (strcmp(json_string_value(v), dtypes[d].name) == 0) return (st_dtype)d;
    die("%s: unsupported dtype %s for tensor %s (supported: F32, F16, BF16, I32, I64)", path, json_string_value(v),
        name);
}

// Fills t->ndim, t->shape and t->numel, refusing anything whose size in bytes
// would not fit in int64.
static void parse_shape(const char *path, const char *name, const json_t *v, st_tensor *t) {
    if (!json_is_array(v)) bad_tensor(path, name, "\"shape\" is missing or not an array");
    if (json_array_size(v) > ST_MAX_DIMS)
        bad_tensor(path, name, "%zu dimensions, at most %d supported", json_array_size(v), ST_MAX_DIMS);
    t->ndim = (int)json_array_size(v);
    t->numel = 1;
    int64_t limit = INT64_MAX / dtypes[t->dtype].size;
    for (int i = 0; i < t->ndim; i++) {
        const json_t *d = json_array_get(v, i);
        if (!json_is_integer(d)) bad_tensor(path, name, "shape holds a non-integer");
        t->shape[i] = json_integer_value(d);
        if (t->shape[i] < 0) bad_tensor(path, name, "negative dimension %lld", (long long)t->shape[i]);
        if (t->shape[i] != 0 && t->numel > limit / t->shape[i]) {
            char s[256];
            format_shape(s, sizeof s, t->shape, i + 1);
            bad_tensor(path, name, "shape too large: dimensions %s overflow", s);
        }
        t->numel *= t->shape[i];
    }
}

static void parse_offsets(const char *path, const char *name, const json_t *v, const unsigned char *data,
                          size_t data_size, st_tensor *t) {
    const json_t *b = json_array_get(v, 0), *e = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(b) || !json_is_integer(e))
        bad_tensor(path, name, "\"data_offsets\" is missing or not two integers");
    long long begin = json_integer_value(b), end = json_integer_value(e);
    if (begin < 0 || end < begin || (unsigned long long)end > data_size)
        bad_tensor(path, name, "data_offsets [%lld, %lld] outside the data area of %zu bytes", begin, end, data_size);
    int64_t want = t->numel * dtypes[t->dtype].size;
    if (end - begin != want) {
        char s[256];
        bad_tensor(path, name, "data_offsets span %lld bytes, but shape %s of %s needs %lld", end - begin,
                   format_shape(s, sizeof s, t->shape, t->ndim), dtypes[t->dtype].name, (long long)want);
    }
    t->data = data + begin;
    t->nbytes = (size_t)want;
}

static void parse_tensor(st_file *f, const char *name, const json_t *v, const unsigned char *data, size_t data_size,
                         st_tensor *t) {
    if (!json_is_object(v)) bad_tensor(f->path, name, "entry is not an object");
    t->name = xstrdup(name);
    t->file = f->path;
    t->dtype = parse_dtype(f->path, name, json_object_get(v, "dtype"));
    parse_shape(f->path, name, json_object_get(v, "shape"), t);
    parse_offsets(f->path, name, json_object_get(v, "data_offsets"), data, data_size, t);
}

// By start, empty tensors first, so that an empty tensor starting where
// another one does is not taken for an overlap.
static int by_data(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

// Two tensors sharing bytes would make writing one corrupt the other.
static void check_no_overlap(const st_file *f) {
    const st_tensor **order = xmalloc((size_t)f->n_tensors * sizeof *order);
    for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, by_data);
    for (int i = 1; i < f->n_tensors; i++) {
        const st_tensor *prev = order[i - 1];
        if ((const unsigned char *)prev->data + prev->nbytes > (const unsigned char *)order[i]->data)
            bad_tensor(f->path, order[i]->name, "data overlaps tensor %s", prev->name);
    }
    free(order);
}

static void parse_metadata(st_file *f, json_t *v) {
    const char *key;
    json_t *value;
    if (!json_is_object(v)) die("%s: \"__metadata__\" is not an object", f->path);
    json_object_foreach(v, key, value) {
        if (!json_is_string(value)) die("%s: \"__metadata__\" value for \"%s\" is not a string", f->path, key);
    }
    f->metadata = json_incref(v);
}

static void parse_header(st_file *f, const char *header, size_t len, const unsigned char *data, size_t data_size) {
    json_error_t err;
    json_t *root = json_loadb(header, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) die("%s: header is not valid JSON: %s (at byte %d)", f->path, err.text, err.position);
    if (!json_is_object(root)) die("%s: header is not a JSON object", f->path);
    f->tensors = xcalloc(json_object_size(root), sizeof *f->tensors);
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v) {
        if (strcmp(name, "__metadata__") == 0)
            parse_metadata(f, v);
        else
            parse_tensor(f, name, v, data, data_size, &f->tensors[f->n_tensors++]);
    }
    json_decref(root);
    check_no_overlap(f);
}

static uint64_t load_le64(const unsigned char *p) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | p[i];
    return n;
}

static void open_file(st_file *f, const char *path) {
    f->path = xstrdup(path);
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) die("%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) die("%s: not a regular file", path);
    if (sb.st_size < 8) die("%s: too short for a safetensors file (%lld bytes)", path, (long long)sb.st_size);
    f->size = (size_t)sb.st_size;
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) die("%s: cannot map: %s", path, strerror(errno));
    close(fd);
    uint64_t n = load_le64(f->map);
    if (n > f->size - 8)
        die("%s: header length %llu exceeds the file size (%zu bytes)", path, (unsigned long long)n, f->size);
    if (n > ST_MAX_HEADER)
        die("%s: header length %llu is over the limit of %d bytes", path, (unsigned long long)n, ST_MAX_HEADER);
    parse_header(f, (const char *)f->map + 8, n, f->map + 8 + n, f->size - 8 - n);
}

static void close_file(st_file *f) {
    for (int i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    json_decref(f->metadata);
    if (f->map) munmap(f->map, f->size);
    free(f->path);
}

// ---- sets of tensors: one file or a model folder --------------------------

static safetensors *new_set(const char *path, int max_files) {
    safetensors *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    st->files = xcalloc((size_t)max_files, sizeof *st->files);
    st->by_name = strmap_new();
    return st;
}

static void add_tensor(safetensors *st, const st_tensor *t) {
    st->tensors = xrealloc(st->tensors, (size_t)(st->n_tensors + 1) * sizeof *st->tensors);
    strmap_put(st->by_name, t->name, strlen(t->name), st->n_tensors);
    st->tensors[st->n_tensors++] = t;
}

safetensors *st_open(const char *path) {
    safetensors *st = new_set(path, 1);
    st_file *f = &st->files[st->n_files++];
    open_file(f, path);
    for (int i = 0; i < f->n_tensors; i++) add_tensor(st, &f->tensors[i]);
    return st;
}

// A shard named in an index must be a file in the folder itself.
static int is_plain_file_name(const char *s) {
    return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

// Shards hold a few hundred tensors at most, so a scan is fast enough.
static const st_tensor *file_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

static safetensors *open_sharded(const char *dir, const char *index) {
    json_error_t err;
    json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &err);
    if (!root) die("%s: %s (line %d)", index, err.text, err.line);
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) die("%s: no \"weight_map\" object", index);
    safetensors *st = new_set(dir, (int)json_object_size(map));
    strmap *shard_ids = strmap_new();  // shard name -> index into st->files, so each is opened once
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v) {
        if (!json_is_string(v)) die("%s: weight_map value for %s is not a string", index, name);
        const char *shard = json_string_value(v);
        if (!is_plain_file_name(shard))
            die("%s: shard \"%s\" of tensor %s is not a plain file name in the folder", index, shard, name);
        int64_t id;
        if (!strmap_get(shard_ids, shard, strlen(shard), &id)) {
            char *path = xasprintf("%s/%s", dir, shard);
            open_file(&st->files[id = st->n_files++], path);
            free(path);
            strmap_put(shard_ids, shard, strlen(shard), id);
        }
        const st_tensor *t = file_find(&st->files[id], name);
        if (!t) die("%s: tensor %s is listed in %s but absent from the shard", st->files[id].path, name, index);
        add_tensor(st, t);
    }
    strmap_free(shard_ids);
    json_decref(root);
    return st;
}

safetensors *st_open_dir(const char *dir) {
    char *single = xasprintf("%s/model.safetensors", dir);
    char *index = xasprintf("%s/model.safetensors.index.json", dir);
    safetensors *st;
    if (access(single, F_OK) == 0)
        st = st_open(single);
    else if (access(index, F_OK) == 0)
        st = open_sharded(dir, index);
    else
        die("%s: no model.safetensors or model.safetensors.index.json", dir);
    free(single);
    free(index);
    return st;
}

void st_close(safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) close_file(&st->files[i]);
    free(st->files);
    free(st->tensors);
    strmap_free(st->by_name);
    free(st->path);
    free(st);
}

int st_count(const safetensors *st) { return st->n_tensors; }
const st_tensor *st_at(const safetensors *st, int i) { return st->tensors[i]; }

const st_tensor *st_find(const safetensors *st, const char *name) {
    int64_t i;
    return strmap_get(st->by_name, name, strlen(name), &i) ? st->tensors[i] : NULL;
}

const char *st_metadata(const safetensors *st, const char *key) {
    for (int i = 0; i < st->n_files; i++) {
        const json_t *v = json_object_get(st->files[i].metadata, key);
        if (v) return json_string_value(v);
    }
    return NULL;
}

// ---- conversion to float32 -------------------------------------------------

static float bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

// IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float32
        float f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000 | mant << 13);  // inf, nan
    return bits_to_f32(sign | (exp + 127 - 15) << 23 | mant << 13);
}

static uint16_t load_u16(const unsigned char *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void check_shape(const st_tensor *t, const int64_t *shape, int ndim) {
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[256], want[256];
        bad_tensor(t->file, t->name, "shape %s, expected %s", format_shape(got, sizeof got, t->shape, t->ndim),
                   format_shape(want, sizeof want, shape, ndim));
    }
}

void st_read_f32(const safetensors *st, const char *name, const int64_t *shape, int ndim, float *out) {
    const st_tensor *t = st_find(st, name);
    if (!t) die("%s: missing tensor %s", st->path, name);
    check_shape(t, shape, ndim);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(out, p, t->nbytes); break;
    case ST_F16:
        for (int64_t i = 0; i < t->numel; i++) out[i] = f16_to_f32(load_u16(p + 2 * i));
        break;
    case ST_BF16:
        for (int64_t i = 0; i < t->numel; i++) out[i] = bf16_to_f32(load_u16(p + 2 * i));
        break;
    default: bad_tensor(t->file, t->name, "dtype %s where floats are expected", dtypes[t->dtype].name);
    }
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(out[i]))
            bad_tensor(t->file, t->name, "element %lld is %s", (long long)i, isnan(out[i]) ? "NaN" : "infinite");
}

// ---- writing ---------------------------------------------------------------

typedef struct {
    char *name;
    const float *data;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
} st_entry;

struct st_writer {
    st_entry *entries;
    int n;
    json_t *metadata;
};

st_writer *st_writer_new(void) {
    st_writer *w = xcalloc(1, sizeof *w);
    // transformers refuses a checkpoint without {"format": "pt"}.
    w->metadata = json_pack("{s:s}", "format", "pt");
    return w;
}

void st_writer_add(st_writer *w, const char *name, const float *data, const int64_t *shape, int ndim) {
    if (ndim < 0 || ndim > ST_MAX_DIMS) die_internal("st_writer_add: tensor %s has %d dimensions", name, ndim);
    w->entries = xrealloc(w->entries, (size_t)(w->n + 1) * sizeof *w->entries);
    st_entry *e = &w->entries[w->n++];
    *e = (st_entry){.name = xstrdup(name), .data = data, .ndim = ndim, .numel = 1};
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) die_internal("st_writer_add: tensor %s has a negative dimension", name);
        e->shape[i] = shape[i];
        e->numel *= shape[i];
    }
}

void st_writer_metadata(st_writer *w, const char *key, const char *value) {
    json_object_set_new(w->metadata, key, json_string(value));
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static void write_all(atomic_file *f, const void *p, size_t n) {
    if (fwrite(p, 1, n, f->fp) != n) die("%s: write error: %s", f->path, strerror(errno));
}

// The header lists the tensors sorted by name, with their data in the same
// order; it is padded with spaces to a multiple of 8 bytes (as the reference
// Rust implementation does) so that the data starts aligned.
void st_writer_write(st_writer *w, const char *path) {
    if (w->n) qsort(w->entries, (size_t)w->n, sizeof *w->entries, by_name);
    json_t *root = json_object();
    if (json_object_size(w->metadata)) json_object_set(root, "__metadata__", w->metadata);
    json_int_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const st_entry *e = &w->entries[i];
        if (i && strcmp(e->name, w->entries[i - 1].name) == 0)
            die_internal("st_writer: tensor %s added twice", e->name);
        json_t *shape = json_array();
        for (int d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer(e->shape[d]));
        json_int_t end = offset + e->numel * (json_int_t)sizeof(float);
        json_t *entry = json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape, "data_offsets", offset, end);
        json_object_set_new(root, e->name, entry);
        offset = end;
    }
    char *header = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!header) die_internal("st_writer: cannot encode the header of %s", path);
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)padded >> 8 * i);

    atomic_file f = atomic_open(path);
    write_all(&f, prefix, sizeof prefix);
    write_all(&f, header, len);
    write_all(&f, "       ", padded - len);
    for (int i = 0; i < w->n; i++) write_all(&f, w->entries[i].data, (size_t)w->entries[i].numel * sizeof(float));
    atomic_commit(&f);

    free(header);
    json_decref(root);
    json_decref(w->metadata);
    for (int i = 0; i < w->n; i++) free(w->entries[i].name);
    free(w->entries);
    free(w);
}
