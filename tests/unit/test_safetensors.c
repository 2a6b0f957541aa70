// test_safetensors.c: write -> read round trips, F16 and BF16 files built by
// hand with known values, a sharded model folder, and malformed files that
// must stop with a message naming the file and the tensor.
#include <stdint.h>
#include <sys/stat.h>

#include "base/util.h"
#include "model/safetensors.h"
#include "test.h"

static char dir[] = "/tmp/deal-test-st-XXXXXX";

static char *path_in_dir(const char *name) { return xasprintf("%s/%s", dir, name); }

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp) != 0) die("cannot write %s", path);
}

// Writes a safetensors file whose header length field says header_len, then
// the header text and the data bytes. Returns the path.
static char *write_raw_len(const char *name, uint64_t header_len, const char *header, const void *data, size_t n) {
    size_t len = strlen(header);
    unsigned char *buf = xmalloc(8 + len + n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(header_len >> 8 * i);
    memcpy(buf + 8, header, len);
    if (n) memcpy(buf + 8 + len, data, n);
    char *path = path_in_dir(name);
    write_bytes(path, buf, 8 + len + n);
    free(buf);
    return path;
}

static char *write_raw(const char *name, const char *header, const void *data, size_t n) {
    return write_raw_len(name, strlen(header), header, data, n);
}

static void open_path(void *path) { st_open(path); }
static void open_dir(void *path) { st_open_dir(path); }

// ---- round trip ------------------------------------------------------------

static void test_round_trip(void) {
    float a[6] = {1, -2, 3.5f, 0, 1e-30f, -1e30f}, b[4] = {0.25f, 0.5f, 0.75f, 1}, c[1] = {7};
    st_writer *w = st_writer_new();
    st_writer_add(w, "b", b, (int64_t[]){4}, 1);  // out of order: the writer sorts
    st_writer_add(w, "a", a, (int64_t[]){2, 3}, 2);
    st_writer_add(w, "c", c, NULL, 0);  // a scalar
    st_writer_metadata(w, "format", "pt");
    st_writer_metadata(w, "note", "x y");
    char *path = path_in_dir("round.safetensors");
    st_writer_write(w, path);

    size_t len;
    char *raw = read_file(path, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | (unsigned char)raw[i];
    CHECK(n % 8 == 0);
    CHECK(len == 8 + n + sizeof a + sizeof b + sizeof c);
    CHECK(strncmp(raw + 8, "{\"__metadata__\":", 16) == 0);
    CHECK(memcmp(raw + 8 + n, a, sizeof a) == 0);  // data in name order
    free(raw);

    safetensors *st = st_open(path);
    CHECK(st_count(st) == 3);
    CHECK_STR(st_at(st, 0)->name, "a");
    const st_tensor *t = st_find(st, "a");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == sizeof a);
    CHECK(st_find(st, "absent") == NULL);
    CHECK_STR(st_metadata(st, "format"), "pt");
    CHECK_STR(st_metadata(st, "note"), "x y");
    CHECK(st_metadata(st, "absent") == NULL);
    float got_a[6], got_b[4], got_c[1];
    st_read_f32(st, "a", (int64_t[]){2, 3}, 2, got_a);
    st_read_f32(st, "b", (int64_t[]){4}, 1, got_b);
    st_read_f32(st, "c", NULL, 0, got_c);
    CHECK(memcmp(got_a, a, sizeof a) == 0);
    CHECK(memcmp(got_b, b, sizeof b) == 0);
    CHECK(got_c[0] == 7);
    st_close(st);
    free(path);
}

static void test_empty_file_round_trips(void) {
    char *path = path_in_dir("empty.safetensors");
    st_writer_write(st_writer_new(), path);
    safetensors *st = st_open(path);
    CHECK(st_count(st) == 0);
    st_close(st);
    free(path);
}

// ---- F16 and BF16 by hand --------------------------------------------------

// Half: 1, -2, the largest (65504), the smallest subnormal (2^-24), the
// largest subnormal (1023 * 2^-24), the smallest normal (2^-14), 1/3 rounded, -0.
static const uint16_t half_bits[8] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x3555, 0x8000};
static const float half_values[8] = {1, -2, 65504, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, 0.333251953125f, -0.0f};
// BF16: 1, -3, 1/3 rounded, a float32 subnormal (2^-133).
static const uint16_t bf16_bits[4] = {0x3F80, 0xC040, 0x3EAB, 0x0001};
static const float bf16_values[4] = {1, -3, 0.333984375f, 0x1p-133f};
static const int64_t i64_value = 42;

