// checkpoint.c: state.safetensors (values and moments) + state.json (the rest).
#include "train/checkpoint.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "model/safetensors.h"

static const char *kinds[3] = {"value", "adam_m", "adam_v"};

int checkpoint_exists(const char *dir) {
    char *p = xasprintf("%s/state.json", dir);
    int yes = access(p, R_OK) == 0;
    free(p);
    return yes;
}

static float *state_array(const adamw *o, int kind, int i) {
    return kind == 0 ? o->t[i].data : kind == 1 ? o->m[i] : o->v[i];
}

void checkpoint_save(const char *dir, const adamw *o, const rng *dropout, train_position at) {
    char *tmp = dir_begin(dir);
    st_writer *w = st_writer_new();
    char **names = xmalloc((size_t)o->n * 3 * sizeof *names);
    for (int i = 0; i < o->n; i++)
        for (int k = 0; k < 3; k++) {
            int64_t shape[1] = {(int64_t)o->t[i].n};
            names[i * 3 + k] = xasprintf("%s.%s", kinds[k], o->t[i].name);
            st_writer_add(w, names[i * 3 + k], state_array(o, k, i), shape, 1);
        }
    char *path = xasprintf("%s/state.safetensors", tmp);
    st_writer_write(w, path);
    free(path);
    for (int i = 0; i < o->n * 3; i++) free(names[i]);
    free(names);

    json_t *j = json_object(), *r = json_array();
    for (int i = 0; i < 4; i++) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016" PRIx64, dropout->s[i]);
        json_array_append_new(r, json_string(hex));
    }
    json_object_set_new(j, "step", json_integer(o->step));
    json_object_set_new(j, "epoch", json_integer(at.epoch));
    json_object_set_new(j, "batch", json_integer((json_int_t)at.batch));
    json_object_set_new(j, "log_bytes", json_integer(at.log_bytes));
    json_object_set_new(j, "dropout_rng", r);
    path = xasprintf("%s/state.json", tmp);
    atomic_file f = atomic_open(path);
    if (json_dumpf(j, f.fp, JSON_INDENT(2)) != 0) die("%s: write error", path);
    atomic_commit(&f);
    free(path);
    json_decref(j);
    dir_commit(tmp, dir);
}

static long json_long(const char *path, json_t *j, const char *key) {
    json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) die("%s: bad \"%s\"", path, key);
    return (long)json_integer_value(v);
}

train_position checkpoint_load(const char *dir, adamw *o, rng *dropout) {
    char *path = xasprintf("%s/state.json", dir);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) die("%s: line %d: %s", path, err.line, err.text);
    train_position at = {(int)json_long(path, j, "epoch"), (size_t)json_long(path, j, "batch"),
                         json_long(path, j, "log_bytes")};
    o->step = json_long(path, j, "step");
    json_t *r = json_object_get(j, "dropout_rng");
    for (int i = 0; i < 4; i++) {
        const char *hex = json_string_value(json_array_get(r, (size_t)i));
        if (!hex || sscanf(hex, "%" SCNx64, &dropout->s[i]) != 1) die("%s: bad \"dropout_rng\"", path);
    }
    json_decref(j);
    free(path);

    path = xasprintf("%s/state.safetensors", dir);
    safetensors *st = st_open(path);
    if (st_count(st) != o->n * 3) die("%s: holds %d arrays, this run trains %d tensors (x3)", path, st_count(st), o->n);
    float *host = NULL;
    for (int i = 0; i < o->n; i++)
        for (int k = 0; k < 3; k++) {
            char *name = xasprintf("%s.%s", kinds[k], o->t[i].name);
            int64_t shape[1] = {(int64_t)o->t[i].n};
            host = xrealloc(host, o->t[i].n * sizeof *host);
            st_read_f32(st, name, shape, 1, host);  // dies if absent or of another size
            memcpy(state_array(o, k, i), host, o->t[i].n * sizeof *host);
            free(name);
        }
    free(host);
    st_close(st);
    free(path);
    return at;
}
