// gguf.h: reading GGUF files (llama.cpp's model format, versions 2 and 3).
// A file is, all little-endian:
//   "GGUF", u32 version, u64 tensor count, u64 key/value count,
//   key/values: string key, u32 value type, value (an array is u32 element
//     type, u64 count, elements; a string is u64 length and bytes),
//   tensor infos: string name, u32 n_dims, u64 ne[n_dims] (fastest-varying
//     first: a row-major [rows, cols] matrix has ne = [cols, rows]),
//     u32 ggml type, u64 offset into the data section,
//   padding to general.alignment (default 32), the data section.
// Files are mapped read-only and checked in full when opened: every count,
// length and offset is untrusted, and any fault stops with a message naming
// the file and the key or tensor.
#ifndef DEAL_GGUF_H
#define DEAL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Metadata value types (the numbers are the file's).
typedef enum {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
} gguf_type;

// The tensor types we dequantize (ggml's numbers); others are refused.
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q8_0 = 8, GGML_BF16 = 30 };

#define GGUF_MAX_DIMS 4

typedef struct {
    const char *key;
    const char *file;  // for messages
    gguf_type type;  // of the value, or of the elements of an array
    bool is_array;  // arrays of arrays are refused
    uint64_t n;  // elements: 1 for a scalar
    const void *data;  // numbers and bools: n values as stored (unaligned)
    char **strings;  // strings: n NUL-terminated copies (checked: UTF-8, no NUL)
} gguf_kv;

typedef struct {
    const char *name;
    uint32_t type;  // GGML_*
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];  // fastest first; 1 past n_dims
    int64_t numel;
    const void *data;  // inside the mapping, aligned as general.alignment says
    size_t nbytes;
} gguf_tensor;

typedef struct gguf gguf;

gguf *gguf_open(const char *path);
void gguf_close(gguf *g);
uint32_t gguf_version(const gguf *g);
const char *gguf_path(const gguf *g);

int gguf_n_kv(const gguf *g);
const gguf_kv *gguf_kv_at(const gguf *g, int i);
const gguf_kv *gguf_find_kv(const gguf *g, const char *key);  // NULL if absent

// Element i of an array (or 0 of a scalar) as a number. gguf_kv_int takes any
// integer type and bools (0/1), and dies if a UINT64 exceeds INT64_MAX;
// gguf_kv_float takes FLOAT32 and FLOAT64. Both die naming the key if it holds
// another type.
int64_t gguf_kv_int(const gguf_kv *kv, uint64_t i);
double gguf_kv_float(const gguf_kv *kv, uint64_t i);

// Scalar values by key, or fallback when the key is absent; a fallback of
// GGUF_REQUIRED (integers), NAN (floats) or NULL (strings) makes the key
// required. Each dies naming the file and key if the value has another type.
#define GGUF_REQUIRED INT64_MIN
int64_t gguf_int(const gguf *g, const char *key, int64_t fallback);
double gguf_float(const gguf *g, const char *key, double fallback);
bool gguf_bool(const gguf *g, const char *key, bool fallback);
const char *gguf_string(const gguf *g, const char *key, const char *fallback);
// An array of strings (count in *n), or NULL if the key is absent; dies if
// the key holds anything else.
char *const *gguf_strings(const gguf *g, const char *key, uint64_t *n);

int gguf_n_tensors(const gguf *g);
const gguf_tensor *gguf_tensor_at(const gguf *g, int i);
const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name);  // NULL if absent
const char *gguf_type_name(uint32_t type);  // "Q4_1"; NULL for numbers ggml does not define

// Dequantizes tensor t into out (t->numel floats). Dies naming the tensor if
// a value comes out NaN or infinite: a broken file should stop the import,
// not poison a model.
void gguf_read_f32(const gguf *g, const gguf_tensor *t, float *out);

#endif
