// sequence.h: continual-learning scores over a sequence of tasks
// (deal-method.md, "Metrics"). Files of predictions made after training task
// 1, 2, ..., n give the accuracy matrix a[i][j] (accuracy on task i after
// training task j, i <= j), and from it
//   AA         = mean_i a[i][n]
//   BWT        = mean_{i<n} (a[i][n] - a[i][i])
//   forgetting = mean_{i<n} (max_{i<=j<n} a[i][j] - a[i][n])
// in percentage points. With one task, BWT and forgetting are 0: nothing has
// been learnt after it, so nothing can have been forgotten.
#ifndef DEAL_SEQUENCE_H
#define DEAL_SEQUENCE_H

#include "eval/score.h"

typedef struct {
    int n;         // tasks, one per file
    char **tasks;  // in training order
    double *a;     // n x n, a[i * n + j] in percent; NAN where j < i
} cl_matrix;

typedef struct {
    double aa, bwt, forgetting;
} cl_summary;

// Builds the matrix from per_file[j], the per-task scores of the predictions
// made after training step j (files[j] names it in errors), j < n.
// order: the training order (norder names), or NULL (norder 0) to infer it:
// the task trained at step j is the one task that file j holds and no
// earlier file does, and a file must add exactly one. With an order, files
// may also hold tasks trained later (evaluated ahead of time), which the
// matrix leaves out, but no task outside the order. Either way every file
// must cover every task trained up to it, so the matrix has no hole. Any
// violation dies naming the file and the task.
cl_matrix cl_matrix_build(const score_table *per_file, char *const *files, int n,
                          char *const *order, int norder);
void cl_matrix_free(cl_matrix *m);

// AA, BWT and forgetting of an n x n matrix (n >= 1) laid out as in cl_matrix;
// only the entries with j >= i are read.
cl_summary cl_summarize(const double *a, int n);

#endif
