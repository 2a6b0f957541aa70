// safetensors.h: the Hugging Face safetensors format. A file is an 8-byte
// little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//    ..., "__metadata__": {"<key>": "<string>"}}
// and then the tensors' bytes (offsets relative to the end of the header).
// Files are mapped read-only and their headers checked in full before use: a
// header is untrusted input, and every fault stops with a message naming the
// file and the tensor.
#ifndef DEAL_SAFETENSORS_H
#define DEAL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_F16, ST_BF16, ST_I32, ST_I64 } st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    const char *name;
    const char *file;  // the file holding it, for messages
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data;  // inside the mapping; not necessarily aligned
    size_t nbytes;
} st_tensor;

// A set of tensors looked up by name: one file, or a model folder's shards.
typedef struct safetensors safetensors;

// Opens one .safetensors file.
safetensors *st_open(const char *path);
// Opens a model folder: DIR/model.safetensors, or else the shards listed in
// DIR/model.safetensors.index.json ("weight_map": tensor name -> shard file).
safetensors *st_open_dir(const char *dir);
void st_close(safetensors *st);

// The tensors, in the order of the header (or of the index's weight map).
int st_count(const safetensors *st);
const st_tensor *st_at(const safetensors *st, int i);
// NULL if there is no tensor of that name.
const st_tensor *st_find(const safetensors *st, const char *name);
// A "__metadata__" value (the first file that has the key), NULL if absent.
const char *st_metadata(const safetensors *st, const char *key);

const char *st_dtype_name(st_dtype dtype);

// Copies tensor `name` into out as float32 (from F32, F16 or BF16). Dies if it
// is missing, if its shape is not shape[0..ndim), or if any value is NaN or
// infinite: a broken checkpoint should stop the run, not poison it.
void st_read_f32(const safetensors *st, const char *name, const int64_t *shape, int ndim, float *out);

// Writing: collect float32 tensors and string metadata, then write them as one
// file, atomically. The writer keeps pointers: data must stay valid until
// st_writer_write, which also frees the writer.
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);
void st_writer_add(st_writer *w, const char *name, const float *data, const int64_t *shape, int ndim);
void st_writer_metadata(st_writer *w, const char *key, const char *value);
void st_writer_write(st_writer *w, const char *path);

#endif
