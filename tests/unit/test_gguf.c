// test_gguf.c: GGUF files built here byte by byte: metadata of every value
// type, a tensor of every supported type quantized by hand (so the
// dequantized values are known exactly), both alignments; then malformed
// variants of the same file, each of which must stop with a message naming
// the file, and every truncation of it.
#include <math.h>
#include <stdint.h>

#include "base/util.h"
#include "model/gguf.h"
#include "test.h"

static char dir[] = "/tmp/deal-test-gguf-XXXXXX";

// ---- building files --------------------------------------------------------

typedef struct {
    unsigned char *p;
    size_t n;
} buf;

static void put(buf *b, const void *x, size_t n) {
    b->p = xrealloc(b->p, b->n + n);
    memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(buf *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(buf *b, float v) { put(b, &v, 4); }
static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_key(buf *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
}

// One tensor of the good file: its bytes, and the values they must decode to.
typedef struct {
    const char *name;
    uint32_t type;
    int n_dims;
    uint64_t ne[4];
    buf data;
    float want[64];
    int n;
} tensor_case;

enum { N_CASES = 6 };
static tensor_case cases[N_CASES];

// Quant j (0..31) of a 4-bit block whose byte i holds (i lo) % 16 in its low
// nibble (element i) and (i hi) % 16 in its high one (element i + 16).
static int nibble(int j, int lo, int hi) { return j < 16 ? (j * lo) % 16 : ((j - 16) * hi) % 16; }
static void put_nibbles(buf *b, int lo, int hi) {
    for (int i = 0; i < 16; i++) put_u8(b, (uint8_t)(nibble(i, lo, hi) | nibble(i + 16, lo, hi) << 4));
}

// Quantized blocks from chosen scales and quants; want[] is what ggml's
// formulas give for them, all exact in float.
static void make_cases(void) {
    tensor_case *t = cases;
    static const float f32s[12] = {1.5f, -2.25f, 0, 3e-8f, 1e30f, -7, 0.1f, 42, -1e-30f, 8, 9, -10};
    *t = (tensor_case){.name = "f32", .type = GGML_F32, .n_dims = 4, .ne = {3, 2, 1, 2}};
    for (int i = 0; i < 12; i++) put_f32(&t->data, t->want[t->n++] = f32s[i]);

    static const uint16_t halves[6] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000, 0x3555};
    static const float half_values[6] = {1, -2, 0x1p-24f, 65504, -0.0f, 0.333251953125f};
    *++t = (tensor_case){.name = "f16", .type = GGML_F16, .n_dims = 1, .ne = {6}};
    for (int i = 0; i < 6; i++) put_u16(&t->data, halves[i]), t->want[t->n++] = half_values[i];

    static const uint16_t bf16s[6] = {0x3F80, 0xC040, 0x4049, 0x0000, 0x3E80, 0xBF00};
    static const float bf16_values[6] = {1, -3, 3.140625f, 0, 0.25f, -0.5f};
    *++t = (tensor_case){.name = "bf16", .type = GGML_BF16, .n_dims = 2, .ne = {3, 2}};
    for (int i = 0; i < 6; i++) put_u16(&t->data, bf16s[i]), t->want[t->n++] = bf16_values[i];

    // Q8_0: d = 0.5 with q = j - 16, then d = 0.25 with q = +-4j.
    *++t = (tensor_case){.name = "q8_0", .type = GGML_Q8_0, .n_dims = 2, .ne = {32, 2}};
    put_u16(&t->data, 0x3800);
    for (int j = 0; j < 32; j++) put_u8(&t->data, (uint8_t)(j - 16)), t->want[t->n++] = (j - 16) * 0.5f;
    put_u16(&t->data, 0x3400);
    for (int j = 0; j < 32; j++) {
        int q = (j % 2 ? -4 : 4) * j;
        put_u8(&t->data, (uint8_t)q), t->want[t->n++] = q * 0.25f;
    }

    // Q4_0: x = (q - 8) d with d = 2, then d = -0.5.
    *++t = (tensor_case){.name = "q4_0", .type = GGML_Q4_0, .n_dims = 1, .ne = {64}};
    const struct {
        uint16_t bits;
        float d;
        int lo, hi;
    } q40[2] = {{0x4000, 2.0f, 1, 15}, {0xB800, -0.5f, 7, 3}};
    for (int k = 0; k < 2; k++) {
        put_u16(&t->data, q40[k].bits);
        put_nibbles(&t->data, q40[k].lo, q40[k].hi);
        for (int j = 0; j < 32; j++) t->want[t->n++] = (nibble(j, q40[k].lo, q40[k].hi) - 8) * q40[k].d;
    }

    // Q4_1: x = q d + m with (d, m) = (0.5, -1), then (0.0999755859375, 10).
    *++t = (tensor_case){.name = "q4_1", .type = GGML_Q4_1, .n_dims = 3, .ne = {32, 1, 2}};
    const struct {
        uint16_t d_bits, m_bits;
        float d, m;
        int lo, hi;
    } q41[2] = {{0x3800, 0xBC00, 0.5f, -1.0f, 1, 15}, {0x2E66, 0x4900, 0.0999755859375f, 10.0f, 5, 11}};
    for (int k = 0; k < 2; k++) {
        put_u16(&t->data, q41[k].d_bits);
        put_u16(&t->data, q41[k].m_bits);
        put_nibbles(&t->data, q41[k].lo, q41[k].hi);
        for (int j = 0; j < 32; j++) t->want[t->n++] = (float)nibble(j, q41[k].lo, q41[k].hi) * q41[k].d + q41[k].m;
    }
}

// The good file, and where the fields that the malformed variants change lie.
typedef struct {
    buf b;
    size_t version, n_tensors, n_kv, first_key_len, u8_type, bool_value, string_byte, array_type, array_len,
        u8_key_char, alignment_value, first_tensor_char, q4_1_n_dims, q4_1_ne0, q4_1_type, q4_1_offset, f32_data,
        data_start;
} layout;

static void put_padding(buf *b, size_t align) {
    while (b->n % align) put_u8(b, 0);
}

// alignment 0: no general.alignment key (the default, 32).
static layout build(uint32_t alignment) {
    layout L = {0};
    buf *b = &L.b;
    put(b, "GGUF", 4);
    L.version = b->n, put_u32(b, 3);
    L.n_tensors = b->n, put_u64(b, N_CASES);
    L.n_kv = b->n, put_u64(b, alignment ? 18 : 17);

    L.first_key_len = b->n;
    put_str(b, "test.u8");
    L.u8_key_char = L.first_key_len + 8 + 5;  // the 'u' of "test.u8"
    L.u8_type = b->n, put_u32(b, GGUF_UINT8), put_u8(b, 200);
    put_key(b, "test.i8", GGUF_INT8), put_u8(b, (uint8_t)-100);
    put_key(b, "test.u16", GGUF_UINT16), put_u16(b, 60000);
    put_key(b, "test.i16", GGUF_INT16), put_u16(b, (uint16_t)-30000);
    put_key(b, "test.u32", GGUF_UINT32), put_u32(b, 4000000000u);
    put_key(b, "test.i32", GGUF_INT32), put_u32(b, (uint32_t)-2000000000);
    put_key(b, "test.f32", GGUF_FLOAT32), put_f32(b, 0.5f);
    put_key(b, "test.bool", GGUF_BOOL);
    L.bool_value = b->n, put_u8(b, 1);
    put_key(b, "test.str", GGUF_STRING), put_str(b, "h\xc3\xa9llo");
    L.string_byte = b->n - 5;  // the first byte of "é"
    put_key(b, "test.u64", GGUF_UINT64), put_u64(b, 1ull << 40);
    put_key(b, "test.i64", GGUF_INT64), put_u64(b, (uint64_t)-(1ll << 40));
    double f64 = -0.125;
    put_key(b, "test.f64", GGUF_FLOAT64), put(b, &f64, 8);
    put_key(b, "test.big", GGUF_UINT64), put_u64(b, UINT64_MAX);
    put_key(b, "test.strs", GGUF_ARRAY);
    L.array_type = b->n, put_u32(b, GGUF_STRING);
    L.array_len = b->n, put_u64(b, 3);
    put_str(b, "a"), put_str(b, ""), put_str(b, "\xc3\xbc\xe2\x9c\x93");
    put_key(b, "test.ints", GGUF_ARRAY), put_u32(b, GGUF_INT32), put_u64(b, 3);
    put_u32(b, 1), put_u32(b, (uint32_t)-2), put_u32(b, 3);
    put_key(b, "test.floats", GGUF_ARRAY), put_u32(b, GGUF_FLOAT32), put_u64(b, 2), put_f32(b, 1.5f), put_f32(b, -2);
    put_key(b, "test.empty", GGUF_ARRAY), put_u32(b, GGUF_UINT8), put_u64(b, 0);
    if (alignment) {
        put_key(b, "general.alignment", GGUF_UINT32);
        L.alignment_value = b->n, put_u32(b, alignment);
    }

    size_t align = alignment ? alignment : 32, offset = 0;
    for (int i = 0; i < N_CASES; i++) {
        const tensor_case *t = &cases[i];
        if (i == 0) L.first_tensor_char = b->n + 8;
        put_str(b, t->name);
        if (t->type == GGML_Q4_1) L.q4_1_n_dims = b->n;
        put_u32(b, (uint32_t)t->n_dims);
        if (t->type == GGML_Q4_1) L.q4_1_ne0 = b->n;
        for (int d = 0; d < t->n_dims; d++) put_u64(b, t->ne[d]);
        if (t->type == GGML_Q4_1) L.q4_1_type = b->n, L.q4_1_offset = b->n + 4;
        put_u32(b, t->type);
        offset = (offset + align - 1) / align * align;
        put_u64(b, offset);
        offset += t->data.n;
    }
    put_padding(b, align);
    L.data_start = b->n;
    for (int i = 0; i < N_CASES; i++) {
        put_padding(b, align);
        if (cases[i].type == GGML_F32) L.f32_data = b->n;
        put(b, cases[i].data.p, cases[i].data.n);  // the last one ends the file: no trailing padding
    }
    return L;
}

static char *write_file(const char *name, const void *data, size_t n) {
    char *path = xasprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp) != 0) die("cannot write %s", path);
    return path;
}

