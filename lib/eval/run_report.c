// run_report.c: deal-report's reports (run_report.h). Each run folder is read
// and checked whole before anything is written, so bad input leaves no
// half-made report behind.
#include "eval/run_report.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "eval/charts.h"
#include "eval/markdown.h"
#include "eval/sequence.h"

// ---- reading -------------------------------------------------------------------

// The non-blank lines of a file read whole, numbered from 1; each is cut at
// its '\n' in place.
typedef struct {
    char *rest;
    size_t number;  // of the line last returned
} line_reader;

static char *next_line(line_reader *r) {
    while (*r->rest) {
        char *line = r->rest, *nl = strchr(line, '\n');
        r->rest = nl ? nl + 1 : line + strlen(line);
        if (nl) *nl = '\0';
        r->number++;
        if (line[strspn(line, " \t\r")]) return line;
    }
    return NULL;
}

// o[key], which must have the given type; JSON_REAL stands for any number.
// Dies naming the file, and the line where line > 0.
static json_t *member(const char *path, size_t line, const json_t *o, const char *key, json_type type) {
    json_t *v = json_object_get(o, key);
    if (v && (json_typeof(v) == type || (type == JSON_REAL && json_is_integer(v)))) return v;
    char where[32] = "";
    if (line) snprintf(where, sizeof where, "line %zu: ", line);
    if (!v) die("%s: %s\"%s\" missing", path, where, key);
    die("%s: %s\"%s\" is not %s", path, where, key,
        type == JSON_ARRAY    ? "an array"
        : type == JSON_OBJECT ? "an object"
        : type == JSON_STRING ? "a string"
        : type == JSON_INTEGER ? "an integer"
                               : "a number");
}

static double number(const char *path, size_t line, const json_t *o, const char *key) {
    return json_number_value(member(path, line, o, key, JSON_REAL));
}

static json_t *load_json(const char *path) {
    char *text = read_file(path, NULL);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    free(text);
    if (!j) die("%s: line %d: invalid JSON: %s", path, err.line, err.text);
    if (!json_is_object(j)) die("%s: expected a JSON object", path);
    return j;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

typedef struct {
    const char *name;  // held by the run's scores JSON
    double accuracy, rouge1;
    long n;
} dataset_score;

// deal-train's log of one task.
typedef struct {
    char *path;                     // where it is, or would be
    json_t *start;                  // its first line; NULL: no log
    const char *backend, *kernels;  // held by start
    long examples;
    int n;                          // optimizer steps
    double *step, *loss, *tokens_per_s;
    double elapsed_s;               // when the last step ended
} train_log;

typedef struct {
    char *phase;
    int commands;
    double seconds;
} phase_time;

typedef struct {
    char *dir;           // without a trailing '/'
    json_t *info;        // run.json, or NULL
    json_t *scores;      // scores.json
    cl_matrix m;
    dataset_score *datasets;
    int ndatasets;
    train_log *logs;     // one per task of m; NULL if not asked for
    int nlogs;           // logs found
    phase_time *phases;  // NULL: no times.tsv
    int nphases;
} run;

static char *run_file(const run *r, const char *name) { return xasprintf("%s/%s", r->dir, name); }

static void load_scores(run *r) {
    char *path = run_file(r, "scores.json");
    r->scores = load_json(path);
    json_t *tasks = member(path, 0, r->scores, "tasks", JSON_ARRAY);
    json_t *rows = member(path, 0, r->scores, "matrix", JSON_ARRAY);
    int n = (int)json_array_size(tasks);
    if (n == 0) die("%s: \"tasks\" is empty", path);
    if ((int)json_array_size(rows) != n)
        die("%s: \"matrix\" has %zu rows for %d tasks", path, json_array_size(rows), n);
    r->m = (cl_matrix){n, xcalloc((size_t)n, sizeof(char *)), xmalloc((size_t)n * n * sizeof(double))};
    for (int i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(tasks, i));
        if (!name) die("%s: task %d is not a string", path, i + 1);
        r->m.tasks[i] = xstrdup(name);
        json_t *row = json_array_get(rows, i);
        if ((int)json_array_size(row) != n) die("%s: \"matrix\" row %d does not hold %d entries", path, i + 1, n);
        // Only i <= j is filled: task i is evaluated from the time it is trained.
        for (int j = 0; j < n; j++) {
            json_t *a = json_array_get(row, j);
            if (j >= i && !json_is_number(a))
                die("%s: \"matrix\" row %d, entry %d is not a number", path, i + 1, j + 1);
            r->m.a[i * n + j] = j >= i ? json_number_value(a) : NAN;
        }
    }
    json_t *accuracy = member(path, 0, r->scores, "accuracy", JSON_OBJECT);
    json_t *rouge1 = member(path, 0, r->scores, "rouge1", JSON_OBJECT);
    json_t *count = member(path, 0, r->scores, "n", JSON_OBJECT);
    r->datasets = xcalloc(json_object_size(accuracy) + 1, sizeof *r->datasets);
    const char *name;
    json_t *v;
    json_object_foreach(accuracy, name, v) {
        if (!json_is_number(v)) die("%s: accuracy of \"%s\" is not a number", path, name);
        json_t *rg = json_object_get(rouge1, name), *k = json_object_get(count, name);
        if (!json_is_number(rg) || !json_is_integer(k)) die("%s: no ROUGE-1 or count for dataset \"%s\"", path, name);
        r->datasets[r->ndatasets++] =
            (dataset_score){name, json_number_value(v), json_number_value(rg), (long)json_integer_value(k)};
    }
    free(path);
}

