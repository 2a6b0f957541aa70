// report.c: JSON (jansson) and Markdown renderings of a score_report.
#include "eval/report.h"

#include <jansson.h>
#include <math.h>

#include "base/util.h"
#include "eval/markdown.h"

// The mean over datasets of one of score.h's percentages.
static double mean_over(const score_table *t, double (*score)(const score_group *)) {
    double sum = 0;
    for (int i = 0; i < t->n; i++) sum += score(&t->groups[i]);
    return sum / t->n;
}

static long total_predictions(const score_table *t) {
    long n = 0;
    for (int i = 0; i < t->n; i++) n += t->groups[i].n;
    return n;
}

// jansson has no NaN: the empty half of the matrix becomes null.
static json_t *json_number(double x) { return isnan(x) ? json_null() : json_real(x); }

static json_t *json_strings(char *const *s, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(s[i]));
    return a;
}

// {"<dataset>": score(dataset), ...}
static json_t *json_per_dataset(const score_table *t, double (*score)(const score_group *)) {
    json_t *o = json_object();
    for (int i = 0; i < t->n; i++) json_object_set_new(o, t->groups[i].name, json_real(score(&t->groups[i])));
    return o;
}

void report_json(FILE *fp, const score_report *r) {
    json_t *root = json_object();
    json_object_set_new(root, "files", json_strings(r->files, r->nfiles));
    const cl_matrix *m = r->matrix;
    if (m) {
        json_object_set_new(root, "tasks", json_strings(m->tasks, m->n));
        json_t *rows = json_array();
        for (int i = 0; i < m->n; i++) {
            json_t *row = json_array();
            for (int j = 0; j < m->n; j++) json_array_append_new(row, json_number(m->a[i * m->n + j]));
            json_array_append_new(rows, row);
        }
        json_object_set_new(root, "matrix", rows);
        cl_summary s = cl_summarize(m->a, m->n);
        json_object_set_new(root, "aa", json_real(s.aa));
        json_object_set_new(root, "bwt", json_real(s.bwt));
        json_object_set_new(root, "forgetting", json_real(s.forgetting));
    }
    const score_table *d = r->datasets;
    json_object_set_new(root, "accuracy", json_per_dataset(d, score_accuracy));
    json_object_set_new(root, "rouge1", json_per_dataset(d, score_rouge1));
    json_t *n = json_object();
    for (int i = 0; i < d->n; i++) json_object_set_new(n, d->groups[i].name, json_integer(d->groups[i].n));
    json_object_set_new(root, "n", n);
    json_object_set_new(root, "mean_accuracy", json_real(mean_over(d, score_accuracy)));
    json_object_set_new(root, "mean_rouge1", json_real(mean_over(d, score_rouge1)));
    json_object_set_new(root, "predictions", json_integer(total_predictions(d)));
    // 10 significant digits: 66.66666667 rather than 66.666666666666671.
    if (json_dumpf(root, fp, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0)
        die_internal("cannot write the JSON report");
    fputc('\n', fp);
    json_decref(root);
}

void report_markdown(FILE *fp, const score_report *r) {
    if (r->matrix) md_accuracy_matrix(fp, r->matrix);
    const score_table *d = r->datasets;
    fprintf(fp, "Per dataset (%s):\n\n| dataset | n | accuracy (%%) | ROUGE-1 (%%) |\n| --- | ---: | ---: | ---: |\n",
            r->matrix ? "after the last task" : "all files");
    for (int i = 0; i < d->n; i++) {
        const score_group *g = &d->groups[i];
        fputs("| ", fp);
        md_cell(fp, g->name);
        fprintf(fp, " | %ld | %.2f | %.2f |\n", g->n, score_accuracy(g), score_rouge1(g));
    }
    fprintf(fp, "| mean | %ld | %.2f | %.2f |\n", total_predictions(d), mean_over(d, score_accuracy),
            mean_over(d, score_rouge1));
}