// Writes half.safetensors: "h" F16 [2,4], "b" BF16 [4], "i" I64 [1].
static char *half_file(void) {
    unsigned char data[32];
    memcpy(data, half_bits, 16);
    memcpy(data + 16, bf16_bits, 8);
    memcpy(data + 24, &i64_value, 8);
    // An odd header length leaves the data unaligned, as other writers may.
    return write_raw("half.safetensors",
                     "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]},"
                     "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[24,32]}} ",
                     data, sizeof data);
}

static void test_f16_bf16_by_hand(void) {
    char *path = half_file();
    safetensors *st = st_open(path);
    float got_h[8], got_b[4];
    st_read_f32(st, "h", (int64_t[]){2, 4}, 2, got_h);
    st_read_f32(st, "b", (int64_t[]){4}, 1, got_b);
    for (int i = 0; i < 8; i++) CHECK(got_h[i] == half_values[i]);
    CHECK(signbit(got_h[7]));
    for (int i = 0; i < 4; i++) CHECK(got_b[i] == bf16_values[i]);
    const st_tensor *t = st_find(st, "i");
    CHECK(t && t->dtype == ST_I64 && t->nbytes == 8 && memcmp(t->data, &i64_value, 8) == 0);
    CHECK_STR(st_dtype_name(t->dtype), "I64");
    st_close(st);
    free(path);
}

// ---- reading: shape checks and non-finite values ---------------------------

typedef struct {
    const char *path;  // a file (or folder, if dir)
    int dir;
    const char *name;
    int64_t shape[4];
    int ndim;
} read_args;

static void read_one(void *arg) {
    const read_args *r = arg;
    safetensors *st = r->dir ? st_open_dir(r->path) : st_open(r->path);
    float out[64];
    st_read_f32(st, r->name, r->shape, r->ndim, out);
}

static void test_read_checks(void) {
    const uint16_t h[4] = {0x3C00, 0x7C00, 0, 0};  // 1, +inf
    const uint16_t b[2] = {0x3F80, 0x7FC0};  // 1, NaN
    unsigned char data[12];
    memcpy(data, h, 8);
    memcpy(data + 8, b, 4);
    char *bad = write_raw("nonfinite.safetensors",
                          "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}",
                          data, sizeof data);
    CHECK(dies_with(read_one, &(read_args){bad, 0, "h", {4}, 1},
                    "nonfinite.safetensors: tensor h: element 1 is infinite"));
    CHECK(dies_with(read_one, &(read_args){bad, 0, "b", {2}, 1}, "tensor b: element 1 is NaN"));

    float f[3] = {1, 2, NAN};
    st_writer *w = st_writer_new();
    st_writer_add(w, "w", f, (int64_t[]){3}, 1);
    char *nan_path = path_in_dir("nan.safetensors");
    st_writer_write(w, nan_path);
    CHECK(dies_with(read_one, &(read_args){nan_path, 0, "w", {3}, 1}, "nan.safetensors: tensor w: element 2 is NaN"));

    char *half = half_file();
    CHECK(dies_with(read_one, &(read_args){half, 0, "h", {4, 2}, 2}, "tensor h: shape [2, 4], expected [4, 2]"));
    CHECK(dies_with(read_one, &(read_args){half, 0, "h", {8}, 1}, "shape [2, 4], expected [8]"));
    CHECK(dies_with(read_one, &(read_args){half, 0, "i", {1}, 1}, "tensor i: dtype I64 where floats are expected"));
    CHECK(dies_with(read_one, &(read_args){half, 0, "zz", {1}, 1}, "half.safetensors: missing tensor zz"));
    free(bad);
    free(nan_path);
    free(half);
}

