// source.c: loading and checking labelled data; seeded selection.
#include "data/source.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"

static json_t *load_json(const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!j) die("%s: line %d column %d: %s", path, err.line, err.column, err.text);
    return j;
}

static char **string_array(const char *path, const char *what, size_t number, json_t *a, size_t *n) {
    if (!json_is_array(a) || json_array_size(a) == 0)
        die("%s: record %zu: %s must be a non-empty array of strings", path, number, what);
    *n = json_array_size(a);
    char **out = xmalloc(*n * sizeof *out);
    for (size_t i = 0; i < *n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s)) die("%s: record %zu: %s[%zu] is not a string", path, number, what, i);
        out[i] = xstrdup(json_string_value(s));
        for (size_t k = 0; k < i; k++)
            if (strcmp(out[k], out[i]) == 0) die("%s: record %zu: %s holds \"%s\" twice", path, number, what, out[i]);
    }
    return out;
}

char **load_labels(const char *path, size_t *n) {
    json_t *j = load_json(path);
    char **labels = string_array(path, "the label list", 1, j, n);
    json_decref(j);
    return labels;
}

static const char *string_field(const char *path, size_t number, json_t *rec, const char *key) {
    json_t *v = json_object_get(rec, key);
    if (!v) die("%s: record %zu: missing \"%s\"", path, number, key);
    if (!json_is_string(v)) die("%s: record %zu: \"%s\" is not a string", path, number, key);
    return json_string_value(v);
}

static int is_one_of(const char *s, char *const *set, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0) return 1;
    return 0;
}

static void add(labelled_set *s, size_t *cap, labelled item) {
    if (s->n == *cap) s->items = xrealloc(s->items, (*cap = *cap ? 2 * *cap : 1024) * sizeof *s->items);
    s->items[s->n++] = item;
}

labelled_set load_benchmark_split(const char *path, char *const *labels, size_t n_labels) {
    json_t *j = load_json(path);
    if (!json_is_array(j)) die("%s: expected a JSON array of records", path);
    labelled_set s = {0};
    size_t cap = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *rec = json_array_get(j, i);
        size_t number = i + 1;
        if (!json_is_object(rec)) die("%s: record %zu: not a JSON object", path, number);
        const char *text = string_field(path, number, rec, "sentence");
        const char *label = string_field(path, number, rec, "label");
        if (strcmp(label, "-") == 0) {
            s.unlabelled++;
            continue;
        }
        if (!is_one_of(label, labels, n_labels)) die("%s: record %zu: label \"%s\" is not in labels.json", path, number, label);
        add(&s, &cap, (labelled){xstrdup(text), xstrdup(label), NULL, 0, number});
    }
    json_decref(j);
    return s;
}

labelled_set load_jsonl(const char *path) {
    size_t len;
    char *data = read_file(path, &len);
    labelled_set s = {0};
    size_t cap = 0, number = 0;
    for (char *line = data, *next; line < data + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        next = nl ? nl + 1 : data + len;
        number++;
        size_t n = (size_t)(next - line);
        if (strspn(line, " \t\r\n") >= n) continue;  // blank line
        json_error_t err;
        json_t *rec = json_loadb(line, n, 0, &err);
        if (!rec) die("%s: line %zu: %s", path, number, err.text);
        if (!json_is_object(rec)) die("%s: line %zu: not a JSON object", path, number);
        labelled item = {xstrdup(string_field(path, number, rec, "input")),
                         xstrdup(string_field(path, number, rec, "label")), NULL, 0, number};
        json_t *opts = json_object_get(rec, "options");
        if (opts) {
            item.options = string_array(path, "\"options\"", number, opts, &item.n_options);
            if (!is_one_of(item.label, item.options, item.n_options))
                die("%s: line %zu: label \"%s\" is not one of its options", path, number, item.label);
        }
        add(&s, &cap, item);
        json_decref(rec);
    }
    free(data);
    if (s.n == 0) die("%s: no records", path);
    return s;
}

void labelled_set_free(labelled_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].text);
        free(s->items[i].label);
        for (size_t k = 0; k < s->items[i].n_options; k++) free(s->items[i].options[k]);
        free(s->items[i].options);
    }
    free(s->items);
    *s = (labelled_set){0};
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

size_t *sample_indices(size_t n, size_t k, uint64_t seed, const char *salt) {
    // Partial Fisher-Yates: the first k slots of a seeded shuffle, then sorted
    // so the sample keeps the file's order. The salt (task and split) gives
    // every task its own sample under one seed.
    rng r;
    rng_seed(&r, fnv1a64(FNV1A64_INIT ^ seed, salt, strlen(salt)));
    size_t *idx = xmalloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)rng_below(&r, n - i);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    qsort(idx, k, sizeof *idx, cmp_size);
    return idx;
}
