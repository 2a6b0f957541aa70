// stream.c: reading and writing the msgpack record streams, with zstd.
#include "stream/stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/util.h"

// A single record larger than this is refused rather than buffered: no sane
// example or token record comes near it, and garbage can claim any length.
#define MAX_RECORD_BYTES ((size_t)256 << 20)
#define CHUNK ((size_t)1 << 16)

static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

// ---- reading ---------------------------------------------------------------

struct stream_reader {
    FILE *fp;
    char *source;  // for messages
    ZSTD_DCtx *zd;  // NULL when the input is not compressed
    unsigned char *zbuf;  // compressed bytes read but not yet decompressed
    ZSTD_inBuffer zin;
    int zframe_open;  // a zstd frame is started and not yet complete
    int eof;
    msgpack_unpacker unpacker;
    msgpack_unpacked unpacked;
    msgpack_unpacked header;
    char *kind;
    size_t record;
};

void stream_die(const stream_reader *r, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->record == 0)
        die("%s: header: %s", r->source, msg);
    die("%s: record %zu: %s", r->source, r->record, msg);
}

// Reads up to cap raw bytes; returns the count, 0 at end of input.
static size_t read_raw(stream_reader *r, void *buf, size_t cap) {
    size_t n = fread(buf, 1, cap, r->fp);
    if (n == 0 && ferror(r->fp)) stream_die(r, "read error: %s", strerror(errno));
    return n;
}

// Fills dst with up to cap decoded bytes; returns the count, 0 at end of input.
static size_t read_decoded(stream_reader *r, char *dst, size_t cap) {
    if (!r->zd) return read_raw(r, dst, cap);
    ZSTD_outBuffer out = {dst, cap, 0};
    while (out.pos == 0) {
        if (r->zin.pos == r->zin.size) {
            r->zin.size = read_raw(r, r->zbuf, CHUNK);
            r->zin.pos = 0;
            if (r->zin.size == 0) {
                if (r->zframe_open) stream_die(r, "truncated zstd data (the compressed stream ends mid-frame)");
                return 0;
            }
        }
        size_t rc = ZSTD_decompressStream(r->zd, &out, &r->zin);
        if (ZSTD_isError(rc)) stream_die(r, "corrupt zstd data: %s", ZSTD_getErrorName(rc));
        r->zframe_open = rc != 0;
    }
    return out.pos;
}

// Unpacks the next map into *into; returns 0 at a clean end of input.
static int next_map(stream_reader *r, msgpack_unpacked *into) {
    for (;;) {
        msgpack_unpack_return rc = msgpack_unpacker_next(&r->unpacker, into);
        if (rc == MSGPACK_UNPACK_SUCCESS) {
            if (into->data.type != MSGPACK_OBJECT_MAP) stream_die(r, "not a msgpack map (is this a deal stream?)");
            return 1;
        }
        if (rc == MSGPACK_UNPACK_PARSE_ERROR) stream_die(r, "malformed msgpack data (garbage bytes?)");
        if (rc == MSGPACK_UNPACK_NOMEM_ERROR) stream_die(r, "malformed msgpack data (claims an impossible size)");
        // MSGPACK_UNPACK_CONTINUE: need more bytes.
        size_t pending = msgpack_unpacker_message_size(&r->unpacker);  // bytes of the record in progress
        if (pending > MAX_RECORD_BYTES)
            stream_die(r, "record larger than %zu bytes (garbage?)", MAX_RECORD_BYTES);
        if (r->eof) {
            if (pending > 0) stream_die(r, "truncated (the stream ends inside this record)");
            return 0;
        }
        if (!msgpack_unpacker_reserve_buffer(&r->unpacker, CHUNK)) die_internal("out of memory");
        size_t n = read_decoded(r, msgpack_unpacker_buffer(&r->unpacker), CHUNK);
        if (n == 0) r->eof = 1;
        msgpack_unpacker_buffer_consumed(&r->unpacker, n);
    }
}

static int key_is(const msgpack_object *k, const char *key) {
    size_t n = strlen(key);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, key, n) == 0;
}