// ---- the good file ---------------------------------------------------------

static void check_good_file(uint32_t alignment) {
    layout L = build(alignment);
    char *path = write_file("good.gguf", L.b.p, L.b.n);
    gguf *g = gguf_open(path);
    CHECK(gguf_version(g) == 3);
    CHECK(gguf_n_kv(g) == (alignment ? 18 : 17));
    CHECK_STR(gguf_kv_at(g, 0)->key, "test.u8");

    CHECK(gguf_int(g, "test.u8", 0) == 200);
    CHECK(gguf_int(g, "test.i8", 0) == -100);
    CHECK(gguf_int(g, "test.u16", 0) == 60000);
    CHECK(gguf_int(g, "test.i16", 0) == -30000);
    CHECK(gguf_int(g, "test.u32", 0) == 4000000000ll);
    CHECK(gguf_int(g, "test.i32", 0) == -2000000000);
    CHECK(gguf_int(g, "test.u64", GGUF_REQUIRED) == 1ll << 40);
    CHECK(gguf_int(g, "test.i64", 0) == -(1ll << 40));
    CHECK(gguf_int(g, "absent", 7) == 7);
    CHECK(gguf_float(g, "test.f32", NAN) == 0.5);
    CHECK(gguf_float(g, "test.f64", NAN) == -0.125);
    CHECK(gguf_float(g, "absent", 2.5) == 2.5);
    CHECK(gguf_bool(g, "test.bool", false) == true);
    CHECK(gguf_bool(g, "absent", true) == true);
    CHECK_STR(gguf_string(g, "test.str", NULL), "h\xc3\xa9llo");
    CHECK_STR(gguf_string(g, "absent", "x"), "x");

    uint64_t n = 0;
    char *const *strs = gguf_strings(g, "test.strs", &n);
    CHECK(strs && n == 3);
    if (strs && n == 3) {
        CHECK_STR(strs[0], "a");
        CHECK_STR(strs[1], "");
        CHECK_STR(strs[2], "\xc3\xbc\xe2\x9c\x93");
    }
    CHECK(gguf_strings(g, "absent", &n) == NULL);
    const gguf_kv *ints = gguf_find_kv(g, "test.ints");
    CHECK(ints && ints->is_array && ints->type == GGUF_INT32 && ints->n == 3);
    if (ints) CHECK(gguf_kv_int(ints, 0) == 1 && gguf_kv_int(ints, 1) == -2 && gguf_kv_int(ints, 2) == 3);
    const gguf_kv *floats = gguf_find_kv(g, "test.floats");
    CHECK(floats && floats->n == 2);
    if (floats) CHECK(gguf_kv_float(floats, 0) == 1.5 && gguf_kv_float(floats, 1) == -2);
    const gguf_kv *empty = gguf_find_kv(g, "test.empty");
    CHECK(empty && empty->is_array && empty->n == 0);

    CHECK(gguf_n_tensors(g) == N_CASES);
    CHECK(gguf_find_tensor(g, "absent") == NULL);
    for (int i = 0; i < N_CASES; i++) {
        const tensor_case *c = &cases[i];
        const gguf_tensor *t = gguf_find_tensor(g, c->name);
        CHECK(t && t == gguf_tensor_at(g, i) && t->type == c->type && t->n_dims == c->n_dims && t->numel == c->n);
        if (!t) continue;
        CHECK(((const unsigned char *)t->data - (const unsigned char *)gguf_tensor_at(g, 0)->data) %
                  (alignment ? alignment : 32) == 0);
        for (int d = 0; d < GGUF_MAX_DIMS; d++) CHECK(t->ne[d] == (int64_t)(d < c->n_dims ? c->ne[d] : 1));
        float got[64];
        gguf_read_f32(g, t, got);
        if (memcmp(got, c->want, (size_t)c->n * sizeof(float)) != 0) {
            fprintf(stderr, "  tensor %s does not dequantize as expected\n", c->name);
            CHECK(!"dequantized values");
        }
    }
    CHECK_STR(gguf_type_name(GGML_Q4_1), "Q4_1");
    CHECK_STR(gguf_type_name(12), "Q4_K");
    CHECK(gguf_type_name(1000) == NULL);
    gguf_close(g);
    free(L.b.p);
    free(path);
}

