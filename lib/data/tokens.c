// tokens.c: packing and unpacking token records and their header.
#include "data/tokens.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

const char *convention_name(convention c) { return c == CONVENTION_T5 ? "t5" : "llama"; }

bool convention_parse(const char *s, convention *c) {
    if (strcmp(s, "t5") == 0) *c = CONVENTION_T5;
    else if (strcmp(s, "llama") == 0) *c = CONVENTION_LLAMA;
    else return false;
    return true;
}

void tokens_write_header(msgpack_packer *pk, const tokens_header *h) {
    pack_header(pk, "tokens", 12);
    pack_kv_str(pk, "task", h->task);
    pack_kv_str(pk, "split", h->split);
    pack_kv_str(pk, "tokenizer_type", h->tokenizer_type);
    pack_kv_str(pk, "tokenizer_fingerprint", h->tokenizer_fingerprint);
    pack_kv_int(pk, "vocab_size", h->vocab_size);
    pack_kv_str(pk, "convention", convention_name(h->conv));
    pack_kv_int(pk, "bos_id", h->bos_id);
    pack_kv_int(pk, "eos_id", h->eos_id);
    pack_kv_int(pk, "pad_id", h->pad_id);
    pack_kv_int(pk, "decoder_start_id", h->decoder_start_id);
    pack_kv_int(pk, "max_source", h->max_source);
    pack_kv_int(pk, "max_target", h->max_target);
}

void tokens_read_header(const stream_reader *r, tokens_header *h) {
    const msgpack_object *m = stream_header(r);
    h->task = field_str_req(r, m, "task");
    h->split = field_str_req(r, m, "split");
    h->tokenizer_type = field_str_req(r, m, "tokenizer_type");
    h->tokenizer_fingerprint = field_str_req(r, m, "tokenizer_fingerprint");
    h->vocab_size = field_int_req(r, m, "vocab_size");
    if (h->vocab_size <= 0 || h->vocab_size > INT32_MAX) stream_die(r, "vocab_size %lld out of range", (long long)h->vocab_size);
    char *conv = field_str_req(r, m, "convention");
    if (!convention_parse(conv, &h->conv)) stream_die(r, "unknown convention \"%s\"", conv);
    free(conv);
    h->bos_id = field_int_req(r, m, "bos_id");
    h->eos_id = field_int_req(r, m, "eos_id");
    h->pad_id = field_int_req(r, m, "pad_id");
    h->decoder_start_id = field_int_req(r, m, "decoder_start_id");
    h->max_source = field_int_req(r, m, "max_source");
    h->max_target = field_int_req(r, m, "max_target");
}

void tokens_header_free(tokens_header *h) {
    free(h->task), free(h->split), free(h->tokenizer_type), free(h->tokenizer_fingerprint);
    memset(h, 0, sizeof *h);
}

void token_record_write(msgpack_packer *pk, const token_record *t) {
    msgpack_pack_map(pk, 8);
    pack_kv_str(pk, "id", t->id);
    pack_kv_str(pk, "task", t->task);
    pack_kv_str(pk, "dataset", t->dataset);
    pack_kv_str(pk, "split", t->split);
    pack_kv_str(pk, "label", t->label);
    pack_kv_ids(pk, "source", t->source, t->n_source);
    pack_kv_ids(pk, "target", t->target, t->n_target);
    pack_kv_bool(pk, "truncated", t->truncated);
}

static void check_ids(const stream_reader *r, const char *key, const int32_t *ids, size_t n, int64_t vocab) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            stream_die(r, "field \"%s\": id %d at position %zu is outside the vocabulary (size %lld)", key, ids[i], i,
                       (long long)vocab);
}

int token_record_read(stream_reader *r, const tokens_header *h, token_record *t) {
    const msgpack_object *m = stream_next(r);
    if (!m) return 0;
    t->id = field_str_req(r, m, "id");
    t->task = field_str_req(r, m, "task");
    t->dataset = field_str_req(r, m, "dataset");
    t->split = field_str_req(r, m, "split");
    t->label = field_str_req(r, m, "label");
    t->source = field_ids_req(r, m, "source", &t->n_source);
    t->target = field_ids_req(r, m, "target", &t->n_target);
    check_ids(r, "source", t->source, t->n_source, h->vocab_size);
    check_ids(r, "target", t->target, t->n_target, h->vocab_size);
    const msgpack_object *tr = map_get(m, "truncated");
    t->truncated = tr && tr->type == MSGPACK_OBJECT_BOOLEAN && tr->via.boolean;
    return 1;
}

void token_record_free(token_record *t) {
    free(t->id), free(t->task), free(t->dataset), free(t->split), free(t->label);
    free(t->source), free(t->target);
    memset(t, 0, sizeof *t);
}

token_set token_set_read(const char *path) {
    token_set s = {0};
    stream_reader *r = stream_open(path, "tokens");
    tokens_read_header(r, &s.h);
    size_t cap = 0;
    for (token_record t; token_record_read(r, &s.h, &t);) {
        if (t.n_source == 0) stream_die(r, "empty source");
        if (t.n_target == 0) stream_die(r, "empty target");
        if (s.n == cap) s.r = xrealloc(s.r, (cap = cap ? 2 * cap : 1024) * sizeof *s.r);
        s.r[s.n++] = t;
    }
    stream_close(r);
    return s;
}

void token_set_free(token_set *s) {
    for (size_t i = 0; i < s->n; i++) token_record_free(&s->r[i]);
    free(s->r);
    tokens_header_free(&s->h);
    *s = (token_set){0};
}
