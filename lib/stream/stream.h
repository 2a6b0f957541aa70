// stream.h: the streams between tools (design.md, "Streams between tools").
//
// A stream is a sequence of msgpack maps: first a header
//   {"format": "deal", "version": 1, "kind": "examples" | "tokens", ...}
// then one map per record. Input may be zstd-compressed (detected by its magic
// number); output is compressed on request (the tools' -z).
//
// Every error names the source, the record (1-based; 0 is the header) and the
// field: "deal-tokenize: train.msgpack: record 12: field "prompt": expected a string".
#ifndef DEAL_STREAM_H
#define DEAL_STREAM_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_FORMAT "deal"
#define STREAM_VERSION 1

// ---- reading ---------------------------------------------------------------

typedef struct stream_reader stream_reader;

// Opens path ("-" = stdin), reads and checks the header. If kind is not NULL
// the header's kind must equal it. Dies with a clear message on any problem.
stream_reader *stream_open(const char *path, const char *kind);
// The header map (valid until stream_close).
const msgpack_object *stream_header(const stream_reader *r);
const char *stream_kind(const stream_reader *r);
const char *stream_source(const stream_reader *r);  // "stdin" or the path
// The next record map, valid until the next call; NULL at the clean end of the
// stream. Dies on truncation, garbage, or a record that is not a map.
const msgpack_object *stream_next(stream_reader *r);
// Number of the record last returned (1-based; 0 before the first).
size_t stream_record_number(const stream_reader *r);
void stream_close(stream_reader *r);

// Dies with "<tool>: <source>: record <n>: <message>" (n as stream_record_number,
// "header" when 0).
__attribute__((noreturn, format(printf, 2, 3)))
void stream_die(const stream_reader *r, const char *fmt, ...);

// Field access on a map of this stream (the header or the current record).
// The *_req variants die naming the field when it is missing or mistyped;
// the *_opt variants return false when it is missing (and die if mistyped).
const msgpack_object *map_get(const msgpack_object *map, const char *key);
// A string field; the result is a fresh NUL-terminated copy (caller frees).
// Strings holding NUL bytes are refused.
char *field_str_req(const stream_reader *r, const msgpack_object *map, const char *key);
char *field_str_opt(const stream_reader *r, const msgpack_object *map, const char *key);
int64_t field_int_req(const stream_reader *r, const msgpack_object *map, const char *key);
bool field_int_opt(const stream_reader *r, const msgpack_object *map, const char *key, int64_t *out);
// An array of integers that fit in int32; fresh array (caller frees), count in *n.
int32_t *field_ids_req(const stream_reader *r, const msgpack_object *map, const char *key, size_t *n);
// An array of strings; fresh array of fresh strings (free with free_strs), count in *n.
char **field_strs_req(const stream_reader *r, const msgpack_object *map, const char *key, size_t *n);
void free_strs(char **strs, size_t n);

// ---- writing ---------------------------------------------------------------

typedef struct stream_writer stream_writer;

// Creates path ("-" = stdout; a file is written atomically), zstd-compressed
// if compress. The caller then packs the header map and each record map with
// the pack_* helpers below on stream_packer(w).
stream_writer *stream_create(const char *path, bool compress);
msgpack_packer *stream_packer(stream_writer *w);
// Flushes, ends the zstd frame, closes and (for a file) renames into place.
void stream_finish(stream_writer *w);

// Packing helpers: one key and its value (the caller has opened the map with
// msgpack_pack_map(pk, number_of_keys)).
void pack_str(msgpack_packer *pk, const char *s);
void pack_kv_str(msgpack_packer *pk, const char *key, const char *value);
void pack_kv_strn(msgpack_packer *pk, const char *key, const char *value, size_t len);
void pack_kv_int(msgpack_packer *pk, const char *key, int64_t value);
void pack_kv_bool(msgpack_packer *pk, const char *key, bool value);
void pack_kv_ids(msgpack_packer *pk, const char *key, const int32_t *ids, size_t n);
void pack_kv_strs(msgpack_packer *pk, const char *key, char *const *strs, size_t n);
// Starts a header: packs a map of 3 + extra keys with format, version and kind;
// the caller then packs the extra keys.
void pack_header(msgpack_packer *pk, const char *kind, size_t extra_keys);

#endif