// ---- malformed files -------------------------------------------------------

static void test_malformed_files(void) {
    static const struct {
        const char *header;
        size_t data_size;
        const char *needle;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"sha", 0, "header is not valid JSON"},
        {"[1, 2]", 0, "header is not a JSON object"},
        {"{\"a\":[]}", 0, "tensor a: entry is not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
         "tensor a: data_offsets [0, 8] outside the data area of 4 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
         "tensor a: data_offsets [-4, 0] outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "tensor b: data overlaps tensor a"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "tensor a: data_offsets span 8 bytes, but shape [3] of F32 needs 12"},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype F64 for tensor a"},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor a: \"dtype\" is missing"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "tensor a: negative dimension -1"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4,
         "tensor a: shape too large: dimensions [1099511627776, 1099511627776] overflow"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
         "tensor a: shape holds a non-integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "tensor a: 9 dimensions, at most 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "tensor a: \"data_offsets\" is missing"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, "header is not valid JSON: duplicate object key"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "\"__metadata__\" value for \"k\" is not a string"},
    };
    unsigned char zeros[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *name = xasprintf("bad%zu.safetensors", i);
        char *path = write_raw(name, cases[i].header, zeros, cases[i].data_size);
        char *needle = xasprintf("%s: %s", name, cases[i].needle);  // the file is named too
        if (!dies_with(open_path, path, needle)) {
            fprintf(stderr, "  case %zu\n", i);
            CHECK(0);
        }
        free(name);
        free(path);
        free(needle);
    }

    char *longer = write_raw_len("long.safetensors", 1000, "{}", NULL, 0);
    CHECK(dies_with(open_path, longer, "long.safetensors: header length 1000 exceeds the file size (10 bytes)"));
    char *huge = write_raw_len("huge.safetensors", UINT64_MAX, "{}", NULL, 0);
    CHECK(dies_with(open_path, huge, "exceeds the file size"));
    // A sparse file large enough that only the header limit stops it.
    char *big = write_raw_len("big.safetensors", 150 << 20, "{}", NULL, 0);
    CHECK(truncate(big, 200 << 20) == 0);
    CHECK(dies_with(open_path, big, "big.safetensors: header length 157286400 is over the limit"));
    char *shorter = path_in_dir("short.safetensors");
    write_bytes(shorter, "\x02\0\0", 3);
    CHECK(dies_with(open_path, shorter, "short.safetensors: too short"));
    char *absent = path_in_dir("absent.safetensors");
    CHECK(dies_with(open_path, absent, "absent.safetensors: No such file"));
    CHECK(dies_with(open_path, dir, "not a regular file"));
    free(longer);
    free(huge);
    free(big);
    free(shorter);
    free(absent);
}

// ---- model folders ---------------------------------------------------------

static const char *shard1 = "model-00001-of-00002.safetensors", *shard2 = "model-00002-of-00002.safetensors";
static float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {-1, -2}, c[3] = {0.5f, 1.5f, 2.5f};

// Makes folder dir/name with the two shards (a, b in the first, c in the
// second) and an index with the given weight map. Returns the folder.
static char *sharded_dir(const char *name, const char *weight_map) {
    char *d = path_in_dir(name);
    mkdir(d, 0700);
    st_writer *w = st_writer_new();
    st_writer_add(w, "a", a, (int64_t[]){2, 3}, 2);
    st_writer_add(w, "b", b, (int64_t[]){2}, 1);
    st_writer_metadata(w, "format", "pt");
    char *p = xasprintf("%s/%s", d, shard1);
    st_writer_write(w, p);
    free(p);
    w = st_writer_new();
    st_writer_add(w, "c", c, (int64_t[]){3}, 1);
    p = xasprintf("%s/%s", d, shard2);
    st_writer_write(w, p);
    free(p);
    char *index = xasprintf("{\"metadata\": {\"total_size\": 44}, \"weight_map\": %s}", weight_map);
    p = xasprintf("%s/model.safetensors.index.json", d);
    write_bytes(p, index, strlen(index));
    free(p);
    free(index);
    return d;
}

