// predictions.c: the JSON-lines reader of predictions.h (jansson, one line at
// a time, so that an error can name its line).
#include "eval/predictions.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct prediction_reader {
    const char *path;
    char *text;      // the whole file
    size_t len, pos; // its size and the start of the next line
    size_t line;     // number of the line last read (1-based)
    size_t count;    // predictions returned so far
    json_t *json;    // the current line's object
};

prediction_reader *predictions_open(const char *path) {
    prediction_reader *r = xcalloc(1, sizeof *r);
    r->path = strcmp(path, "-") == 0 ? "stdin" : path;
    r->text = read_file(path, &r->len);
    return r;
}

static const char *field(const prediction_reader *r, const char *key) {
    json_t *v = json_object_get(r->json, key);
    if (!v) die("%s: line %zu: field \"%s\" missing", r->path, r->line, key);
    if (!json_is_string(v)) die("%s: line %zu: field \"%s\" is not a string", r->path, r->line, key);
    return json_string_value(v);
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r", s[i])) return false;
    return true;
}

bool predictions_next(prediction_reader *r, prediction *p) {
    json_decref(r->json);
    r->json = NULL;
    while (r->pos < r->len) {
        const char *start = r->text + r->pos, *nl = memchr(start, '\n', r->len - r->pos);
        size_t n = nl ? (size_t)(nl - start) : r->len - r->pos;
        r->pos += n + 1;
        r->line++;
        if (blank(start, n)) continue;
        json_error_t err;
        r->json = json_loadb(start, n, 0, &err);
        if (!r->json) die("%s: line %zu: invalid JSON: %s", r->path, r->line, err.text);
        if (!json_is_object(r->json)) die("%s: line %zu: expected a JSON object", r->path, r->line);
        *p = (prediction){
            .id = field(r, "id"),
            .task = field(r, "task"),
            .dataset = field(r, "dataset"),
            .split = field(r, "split"),
            .label = field(r, "label"),
            .prediction = field(r, "prediction"),
        };
        r->count++;
        return true;
    }
    if (r->count == 0) die("%s: no predictions", r->path);
    return false;
}

void predictions_close(prediction_reader *r) {
    if (!r) return;
    json_decref(r->json);
    free(r->text);
    free(r);
}
