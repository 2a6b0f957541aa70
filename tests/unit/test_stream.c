// test_stream.c: msgpack/zstd streams: round trips, and every kind of bad input
// stops with a message that names the source, the record and the problem.
#include <stdlib.h>

#include "base/util.h"
#include "data/example.h"
#include "stream/stream.h"
#include "test.h"

static char dir[] = "/tmp/deal-test-stream-XXXXXX";

static char *path_in_dir(const char *name) { return xasprintf("%s/%s", dir, name); }

// Writes a header of kind and n records {"i": k, "s": "record k", "ids": [k, k+1]}.
static void write_sample(const char *path, const char *kind, int n, bool compress) {
    stream_writer *w = stream_create(path, compress);
    msgpack_packer *pk = stream_packer(w);
    pack_header(pk, kind, 1);
    pack_kv_str(pk, "task", "demo");
    for (int k = 0; k < n; k++) {
        char s[32];
        snprintf(s, sizeof s, "record %d", k);
        int32_t ids[2] = {k, k + 1};
        msgpack_pack_map(pk, 3);
        pack_kv_int(pk, "i", k);
        pack_kv_str(pk, "s", s);
        pack_kv_ids(pk, "ids", ids, 2);
    }
    stream_finish(w);
}

static void check_sample(const char *path, int n) {
    stream_reader *r = stream_open(path, "examples");
    CHECK_STR(stream_kind(r), "examples");
    char *task = field_str_req(r, stream_header(r), "task");
    CHECK_STR(task, "demo");
    free(task);
    int k = 0;
    for (const msgpack_object *m; (m = stream_next(r)); k++) {
        CHECK(field_int_req(r, m, "i") == k);
        char *s = field_str_req(r, m, "s");
        char want[32];
        snprintf(want, sizeof want, "record %d", k);
        CHECK_STR(s, want);
        free(s);
        size_t n_ids;
        int32_t *ids = field_ids_req(r, m, "ids", &n_ids);
        CHECK(n_ids == 2 && ids[0] == k && ids[1] == k + 1);
        free(ids);
        CHECK(stream_record_number(r) == (size_t)k + 1);
    }
    CHECK(k == n);
    stream_close(r);
}

static void test_round_trip_plain_and_zstd(void) {
    char *plain = path_in_dir("plain.msgpack"), *packed = path_in_dir("packed.msgpack.zst");
    // Enough records to cross the 64 KiB buffers several times.
    write_sample(plain, "examples", 20000, false);
    write_sample(packed, "examples", 20000, true);
    check_sample(plain, 20000);
    check_sample(packed, 20000);
    size_t a, b;
    free(read_file(plain, &a));
    char *z = read_file(packed, &b);
    CHECK(b < a / 2);  // it really is compressed
    CHECK((unsigned char)z[0] == 0x28 && (unsigned char)z[1] == 0xb5);
    free(z);
    free(plain), free(packed);
}

static void test_empty_stream_is_fine(void) {
    char *p = path_in_dir("empty.msgpack");
    write_sample(p, "examples", 0, true);
    check_sample(p, 0);
    free(p);
}

static void open_and_read_all(void *path) {
    stream_reader *r = stream_open(path, "examples");
    while (stream_next(r)) {}
    stream_close(r);
}

static void read_field_s_as_int(void *path) {
    stream_reader *r = stream_open(path, "examples");
    const msgpack_object *m = stream_next(r);
    field_int_req(r, m, "s");
}

static void read_missing_field(void *path) {
    stream_reader *r = stream_open(path, "examples");
    const msgpack_object *m = stream_next(r);
    free(field_str_req(r, m, "prompt"));
}

// Copies the first keep bytes of src to a new file.
static char *truncated_copy(const char *src, const char *name, long cut_from_end) {
    size_t n;
    char *data = read_file(src, &n);
    char *p = path_in_dir(name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n - (size_t)cut_from_end, f);
    fclose(f);
    free(data);
    return p;
}

