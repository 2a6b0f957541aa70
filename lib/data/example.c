// example.c: packing and unpacking example records.
#include "data/example.h"

#include <stdlib.h>
#include <string.h>

void examples_write_header(msgpack_packer *pk, const char *task, const char *split, const char *source,
                           long long count) {
    pack_header(pk, "examples", 4);
    pack_kv_str(pk, "task", task);
    pack_kv_str(pk, "split", split);
    pack_kv_str(pk, "source", source);
    pack_kv_int(pk, "count", count);
}

void example_write(msgpack_packer *pk, const example *e) {
    msgpack_pack_map(pk, 10);
    pack_kv_str(pk, "id", e->id);
    pack_kv_str(pk, "task", e->task);
    pack_kv_str(pk, "dataset", e->dataset);
    pack_kv_str(pk, "type", e->type);
    pack_kv_str(pk, "split", e->split);
    pack_kv_str(pk, "prompt", e->prompt);
    pack_kv_str(pk, "target", e->target);
    pack_kv_strs(pk, "options", e->options, e->n_options);
    pack_kv_int(pk, "passage_start", (int64_t)e->passage_start);
    pack_kv_int(pk, "passage_end", (int64_t)e->passage_end);
}

int example_read(stream_reader *r, example *e) {
    const msgpack_object *m = stream_next(r);
    if (!m) return 0;
    e->id = field_str_req(r, m, "id");
    e->task = field_str_req(r, m, "task");
    e->dataset = field_str_req(r, m, "dataset");
    e->type = field_str_req(r, m, "type");
    e->split = field_str_req(r, m, "split");
    e->prompt = field_str_req(r, m, "prompt");
    e->target = field_str_req(r, m, "target");
    e->options = field_strs_req(r, m, "options", &e->n_options);
    // The passage span must lie inside the prompt: never trust offsets read from input.
    size_t len = strlen(e->prompt);
    int64_t start = field_int_req(r, m, "passage_start"), end = field_int_req(r, m, "passage_end");
    if (start < 0 || end < start || (uint64_t)end > len)
        stream_die(r, "passage span [%lld, %lld) is outside the prompt (%zu bytes)", (long long)start, (long long)end, len);
    e->passage_start = (size_t)start;
    e->passage_end = (size_t)end;
    return 1;
}

void example_free(example *e) {
    free(e->id), free(e->task), free(e->dataset), free(e->type), free(e->split);
    free(e->prompt), free(e->target);
    free_strs(e->options, e->n_options);
    memset(e, 0, sizeof *e);
}