const msgpack_object *map_get(const msgpack_object *map, const char *key) {
    if (map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (key_is(&map->via.map.ptr[i].key, key)) return &map->via.map.ptr[i].val;
    return NULL;
}

stream_reader *stream_open(const char *path, const char *kind) {
    stream_reader *r = xcalloc(1, sizeof *r);
    int is_stdin = strcmp(path, "-") == 0;
    r->source = xstrdup(is_stdin ? "stdin" : path);
    r->fp = is_stdin ? stdin : fopen(path, "rb");
    if (!r->fp) die("%s: %s", path, strerror(errno));
    if (!msgpack_unpacker_init(&r->unpacker, CHUNK)) die_internal("out of memory");
    msgpack_unpacked_init(&r->unpacked);
    msgpack_unpacked_init(&r->header);

    // Sniff the first bytes for zstd's magic number, then hand them on.
    unsigned char head[4];
    size_t got = read_raw(r, head, sizeof head);
    if (got == 0) stream_die(r, "empty input (expected a deal stream)");
    if (got == 4 && memcmp(head, zstd_magic, 4) == 0) {
        r->zd = ZSTD_createDCtx();
        r->zbuf = xmalloc(CHUNK);
        memcpy(r->zbuf, head, 4);
        r->zin = (ZSTD_inBuffer){r->zbuf, 4, 0};
        r->zframe_open = 1;
    } else {
        msgpack_unpacker_reserve_buffer(&r->unpacker, got);
        memcpy(msgpack_unpacker_buffer(&r->unpacker), head, got);
        msgpack_unpacker_buffer_consumed(&r->unpacker, got);
    }

    if (!next_map(r, &r->header)) stream_die(r, "truncated (no complete header)");
    const msgpack_object *h = &r->header.data;
    const msgpack_object *format = map_get(h, "format");
    if (!format || !key_is(format, STREAM_FORMAT)) stream_die(r, "not a deal stream (no \"format\": \"deal\")");
    int64_t version = field_int_req(r, h, "version");
    if (version != STREAM_VERSION)
        stream_die(r, "stream version %lld, this build reads version %d", (long long)version, STREAM_VERSION);
    r->kind = field_str_req(r, h, "kind");
    if (kind && strcmp(kind, r->kind) != 0)
        stream_die(r, "a stream of %s, expected %s", r->kind, kind);
    return r;
}

const msgpack_object *stream_header(const stream_reader *r) { return &r->header.data; }
const char *stream_kind(const stream_reader *r) { return r->kind; }
const char *stream_source(const stream_reader *r) { return r->source; }
size_t stream_record_number(const stream_reader *r) { return r->record; }

const msgpack_object *stream_next(stream_reader *r) {
    r->record++;
    if (!next_map(r, &r->unpacked)) {
        r->record--;
        return NULL;
    }
    return &r->unpacked.data;
}

void stream_close(stream_reader *r) {
    if (r->fp != stdin) fclose(r->fp);
    if (r->zd) ZSTD_freeDCtx(r->zd);
    free(r->zbuf);
    msgpack_unpacked_destroy(&r->unpacked);
    msgpack_unpacked_destroy(&r->header);
    msgpack_unpacker_destroy(&r->unpacker);
    free(r->kind);
    free(r->source);
    free(r);
}

// ---- fields ----------------------------------------------------------------

static const char *type_name(msgpack_object_type t) {
    switch (t) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "a float";
    case MSGPACK_OBJECT_STR: return "a string";
    case MSGPACK_OBJECT_ARRAY: return "an array";
    case MSGPACK_OBJECT_MAP: return "a map";
    default: return "binary data";
    }
}

static const msgpack_object *field_req(const stream_reader *r, const msgpack_object *map, const char *key) {
    const msgpack_object *v = map_get(map, key);
    if (!v) stream_die(r, "missing field \"%s\"", key);
    return v;
}

static char *str_copy(const stream_reader *r, const msgpack_object *v, const char *key) {
    if (v->type != MSGPACK_OBJECT_STR) stream_die(r, "field \"%s\": expected a string, got %s", key, type_name(v->type));
    if (memchr(v->via.str.ptr, '\0', v->via.str.size)) stream_die(r, "field \"%s\": string holds a NUL byte", key);
    return xstrndup(v->via.str.ptr, v->via.str.size);
}

char *field_str_req(const stream_reader *r, const msgpack_object *map, const char *key) {
    return str_copy(r, field_req(r, map, key), key);
}

char *field_str_opt(const stream_reader *r, const msgpack_object *map, const char *key) {
    const msgpack_object *v = map_get(map, key);
    return v ? str_copy(r, v, key) : NULL;
}

static int64_t int_value(const stream_reader *r, const msgpack_object *v, const char *key) {
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return v->via.i64;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) return (int64_t)v->via.u64;
    stream_die(r, "field \"%s\": expected an integer, got %s", key, type_name(v->type));
}

int64_t field_int_req(const stream_reader *r, const msgpack_object *map, const char *key) {
    return int_value(r, field_req(r, map, key), key);
}

bool field_int_opt(const stream_reader *r, const msgpack_object *map, const char *key, int64_t *out) {
    const msgpack_object *v = map_get(map, key);
    if (!v) return false;
    *out = int_value(r, v, key);
    return true;
}

static const msgpack_object *array_req(const stream_reader *r, const msgpack_object *map, const char *key) {
    const msgpack_object *v = field_req(r, map, key);
    if (v->type != MSGPACK_OBJECT_ARRAY) stream_die(r, "field \"%s\": expected an array, got %s", key, type_name(v->type));
    return v;
}

