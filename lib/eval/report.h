// report.h: deal-score's reports. JSON for programs:
//   {"files": [...],
//    "tasks": [...], "matrix": [[a00, a01, ...], [null, a11, ...], ...],
//    "aa": x, "bwt": x, "forgetting": x,            (only for a sequence)
//    "accuracy": {"<dataset>": x, ...}, "rouge1": {...}, "n": {"<dataset>": count, ...},
//    "mean_accuracy": x, "mean_rouge1": x, "predictions": count}
// all scores in percent; the means are over datasets, each counting once.
// Markdown for people: the same numbers as tables.
#ifndef DEAL_REPORT_H
#define DEAL_REPORT_H

#include <stdio.h>

#include "eval/score.h"
#include "eval/sequence.h"

typedef struct {
    char *const *files;
    int nfiles;
    const cl_matrix *matrix;      // NULL unless the files are a sequence
    const score_table *datasets;  // per-dataset scores, at least one dataset
} score_report;

void report_json(FILE *fp, const score_report *r);
void report_markdown(FILE *fp, const score_report *r);

#endif