static void test_every_type_default_alignment(void) { check_good_file(0); }
static void test_every_type_alignment_64(void) { check_good_file(64); }

// ---- reading a key with the wrong type -------------------------------------

static char *good_path;

static void read_int_of_string(void *arg) { gguf_int(gguf_open(arg), "test.str", 0); }
static void read_string_of_int(void *arg) { gguf_string(gguf_open(arg), "test.u8", NULL); }
static void read_missing(void *arg) { gguf_string(gguf_open(arg), "absent", NULL); }
static void read_missing_float(void *arg) { gguf_float(gguf_open(arg), "absent", NAN); }
static void read_float_of_int(void *arg) { gguf_float(gguf_open(arg), "test.u8", 0); }
static void read_bool_of_int(void *arg) { gguf_bool(gguf_open(arg), "test.u8", false); }
static void read_int_of_array(void *arg) { gguf_int(gguf_open(arg), "test.ints", 0); }
static void read_strings_of_ints(void *arg) {
    uint64_t n;
    gguf_strings(gguf_open(arg), "test.ints", &n);
}
static void read_too_large(void *arg) { gguf_int(gguf_open(arg), "test.big", 0); }

static void test_wrong_types(void) {
    layout L = build(0);
    good_path = write_file("types.gguf", L.b.p, L.b.n);
    CHECK(dies_with(read_int_of_string, good_path, "key test.str should be an integer, not STRING"));
    CHECK(dies_with(read_string_of_int, good_path, "key test.u8 should be a string, not UINT8"));
    CHECK(dies_with(read_missing, good_path, "missing key absent"));
    CHECK(dies_with(read_missing_float, good_path, "missing key absent"));
    CHECK(dies_with(read_float_of_int, good_path, "key test.u8 should be a float"));
    CHECK(dies_with(read_bool_of_int, good_path, "key test.u8 should be a bool"));
    CHECK(dies_with(read_int_of_array, good_path, "should be an integer, not an array of INT32"));
    CHECK(dies_with(read_strings_of_ints, good_path, "should be an array of strings"));
    CHECK(dies_with(read_too_large, good_path, "key test.big: value 18446744073709551615 is too large"));
    free(L.b.p);
}