int32_t *field_ids_req(const stream_reader *r, const msgpack_object *map, const char *key, size_t *n) {
    const msgpack_object *a = array_req(r, map, key);
    *n = a->via.array.size;
    int32_t *ids = xmalloc(*n * sizeof *ids);
    for (size_t i = 0; i < *n; i++) {
        int64_t v = int_value(r, &a->via.array.ptr[i], key);
        if (v < INT32_MIN || v > INT32_MAX) stream_die(r, "field \"%s\": element %zu out of range", key, i);
        ids[i] = (int32_t)v;
    }
    return ids;
}

char **field_strs_req(const stream_reader *r, const msgpack_object *map, const char *key, size_t *n) {
    const msgpack_object *a = array_req(r, map, key);
    *n = a->via.array.size;
    char **strs = xmalloc(*n * sizeof *strs);
    for (size_t i = 0; i < *n; i++) strs[i] = str_copy(r, &a->via.array.ptr[i], key);
    return strs;
}

void free_strs(char **strs, size_t n) {
    for (size_t i = 0; i < n; i++) free(strs[i]);
    free(strs);
}

// ---- writing ---------------------------------------------------------------

struct stream_writer {
    atomic_file out;
    ZSTD_CCtx *zc;  // NULL when not compressing
    msgpack_sbuffer buf;  // packed bytes not yet written
    msgpack_packer packer;
};

static void write_out(stream_writer *w, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, w->out.fp) != n)
        die("%s: write error: %s", strcmp(w->out.path, "-") ? w->out.path : "stdout", strerror(errno));
}

// Writes (compressing if asked) the buffered bytes; with end, closes the frame.
static void flush_buffer(stream_writer *w, int end) {
    if (!w->zc) {
        write_out(w, w->buf.data, w->buf.size);
    } else {
        static char zout[CHUNK];
        ZSTD_inBuffer in = {w->buf.data, w->buf.size, 0};
        ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
        size_t left;
        do {
            ZSTD_outBuffer out = {zout, sizeof zout, 0};
            left = ZSTD_compressStream2(w->zc, &out, &in, mode);
            if (ZSTD_isError(left)) die_internal("zstd: %s", ZSTD_getErrorName(left));
            write_out(w, zout, out.pos);
        } while (end ? left != 0 : in.pos < in.size);
    }
    msgpack_sbuffer_clear(&w->buf);
}

static int packer_write(void *data, const char *buf, size_t len) {
    stream_writer *w = data;
    msgpack_sbuffer_write(&w->buf, buf, len);
    if (w->buf.size >= CHUNK) flush_buffer(w, 0);
    return 0;
}

stream_writer *stream_create(const char *path, bool compress) {
    stream_writer *w = xcalloc(1, sizeof *w);
    w->out = atomic_open(path);
    if (compress) {
        w->zc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, 3);
    }
    msgpack_sbuffer_init(&w->buf);
    msgpack_packer_init(&w->packer, w, packer_write);
    return w;
}

msgpack_packer *stream_packer(stream_writer *w) { return &w->packer; }

void stream_finish(stream_writer *w) {
    flush_buffer(w, 1);
    atomic_commit(&w->out);
    if (w->zc) ZSTD_freeCCtx(w->zc);
    msgpack_sbuffer_destroy(&w->buf);
    free(w);
}

void pack_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void pack_kv_str(msgpack_packer *pk, const char *key, const char *value) {
    pack_str(pk, key);
    pack_str(pk, value);
}

void pack_kv_strn(msgpack_packer *pk, const char *key, const char *value, size_t len) {
    pack_str(pk, key);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, value, len);
}

void pack_kv_int(msgpack_packer *pk, const char *key, int64_t value) {
    pack_str(pk, key);
    msgpack_pack_int64(pk, value);
}

void pack_kv_bool(msgpack_packer *pk, const char *key, bool value) {
    pack_str(pk, key);
    if (value) msgpack_pack_true(pk);
    else msgpack_pack_false(pk);
}

void pack_kv_ids(msgpack_packer *pk, const char *key, const int32_t *ids, size_t n) {
    pack_str(pk, key);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) msgpack_pack_int32(pk, ids[i]);
}

void pack_kv_strs(msgpack_packer *pk, const char *key, char *const *strs, size_t n) {
    pack_str(pk, key);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) pack_str(pk, strs[i]);
}

void pack_header(msgpack_packer *pk, const char *kind, size_t extra_keys) {
    msgpack_pack_map(pk, 3 + extra_keys);
    pack_kv_str(pk, "format", STREAM_FORMAT);
    pack_kv_int(pk, "version", STREAM_VERSION);
    pack_kv_str(pk, "kind", kind);
}
