// run_report.h: the human reports of benchmark runs (deal-report). A run
// folder, as the pipelines (pipelines/common.mk) leave it, holds
//   scores.json              deal-score --sequence's JSON report (required)
//   matrix.svg               its heat map (deal-score --svg)
//   run.json                 {"benchmark", "method", "model", "seed", "command",
//                             "machine", "date", "train_flags"}
//   logs/<i>-<task>.jsonl    deal-train's log of the i-th task (from 1): a start
//                            line {"start": true, "backend", "kernels", "examples", ...},
//                            then one line per optimizer step {"step", "loss",
//                            "tokens_per_s", "elapsed_s", ...}
//   times.tsv                "<phase>\t<name>\t<seconds>" per timed command
// Every part but scores.json may be missing: the report says so where it
// would have been. Anything malformed stops the tool with a message naming
// the file (and the line, in a log or times.tsv), before anything is written.
#ifndef DEAL_RUN_REPORT_H
#define DEAL_RUN_REPORT_H

// Writes DIR/report.md and, when there are logs, DIR/loss.svg (the training
// loss of every task), both atomically.
void run_report(const char *dir);

// Writes the comparison of n runs to out (Markdown: one row per run) and its
// bar chart of AA and BWT beside it, named as out with .svg for .md.
void compare_report(char *const *dirs, int n, const char *out);

#endif