// ---- malformed files -------------------------------------------------------

static void open_file(void *path) { gguf_open(path); }
static void read_f32_tensor(void *path) {
    gguf *g = gguf_open(path);
    float out[12];
    gguf_read_f32(g, gguf_find_tensor(g, "f32"), out);
}

static void patch(unsigned char *p, size_t at, uint64_t v, int size) { memcpy(p + at, &v, (size_t)size); }

// The good file with `size` bytes at `at` set to v must fail (in fn) with a
// message holding both the file's name and needle.
static int fails_patched(const char *name, size_t at, uint64_t v, int size, void (*fn)(void *), const char *needle) {
    layout L = build(64);
    if (size) patch(L.b.p, at, v, size);
    char *path = write_file(name, L.b.p, L.b.n);
    char *with_path = xasprintf("%s: ", path);
    int ok = dies_with(fn, path, needle) && dies_with(fn, path, with_path);
    if (!ok) fprintf(stderr, "  (variant %s)\n", name);
    free(with_path);
    free(path);
    free(L.b.p);
    return ok;
}

static void test_malformed(void) {
    layout L = build(64);  // for the field positions
    float nan = NAN, inf = -INFINITY;
    uint32_t nan_bits, inf_bits;
    memcpy(&nan_bits, &nan, 4);
    memcpy(&inf_bits, &inf, 4);
    CHECK(fails_patched("magic.gguf", 0, 'X', 1, open_file, "not a GGUF file (bad magic)"));
    CHECK(fails_patched("v1.gguf", L.version, 1, 4, open_file, "GGUF version 1 is not supported"));
    CHECK(fails_patched("bigendian.gguf", L.version, 0x03000000, 4, open_file, "big-endian"));
    CHECK(fails_patched("tensors.gguf", L.n_tensors, 1ull << 60, 8, open_file, "tensors cannot fit in the file"));
    CHECK(fails_patched("kvs.gguf", L.n_kv, UINT64_MAX, 8, open_file, "keys cannot fit in the file"));
    CHECK(fails_patched("keylen.gguf", L.first_key_len, 1ull << 50, 8, open_file, "key 0: string of"));
    CHECK(fails_patched("arraylen.gguf", L.array_len, 1ull << 40, 8, open_file,
                        "key test.strs: 1099511627776 strings cannot fit"));
    CHECK(fails_patched("valuetype.gguf", L.u8_type, 13, 4, open_file, "key test.u8: unknown value type 13"));
    CHECK(fails_patched("nested.gguf", L.array_type, GGUF_ARRAY, 4, open_file, "key test.strs: arrays of arrays"));
    CHECK(fails_patched("bool.gguf", L.bool_value, 2, 1, open_file, "key test.bool: bool value 2"));
    char *utf8 = xasprintf("key test.str: string at offset %zu is not valid UTF-8", L.string_byte - 1);
    CHECK(fails_patched("utf8.gguf", L.string_byte, 0xFF, 1, open_file, utf8));
    free(utf8);
    CHECK(fails_patched("nul.gguf", L.string_byte, 0, 1, open_file, "holds a NUL byte"));
    CHECK(fails_patched("dupkey.gguf", L.u8_key_char, 'i', 1, open_file, "key test.i8: appears twice"));
    CHECK(fails_patched("duptensor.gguf", L.first_tensor_char + 1, '1' | '6' << 8, 2, open_file,
                        "tensor f16: appears twice"));  // "f32" -> "f16"
    CHECK(fails_patched("align.gguf", L.alignment_value, 48, 4, open_file,
                        "general.alignment should be a UINT32 power of two"));
    CHECK(fails_patched("ndims.gguf", L.q4_1_n_dims, 5, 4, open_file, "tensor q4_1: 5 dimensions"));
    CHECK(fails_patched("zerodim.gguf", L.q4_1_ne0, 0, 8, open_file, "tensor q4_1: dimension 0 is 0"));
    CHECK(fails_patched("blocks.gguf", L.q4_1_ne0, 48, 8, open_file,
                        "tensor q4_1: rows of 48 elements are not whole Q4_1 blocks of 32"));
    CHECK(fails_patched("overflow.gguf", L.q4_1_ne0, 1ull << 62, 8, open_file, "tensor q4_1: too many elements"));
    CHECK(fails_patched("huge.gguf", L.q4_1_ne0, 1ull << 40, 8, open_file, "cannot fit in the file"));
    CHECK(fails_patched("q4k.gguf", L.q4_1_type, 12, 4, open_file, "tensor q4_1: unsupported tensor type Q4_K"));
    CHECK(fails_patched("type99.gguf", L.q4_1_type, 99, 4, open_file, "tensor q4_1: unknown tensor type 99"));
    CHECK(fails_patched("offset.gguf", L.q4_1_offset, 1ull << 40, 8, open_file, "tensor q4_1: data [1099511627776,"));
    CHECK(fails_patched("misaligned.gguf", L.q4_1_offset, 64 * 5 + 4, 8, open_file, "tensor q4_1: misaligned"));
    CHECK(fails_patched("nan.gguf", L.f32_data + 4, nan_bits, 4, read_f32_tensor, "tensor f32: element 1 is NaN"));
    CHECK(fails_patched("inf.gguf", L.f32_data, inf_bits, 4, read_f32_tensor, "tensor f32: element 0 is infinite"));
    free(L.b.p);
}

// Every proper prefix of the file must fail cleanly: no crash, a message
// naming the file.
static void test_every_truncation(void) {
    layout L = build(64);
    char *path = xasprintf("%s/cut.gguf", dir), *with_path = xasprintf("%s: ", path);
    int bad = 0;
    for (size_t n = 0; n < L.b.n && bad < 3; n++) {
        free(write_file("cut.gguf", L.b.p, n));
        if (!dies_with(open_file, path, with_path)) {
            fprintf(stderr, "  a file cut to %zu of %zu bytes did not fail cleanly\n", n, L.b.n);
            bad++;
        }
    }
    CHECK(bad == 0);
    free(path);
    free(with_path);
    free(L.b.p);
}

int main(void) {
    deal_set_tool("test_gguf");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    make_cases();
    RUN(test_every_type_default_alignment);
    RUN(test_every_type_alignment_64);
    RUN(test_wrong_types);
    RUN(test_malformed);
    RUN(test_every_truncation);
    remove_tree(dir);
    for (int i = 0; i < N_CASES; i++) free(cases[i].data.p);
    return test_summary();
}