static void load_log(train_log *l) {
    char *text = read_file(l->path, NULL);
    line_reader lr = {text, 0};
    char *line;
    int cap = 0;
    while ((line = next_line(&lr))) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (!o) die("%s: line %zu: invalid JSON: %s", l->path, lr.number, err.text);
        if (!json_is_object(o)) die("%s: line %zu: expected a JSON object", l->path, lr.number);
        if (!l->start) {
            if (!json_is_true(json_object_get(o, "start")))
                die("%s: line %zu: expected deal-train's start line ({\"start\": true, ...})", l->path, lr.number);
            l->start = o;
            l->backend = json_string_value(member(l->path, lr.number, o, "backend", JSON_STRING));
            l->kernels = json_string_value(member(l->path, lr.number, o, "kernels", JSON_STRING));
            l->examples = (long)json_integer_value(member(l->path, lr.number, o, "examples", JSON_INTEGER));
            continue;
        }
        if (l->n == cap) {
            cap = cap ? 2 * cap : 256;
            l->step = xrealloc(l->step, (size_t)cap * sizeof *l->step);
            l->loss = xrealloc(l->loss, (size_t)cap * sizeof *l->loss);
            l->tokens_per_s = xrealloc(l->tokens_per_s, (size_t)cap * sizeof *l->tokens_per_s);
        }
        l->step[l->n] = number(l->path, lr.number, o, "step");
        l->loss[l->n] = number(l->path, lr.number, o, "loss");
        l->tokens_per_s[l->n] = number(l->path, lr.number, o, "tokens_per_s");
        l->elapsed_s = number(l->path, lr.number, o, "elapsed_s");
        l->n++;
        json_decref(o);
    }
    if (!l->start) die("%s: empty log", l->path);
    free(text);
}

// The logs of the tasks, as the pipelines name them: logs/<i>-<task>.jsonl.
static void load_logs(run *r) {
    r->logs = xcalloc((size_t)r->m.n, sizeof *r->logs);
    for (int i = 0; i < r->m.n; i++) {
        char *name = xasprintf("logs/%d-%s.jsonl", i + 1, r->m.tasks[i]);
        r->logs[i].path = run_file(r, name);
        free(name);
        if (exists(r->logs[i].path)) {
            load_log(&r->logs[i]);
            r->nlogs++;
        }
    }
}

// times.tsv summed per phase, phases in the order they first appear.
static void load_times(run *r) {
    char *path = run_file(r, "times.tsv");
    if (!exists(path)) {
        free(path);
        return;
    }
    char *text = read_file(path, NULL);
    line_reader lr = {text, 0};
    r->phases = xmalloc(sizeof *r->phases);  // not NULL even if empty: the file is there
    for (char *line; (line = next_line(&lr));) {
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL, *end;
        double seconds = tab2 ? strtod(tab2 + 1, &end) : NAN;
        if (!tab2 || tab1 == line || end == tab2 + 1 || end[strspn(end, " \r")] || !(seconds >= 0) || isinf(seconds))
            die("%s: line %zu: expected \"<phase>\\t<name>\\t<seconds>\"", path, lr.number);
        *tab1 = '\0';
        int k = 0;
        while (k < r->nphases && strcmp(r->phases[k].phase, line) != 0) k++;
        if (k == r->nphases) {
            r->phases = xrealloc(r->phases, (size_t)(k + 1) * sizeof *r->phases);
            r->phases[r->nphases++] = (phase_time){xstrdup(line), 0, 0};
        }
        r->phases[k].commands++;
        r->phases[k].seconds += seconds;
    }
    free(text);
    free(path);
}

