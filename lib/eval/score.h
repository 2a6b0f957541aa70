// score.h: tallies of scored predictions, grouped by a name (a task or a
// dataset). Groups keep the order in which their names first appeared, so
// every report lists them in the order of the input.
#ifndef DEAL_SCORE_H
#define DEAL_SCORE_H

#include <stdbool.h>

typedef struct {
    char *name;
    long n;         // predictions
    long correct;   // exact matches (metrics.h)
    double rouge1;  // sum of ROUGE-1 F over the predictions, each in [0, 1]
} score_group;

typedef struct {
    score_group *groups;
    int n, cap;
} score_table;  // zero-initialise

// The group called name, or NULL.
const score_group *score_find(const score_table *t, const char *name);
// Adds one scored prediction to the group called name (made on first use).
void score_add(score_table *t, const char *name, bool correct, double rouge1);
void score_table_free(score_table *t);

// Percentages of a group (it always holds at least one prediction).
double score_accuracy(const score_group *g);
double score_rouge1(const score_group *g);

// Scores every prediction of one file (predictions.h) into by_task (grouped by
// "task") and by_dataset (by "dataset"); either may be NULL.
void score_file(const char *path, score_table *by_task, score_table *by_dataset);

#endif
