// record.c: deal.json in adapter folders.
#include "methods/record.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/util.h"
#include "train/adapter.h"

adapter_record record_read(const char *dir) {
    adapter_record rec = {0};
    char *path = xasprintf("%s/deal.json", dir);
    if (access(path, F_OK) != 0) {
        lora_config c = adapter_read_config(dir);
        rec.r = c.r, rec.alpha = c.alpha;
        lora_config_free(&c);
        free(path);
        return rec;
    }
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) die("%s: line %d: %s", path, err.line, err.text);
    const char *method = json_string_value(json_object_get(j, "method"));
    json_t *tasks = json_object_get(j, "tasks"), *r = json_object_get(j, "lora_r"), *alpha = json_object_get(j, "lora_alpha");
    if (!method || !json_is_array(tasks) || !json_is_integer(r) || json_integer_value(r) < 1 || !json_is_number(alpha))
        die("%s: expected \"method\", \"tasks\", \"lora_r\" and \"lora_alpha\"", path);
    rec.method = xstrdup(method);
    rec.r = (int)json_integer_value(r);
    rec.alpha = (float)json_number_value(alpha);
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        const char *t = json_string_value(json_array_get(tasks, i));
        if (!t) die("%s: tasks[%zu] is not a string", path, i);
        record_add_task(&rec, t);
    }
    json_decref(j);
    free(path);
    return rec;
}

void record_write(const adapter_record *rec, const char *dir) {
    json_t *j = json_object(), *tasks = json_array();
    for (int i = 0; i < rec->n_tasks; i++) json_array_append_new(tasks, json_string(rec->tasks[i]));
    json_object_set_new(j, "method", json_string(rec->method));
    json_object_set_new(j, "task", rec->n_tasks ? json_string(rec->tasks[rec->n_tasks - 1]) : json_null());
    json_object_set_new(j, "tasks", tasks);
    json_object_set_new(j, "lora_r", json_integer(rec->r));
    json_object_set_new(j, "lora_alpha", json_real(rec->alpha));
    char *path = xasprintf("%s/deal.json", dir);
    atomic_file f = atomic_open(path);
    if (json_dumpf(j, f.fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) die("%s: write error", path);
    fputc('\n', f.fp);
    atomic_commit(&f);
    free(path);
    json_decref(j);
}

void record_add_task(adapter_record *rec, const char *task) {
    rec->tasks = xrealloc(rec->tasks, (size_t)(rec->n_tasks + 1) * sizeof *rec->tasks);
    rec->tasks[rec->n_tasks++] = xstrdup(task);
}

void record_free(adapter_record *rec) {
    for (int i = 0; i < rec->n_tasks; i++) free(rec->tasks[i]);
    free(rec->tasks);
    free(rec->method);
    *rec = (adapter_record){0};
}
