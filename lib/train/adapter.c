// adapter.c: PEFT adapter folders.
#include "train/adapter.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/safetensors.h"

#define PREFIX "base_model.model."

static json_t *load_json_file(const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) die("%s: line %d: %s", path, err.line, err.text);
    if (!json_is_object(j)) die("%s: expected a JSON object", path);
    return j;
}

lora_config adapter_read_config(const char *dir) {
    char *path = xasprintf("%s/adapter_config.json", dir);
    json_t *j = load_json_file(path);
    lora_config c = {0};
    const char *type = json_string_value(json_object_get(j, "peft_type"));
    if (!type || strcmp(type, "LORA") != 0) die("%s: peft_type must be \"LORA\"", path);
    json_t *r = json_object_get(j, "r"), *alpha = json_object_get(j, "lora_alpha");
    if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > 65536) die("%s: bad \"r\"", path);
    if (!json_is_number(alpha)) die("%s: bad \"lora_alpha\"", path);
    c.r = (int)json_integer_value(r);
    c.alpha = (float)json_number_value(alpha);
    c.dropout = (float)json_number_value(json_object_get(j, "lora_dropout"));
    static const char *unsupported[] = {"use_dora", "use_rslora", "fan_in_fan_out"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (json_is_true(json_object_get(j, unsupported[i]))) die("%s: %s is not supported", path, unsupported[i]);
    const char *bias = json_string_value(json_object_get(j, "bias"));
    if (bias && strcmp(bias, "none") != 0) die("%s: bias \"%s\" is not supported (only \"none\")", path, bias);
    json_t *t = json_object_get(j, "target_modules");
    if (!json_is_array(t) || json_array_size(t) == 0)
        die("%s: target_modules must be a list of module names (regular expressions are not supported)", path);
    c.n_targets = (int)json_array_size(t);
    c.targets = xmalloc((size_t)c.n_targets * sizeof *c.targets);
    for (int i = 0; i < c.n_targets; i++) {
        const char *s = json_string_value(json_array_get(t, (size_t)i));
        if (!s) die("%s: target_modules[%d] is not a string", path, i);
        c.targets[i] = xstrdup(s);
    }
    json_decref(j);
    free(path);
    return c;
}

void lora_config_free(lora_config *c) {
    for (int i = 0; i < c->n_targets; i++) free(c->targets[i]);
    free(c->targets);
    *c = (lora_config){0};
}

// "base_model.model.<module>.lora_<A|B>[.default].weight" -> module and which.
static char *parse_name(const char *name, char *which) {
    size_t n = strlen(name), p = strlen(PREFIX);
    static const char *ends[] = {".lora_A.weight", ".lora_B.weight", ".lora_A.default.weight", ".lora_B.default.weight"};
    if (n <= p || strncmp(name, PREFIX, p) != 0) return NULL;
    for (int i = 0; i < 4; i++) {
        size_t e = strlen(ends[i]);
        if (n > p + e && strcmp(name + n - e, ends[i]) == 0) {
            *which = ends[i][6];
            return xstrndup(name + p, n - p - e);
        }
    }
    return NULL;
}