static run load_run(const char *dir, bool with_logs) {
    run r = {.dir = xstrdup(dir)};
    for (size_t n = strlen(r.dir); n > 1 && r.dir[n - 1] == '/'; n--) r.dir[n - 1] = '\0';
    char *info = run_file(&r, "run.json");
    if (exists(info)) r.info = load_json(info);
    free(info);
    load_scores(&r);
    if (with_logs) load_logs(&r);
    load_times(&r);
    return r;
}

static void run_free(run *r) {
    for (int i = 0; r->logs && i < r->m.n; i++) {
        train_log *l = &r->logs[i];
        free(l->path), free(l->step), free(l->loss), free(l->tokens_per_s);
        json_decref(l->start);
    }
    free(r->logs);
    for (int k = 0; k < r->nphases; k++) free(r->phases[k].phase);
    free(r->phases);
    free(r->datasets);
    cl_matrix_free(&r->m);
    json_decref(r->scores);
    json_decref(r->info);
    free(r->dir);
}

// A string of run.json, or NULL.
static const char *info(const run *r, const char *key) { return json_string_value(json_object_get(r->info, key)); }

static double phase_seconds(const run *r, const char *phase) {
    for (int k = 0; k < r->nphases; k++)
        if (strcmp(r->phases[k].phase, phase) == 0) return r->phases[k].seconds;
    return 0;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

// ---- writing ---------------------------------------------------------------------

// 42.0 s, 12 min 05 s, 3 h 07 min.
static void put_duration(FILE *fp, double seconds) {
    long s = lround(seconds);
    if (seconds < 60) fprintf(fp, "%.1f s", seconds);
    else if (s < 3600) fprintf(fp, "%ld min %02ld s", s / 60, s % 60);
    else fprintf(fp, "%ld h %02ld min", s / 3600, s % 3600 / 60);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double *s = xmalloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, compare_doubles);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

// "- key: value" for a string of run.json, if it is there; code in backticks.
static void bullet(FILE *fp, const run *r, const char *key, bool code) {
    const char *value = info(r, key);
    if (value) fprintf(fp, code ? "- %s: `%s`\n" : "- %s: %s\n", key, value);
}

static void write_header(FILE *fp, const run *r) {
    const char *bench = info(r, "benchmark"), *method = info(r, "method"), *model = info(r, "model");
    fputs("# ", fp);
    if (bench) fprintf(fp, "%s: ", bench);
    fputs(method ? method : "run", fp);
    if (model) fprintf(fp, " on %s", base_name(model));
    fprintf(fp, "\n\nRun folder `%s`.\n\n", r->dir);
    if (!r->info) {
        fputs("_No run.json: the command, machine and date are not known._\n\n", fp);
        return;
    }
    const char *command = info(r, "command");
    if (command) fprintf(fp, "```sh\n%s\n```\n\n", command);
    bullet(fp, r, "model", true);
    json_t *seed = json_object_get(r->info, "seed");
    if (json_is_integer(seed)) fprintf(fp, "- seed: %lld\n", (long long)json_integer_value(seed));
    bullet(fp, r, "train_flags", true);
    bullet(fp, r, "machine", false);
    bullet(fp, r, "date", false);
    fputc('\n', fp);
}

static void write_matrix(FILE *fp, const run *r) {
    fputs("## Accuracy\n\n", fp);
    md_accuracy_matrix(fp, &r->m);
    char *heatmap = run_file(r, "matrix.svg");
    if (exists(heatmap)) fputs("![accuracy matrix](matrix.svg)\n\n", fp);
    else fprintf(fp, "_No heat map: %s is missing._\n\n", heatmap);
    free(heatmap);

    fputs("Per dataset, after the last task:\n\n| dataset | n | accuracy (%) | ROUGE-1 (%) |\n"
          "| --- | ---: | ---: | ---: |\n", fp);
    for (int k = 0; k < r->ndatasets; k++) {
        const dataset_score *d = &r->datasets[k];
        fputs("| ", fp);
        md_cell(fp, d->name);
        fprintf(fp, " | %ld | %.2f | %.2f |\n", d->n, d->accuracy, d->rouge1);
    }
    fputc('\n', fp);
}

// The training section: the loss chart, a row per task with a log, the kernels.
static void write_training(FILE *fp, const run *r) {
    fputs("## Training\n\n", fp);
    if (r->nlogs == 0) {
        fprintf(fp, "_No training logs in %s/logs: the loss chart and the training table are left out._\n\n", r->dir);
        return;
    }
    fputs("![training loss](loss.svg)\n\n"
          "Time is the training loop's, from the log; tokens/s is the median over the optimizer steps.\n\n"
          "| task | examples | steps | final loss | time | tokens/s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
          fp);
    const train_log *first = NULL;
    for (int i = 0; i < r->m.n; i++) {
        const train_log *l = &r->logs[i];
        if (!l->start) continue;
        if (!first) first = l;
        fputs("| ", fp);
        md_cell(fp, r->m.tasks[i]);
        fprintf(fp, " | %ld | %d | ", l->examples, l->n);
        if (l->n == 0) {
            fputs("| | |\n", fp);
            continue;
        }
        fprintf(fp, "%.4f | ", l->loss[l->n - 1]);
        put_duration(fp, l->elapsed_s);
        fprintf(fp, " | %.0f |\n", median(l->tokens_per_s, l->n));
    }
    fputc('\n', fp);
    for (int i = 0; i < r->m.n; i++)
        if (!r->logs[i].start) fprintf(fp, "_No log for task %s: %s is missing._\n\n", r->m.tasks[i], r->logs[i].path);
    fprintf(fp, "Backend `%s`, kernels: %s.\n\n", first->backend, first->kernels);
}

static void write_times(FILE *fp, const run *r) {
    fputs("## Run time\n\n", fp);
    if (!r->phases) {
        fprintf(fp, "_No %s/times.tsv: the run time is not known._\n", r->dir);
        return;
    }
    fputs("| phase | commands | time |\n| --- | ---: | ---: |\n", fp);
    double total = 0;
    int commands = 0;
    for (int k = 0; k < r->nphases; k++) {
        const phase_time *p = &r->phases[k];
        fputs("| ", fp);
        md_cell(fp, p->phase);
        fprintf(fp, " | %d | ", p->commands);
        put_duration(fp, p->seconds);
        fputs(" |\n", fp);
        total += p->seconds, commands += p->commands;
    }
    fprintf(fp, "| total | %d | ", commands);
    put_duration(fp, total);
    fputs(" |\n\nTotal wall time: ", fp);
    put_duration(fp, total);
    fputs(" (the timed commands one after another).\n", fp);
}

static void write_loss_chart(FILE *fp, const run *r) {
    line_series *s = xmalloc((size_t)r->m.n * sizeof *s);
    int ns = 0;
    for (int i = 0; i < r->m.n; i++)
        if (r->logs[i].start) s[ns++] = (line_series){r->m.tasks[i], r->logs[i].step, r->logs[i].loss, r->logs[i].n};
    chart_text t = {"Training loss of each task", "optimizer step within the task", "loss"};
    line_chart_svg(fp, &t, s, ns);
    free(s);
}

void run_report(const char *dir) {
    run r = load_run(dir, true);
    char *md_path = run_file(&r, "report.md"), *svg_path = run_file(&r, "loss.svg");
    atomic_file md = atomic_open(md_path);
    write_header(md.fp, &r);
    write_matrix(md.fp, &r);
    write_training(md.fp, &r);
    write_times(md.fp, &r);
    if (r.nlogs > 0) {
        atomic_file svg = atomic_open(svg_path);
        write_loss_chart(svg.fp, &r);
        atomic_commit(&svg);
    }
    atomic_commit(&md);
    free(md_path), free(svg_path);
    run_free(&r);
}

// ---- comparison -------------------------------------------------------------------------

// What names run k in the comparison: its method, with its folder's name when
// another run has the same method (seeds, models).
static char *run_label(const run *runs, int n, int k) {
    const char *method = info(&runs[k], "method");
    if (!method) return xstrdup(base_name(runs[k].dir));
    for (int o = 0; o < n; o++) {
        const char *other = info(&runs[o], "method");
        if (o != k && other && strcmp(other, method) == 0) return xasprintf("%s (%s)", method, base_name(runs[k].dir));
    }
    return xstrdup(method);
}

// Accuracy on task after the run's last task; NAN if the run never trained it.
static double final_accuracy(const run *r, const char *task) {
    int n = r->m.n;
    for (int i = 0; i < n; i++)
        if (strcmp(r->m.tasks[i], task) == 0) return r->m.a[i * n + n - 1];
    return NAN;
}

void compare_report(char *const *dirs, int n, const char *out) {
    if (strcmp(out, "-") == 0) die("--out must name a file: the chart is written beside it");
    run *runs = xmalloc((size_t)n * sizeof *runs);
    for (int k = 0; k < n; k++) runs[k] = load_run(dirs[k], false);
    char **labels = xmalloc((size_t)n * sizeof *labels);
    double *aa = xmalloc((size_t)n * sizeof *aa), *bwt = xmalloc((size_t)n * sizeof *bwt);
    // The columns: every task of any run, in the order they first appear.
    char **tasks = NULL;
    int ntasks = 0;
    for (int k = 0; k < n; k++) {
        labels[k] = run_label(runs, n, k);
        for (int i = 0; i < runs[k].m.n; i++) {
            int t = 0;
            while (t < ntasks && strcmp(tasks[t], runs[k].m.tasks[i]) != 0) t++;
            if (t < ntasks) continue;
            tasks = xrealloc(tasks, (size_t)(ntasks + 1) * sizeof *tasks);
            tasks[ntasks++] = runs[k].m.tasks[i];
        }
    }

    size_t len = strlen(out);
    bool md_suffix = len >= 3 && strcmp(out + len - 3, ".md") == 0;
    char *svg_path = xasprintf("%.*s.svg", (int)(md_suffix ? len - 3 : len), out);
    atomic_file md = atomic_open(out);
    FILE *fp = md.fp;
    fprintf(fp, "# Comparison of %d runs\n\n"
                "AA, BWT and forgetting in percentage points; under each task, the accuracy (%%) on it after "
                "the last task; train time is the sum of the training commands' times (times.tsv).\n\n"
                "| method | AA | BWT | forgetting |", n);
    for (int t = 0; t < ntasks; t++) {
        fputc(' ', fp);
        md_cell(fp, tasks[t]);
        fputs(" |", fp);
    }
    fputs(" train time | run |\n| --- | ---: | ---: | ---: |", fp);
    for (int t = 0; t < ntasks; t++) fputs(" ---: |", fp);
    fputs(" ---: | --- |\n", fp);
    for (int k = 0; k < n; k++) {
        const run *r = &runs[k];
        cl_summary s = cl_summarize(r->m.a, r->m.n);
        aa[k] = s.aa, bwt[k] = s.bwt;
        fputs("| ", fp);
        md_cell(fp, labels[k]);
        fprintf(fp, " | %.2f | %.2f | %.2f |", s.aa, s.bwt, s.forgetting);
        for (int t = 0; t < ntasks; t++) {
            double a = final_accuracy(r, tasks[t]);
            if (isnan(a)) fputs(" |", fp);
            else fprintf(fp, " %.1f |", a);
        }
        fputc(' ', fp);
        if (r->phases) put_duration(fp, phase_seconds(r, "train"));
        fputs(" | ", fp);
        md_cell(fp, r->dir);
        fputs(" |\n", fp);
    }
    fputs("\n![AA and BWT of each run](", fp);
    fputs(base_name(svg_path), fp);
    fputs(")\n", fp);

    atomic_file svg = atomic_open(svg_path);
    chart_text t = {"AA and BWT after the last task", NULL, "percent (AA), percentage points (BWT)"};
    bar_series series[] = {{"AA", aa}, {"BWT", bwt}};
    bar_chart_svg(svg.fp, &t, labels, n, series, 2);
    atomic_commit(&svg);
    atomic_commit(&md);

    for (int k = 0; k < n; k++) free(labels[k]), run_free(&runs[k]);
    free(labels), free(tasks), free(aa), free(bwt), free(runs), free(svg_path);
}
