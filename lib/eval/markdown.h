// markdown.h: the Markdown pieces deal-score's and deal-report's reports share.
#ifndef DEAL_MARKDOWN_H
#define DEAL_MARKDOWN_H

#include <stdio.h>

#include "eval/sequence.h"

// s as a table cell: '|' would end the cell, so it is escaped.
void md_cell(FILE *fp, const char *s);

// The accuracy matrix of a sequence (a row per task, a column per task
// trained; blank above the diagonal) and its AA / BWT / forgetting, as two
// tables with a sentence before each.
void md_accuracy_matrix(FILE *fp, const cl_matrix *m);

#endif