static char *file_with(const char *name, const void *bytes, size_t n) {
    char *p = path_in_dir(name);
    FILE *f = fopen(p, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
    return p;
}

static void test_bad_input(void) {
    char *good = path_in_dir("good.msgpack"), *goodz = path_in_dir("good.msgpack.zst");
    write_sample(good, "examples", 50, false);
    write_sample(goodz, "examples", 50, true);

    char *tokens = path_in_dir("tokens.msgpack");
    write_sample(tokens, "tokens", 3, false);
    CHECK(dies_with(open_and_read_all, tokens, "a stream of tokens, expected examples"));

    char *cut = truncated_copy(good, "cut.msgpack", 3);
    CHECK(dies_with(open_and_read_all, cut, "record 50: truncated"));
    char *cutz = truncated_copy(goodz, "cut.msgpack.zst", 5);
    CHECK(dies_with(open_and_read_all, cutz, "truncated zstd"));

    const char garbage[] = "\xc1\xc1\xc1 this is not msgpack";
    char *g = file_with("garbage", garbage, sizeof garbage);
    CHECK(dies_with(open_and_read_all, g, "garbage"));

    const char json[] = "{\"format\": \"deal\"}\n";
    char *j = file_with("json", json, sizeof json - 1);
    CHECK(dies_with(open_and_read_all, j, "header: not a msgpack map"));

    char *empty = file_with("empty", "", 0);
    CHECK(dies_with(open_and_read_all, empty, "empty input"));

    // A header that claims a string of 4 GiB: refused without trying to hold it.
    const unsigned char huge[] = {0x81, 0xa6, 'f', 'o', 'r', 'm', 'a', 't', 0xdb, 0xff, 0xff, 0xff, 0xff, 'd'};
    char *h = file_with("huge", huge, sizeof huge);
    CHECK(dies_with(open_and_read_all, h, "header"));

    CHECK(dies_with(read_field_s_as_int, good, "record 1: field \"s\": expected an integer, got a string"));
    CHECK(dies_with(read_missing_field, good, "record 1: missing field \"prompt\""));
    CHECK(dies_with(open_and_read_all, "/nonexistent/file", "/nonexistent/file"));
    free(good), free(goodz), free(tokens), free(cut), free(cutz), free(g), free(j), free(empty), free(h);
}

static void write_and_die(void *path) {
    stream_writer *w = stream_create(path, false);
    pack_header(stream_packer(w), "examples", 0);
    die("stopping half-way");
}

static void test_nothing_half_written(void) {
    char *p = path_in_dir("half.msgpack");
    CHECK(dies_with(write_and_die, p, "stopping half-way"));
    CHECK(access(p, F_OK) != 0);
    char *cmd = xasprintf("ls %s | grep -c tmp > /dev/null", dir);
    CHECK(system(cmd) != 0);  // no temporary left behind either
    free(cmd);
    free(p);
}

static void read_examples(void *path) {
    stream_reader *r = stream_open(path, "examples");
    for (example e; example_read(r, &e); example_free(&e)) {}
    stream_close(r);
}

static void test_example_span_outside_prompt(void) {
    char *p = path_in_dir("bad-span.msgpack");
    stream_writer *w = stream_create(p, false);
    msgpack_packer *pk = stream_packer(w);
    examples_write_header(pk, "t", "train", "test", 1);
    char *opts[] = {"a", "b"};
    example e = {"t-train-1", "t", "t", "T", "train", "short prompt", "a", opts, 2, 3, 999};
    example_write(pk, &e);
    stream_finish(w);
    CHECK(dies_with(read_examples, p, "record 1: passage span [3, 999) is outside the prompt"));
    free(p);
}

int main(void) {
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    RUN(test_round_trip_plain_and_zstd);
    RUN(test_empty_stream_is_fine);
    RUN(test_bad_input);
    RUN(test_nothing_half_written);
    RUN(test_example_span_outside_prompt);
    remove_tree(dir);
    return test_summary();
}