void adapter_load(model *m, const char *dir) {
    lora_config c = adapter_read_config(dir);
    char *path = xasprintf("%s/adapter_model.safetensors", dir);
    safetensors *st = st_open(path);
    const backend *be = m->be;
    int loaded = 0;
    for (int i = 0; i < st_count(st); i++) {
        const st_tensor *t = st_at(st, i);
        char which;
        char *module = parse_name(t->name, &which);
        if (!module) die("%s: tensor %s is not a LoRA factor of PEFT's naming", path, t->name);
        linear *l = model_find_linear(m, module);
        if (!l) die("%s: tensor %s: the model has no module %s", path, t->name, module);
        if (!l->lora) {
            l->lora = xcalloc(1, sizeof *l->lora);
            *l->lora = (lora_factors){.r = c.r, .scale = c.alpha / (float)c.r, .dropout = c.dropout};
        } else if (l->lora->r != c.r || (which == 'A' ? l->lora->A : l->lora->B)) {
            die("%s: tensor %s: %s already has this factor", path, t->name, module);
        }
        int64_t shape[2] = {which == 'A' ? c.r : l->out, which == 'A' ? l->in : c.r};
        size_t n = (size_t)shape[0] * shape[1];
        float *host = xmalloc(n * sizeof *host), *dev = be->alloc(n);
        st_read_f32(st, t->name, shape, 2, host);
        be->upload(dev, host, n);
        free(host);
        if (which == 'A') l->lora->A = dev;
        else l->lora->B = dev;
        free(module);
        loaded++;
    }
    for (int i = 0; i < m->n_linears; i++) {
        lora_factors *lo = m->linears[i]->lora;
        if (lo && (!lo->A || !lo->B)) die("%s: %s has only one of lora_A and lora_B", path, m->linears[i]->name);
    }
    if (loaded == 0) die("%s: no LoRA factors", path);
    st_close(st);
    free(path);
    lora_config_free(&c);
}

static void write_config(const model *m, const lora_config *c, const char *base, const char *path) {
    json_t *j = json_object();
    json_t *targets = json_array();
    for (int i = 0; i < c->n_targets; i++) json_array_append_new(targets, json_string(c->targets[i]));
    json_object_set_new(j, "peft_type", json_string("LORA"));
    json_object_set_new(j, "task_type", json_string(m->cfg.arch == ARCH_T5 ? "SEQ_2_SEQ_LM" : "CAUSAL_LM"));
    json_object_set_new(j, "base_model_name_or_path", json_string(base));
    json_object_set_new(j, "r", json_integer(c->r));
    json_object_set_new(j, "lora_alpha", json_real(c->alpha));
    json_object_set_new(j, "lora_dropout", json_real(c->dropout));
    json_object_set_new(j, "target_modules", targets);
    json_object_set_new(j, "bias", json_string("none"));
    json_object_set_new(j, "fan_in_fan_out", json_false());
    json_object_set_new(j, "inference_mode", json_true());
    json_object_set_new(j, "init_lora_weights", json_true());
    json_object_set_new(j, "modules_to_save", json_null());
    atomic_file f = atomic_open(path);
    if (json_dumpf(j, f.fp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) die("%s: write error", path);
    fputc('\n', f.fp);
    atomic_commit(&f);
    json_decref(j);
}

void adapter_save(const model *m, const lora_config *c, const char *base, const char *dir,
                  adapter_extra_writer extra, void *arg) {
    char *tmp = dir_begin(dir);
    char *path = xasprintf("%s/adapter_config.json", tmp);
    write_config(m, c, base, path);
    free(path);

    st_writer *w = st_writer_new();
    float **hosts = xcalloc((size_t)m->n_linears * 2, sizeof *hosts);
    char **names = xcalloc((size_t)m->n_linears * 2, sizeof *names);
    int k = 0;
    for (int i = 0; i < m->n_linears; i++) {
        const linear *l = m->linears[i];
        if (!l->lora) continue;
        for (int f = 0; f < 2; f++, k++) {
            int64_t shape[2] = {f ? l->out : l->lora->r, f ? l->lora->r : l->in};
            size_t n = (size_t)shape[0] * shape[1];
            hosts[k] = xmalloc(n * sizeof(float));
            m->be->download(hosts[k], f ? l->lora->B : l->lora->A, n);
            names[k] = xasprintf(PREFIX "%s.lora_%c.weight", l->name, f ? 'B' : 'A');
            st_writer_add(w, names[k], hosts[k], shape, 2);
        }
    }
    path = xasprintf("%s/adapter_model.safetensors", tmp);
    st_writer_write(w, path);
    free(path);
    for (int i = 0; i < k; i++) free(hosts[i]), free(names[i]);
    free(hosts);
    free(names);
    if (extra) extra(tmp, arg);
    dir_commit(tmp, dir);
}