static void test_sharded_folder(void) {
    char *map = xasprintf("{\"a\": \"%s\", \"c\": \"%s\", \"b\": \"%s\"}", shard1, shard2, shard1);
    char *d = sharded_dir("sharded", map);
    safetensors *st = st_open_dir(d);
    CHECK(st_count(st) == 3);
    CHECK_STR(st_at(st, 1)->name, "c");
    const st_tensor *t = st_find(st, "c");
    CHECK(t && strstr(t->file, shard2));
    CHECK_STR(st_metadata(st, "format"), "pt");
    float got_a[6], got_c[3];
    st_read_f32(st, "a", (int64_t[]){2, 3}, 2, got_a);
    st_read_f32(st, "c", (int64_t[]){3}, 1, got_c);
    CHECK(memcmp(got_a, a, sizeof a) == 0 && memcmp(got_c, c, sizeof c) == 0);
    st_close(st);
    CHECK(dies_with(read_one, &(read_args){d, 1, "zz", {1}, 1}, "sharded: missing tensor zz"));
    CHECK(dies_with(read_one, &(read_args){d, 1, "a", {3, 2}, 2},
                    "00001-of-00002.safetensors: tensor a: shape [2, 3], expected [3, 2]"));
    free(map);
    free(d);
}

static void test_single_file_folder(void) {
    char *d = path_in_dir("single");
    mkdir(d, 0700);
    char *p = xasprintf("%s/model.safetensors", d);
    st_writer *w = st_writer_new();
    st_writer_add(w, "b", b, (int64_t[]){2}, 1);
    st_writer_write(w, p);
    safetensors *st = st_open_dir(d);
    float got[2];
    st_read_f32(st, "b", (int64_t[]){2}, 1, got);
    CHECK(got[0] == -1 && got[1] == -2);
    st_close(st);
    free(p);
    free(d);
}

static void test_bad_folders(void) {
    static const struct {
        const char *weight_map;
        const char *needle;
    } cases[] = {
        {"{\"a\": \"../model-00001-of-00002.safetensors\"}",
         "shard \"../model-00001-of-00002.safetensors\" of tensor a is not a plain file name"},
        {"{\"a\": \"..\"}", "shard \"..\" of tensor a is not a plain file name"},
        {"{\"a\": \"sub/x.safetensors\"}", "is not a plain file name"},
        {"{\"a\": \"model-00003-of-00002.safetensors\"}", "model-00003-of-00002.safetensors: No such file"},
        {"{\"c\": \"model-00001-of-00002.safetensors\"}", "tensor c is listed in"},
        {"{\"a\": 3}", "weight_map value for a is not a string"},
        {"[]", "no \"weight_map\" object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *name = xasprintf("badfolder%zu", i);
        char *d = sharded_dir(name, cases[i].weight_map);
        if (!dies_with(open_dir, d, cases[i].needle)) {
            fprintf(stderr, "  case %zu\n", i);
            CHECK(0);
        }
        free(name);
        free(d);
    }
    char *empty = path_in_dir("nomodel");
    mkdir(empty, 0700);
    CHECK(dies_with(open_dir, empty, "nomodel: no model.safetensors or model.safetensors.index.json"));
    free(empty);
}

int main(void) {
    deal_set_tool("test_safetensors");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    RUN(test_round_trip);
    RUN(test_empty_file_round_trips);
    RUN(test_f16_bf16_by_hand);
    RUN(test_read_checks);
    RUN(test_malformed_files);
    RUN(test_sharded_folder);
    RUN(test_single_file_folder);
    RUN(test_bad_folders);
    remove_tree(dir);
    return test_summary();
}
