// score.c: grouped tallies of scores (see score.h).
#include "eval/score.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/metrics.h"
#include "eval/predictions.h"

// Index of the group called name, or -1. There are a handful of tasks and
// datasets: a linear scan will do.
static int find(const score_table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->groups[i].name, name) == 0) return i;
    return -1;
}

const score_group *score_find(const score_table *t, const char *name) {
    int i = find(t, name);
    return i < 0 ? NULL : &t->groups[i];
}

void score_add(score_table *t, const char *name, bool correct, double rouge1) {
    int i = find(t, name);
    if (i < 0) {
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 8;
            t->groups = xrealloc(t->groups, (size_t)t->cap * sizeof *t->groups);
        }
        i = t->n++;
        t->groups[i] = (score_group){.name = xstrdup(name)};
    }
    score_group *g = &t->groups[i];
    g->n++;
    g->correct += correct;
    g->rouge1 += rouge1;
}

void score_table_free(score_table *t) {
    for (int i = 0; i < t->n; i++) free(t->groups[i].name);
    free(t->groups);
    *t = (score_table){0};
}

double score_accuracy(const score_group *g) { return 100.0 * (double)g->correct / (double)g->n; }
double score_rouge1(const score_group *g) { return 100.0 * g->rouge1 / (double)g->n; }

void score_file(const char *path, score_table *by_task, score_table *by_dataset) {
    prediction_reader *r = predictions_open(path);
    prediction p;
    while (predictions_next(r, &p)) {
        bool correct = exact_match(p.label, p.prediction);
        double rouge = rouge1_f(p.label, p.prediction);
        if (by_task) score_add(by_task, p.task, correct, rouge);
        if (by_dataset) score_add(by_dataset, p.dataset, correct, rouge);
    }
    predictions_close(r);
}
