// deal-score: prediction files -> accuracy and ROUGE-1 per dataset, and for a
// sequence of files (after training task 1, ..., n) the accuracy matrix, AA,
// BWT and forgetting. See lib/eval/ for the definitions.
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/heatmap.h"
#include "eval/report.h"
#include "eval/score.h"
#include "eval/sequence.h"

static void usage(FILE *fp) {
    fputs("usage: deal-score [options] FILE...\n"
          "Scores prediction files (JSON lines from deal-predict: id, task, dataset, split,\n"
          "label, prediction). Accuracy is exact match after lower-casing, dropping ASCII\n"
          "punctuation and collapsing white space; ROUGE-1 is unigram F over stemmed\n"
          "[a-z0-9] tokens. Both in percent, per dataset and as a mean over datasets.\n"
          "\n"
          "  --sequence        the files are predictions after training task 1, 2, ..., n\n"
          "                    (in that order); also report the accuracy matrix (task i\n"
          "                    after task j), AA, BWT and forgetting, and per-dataset\n"
          "                    scores of the last file only. File j must cover every task\n"
          "                    trained so far; the task trained at step j is the one it\n"
          "                    adds. With one task, BWT and forgetting are 0.\n"
          "  --tasks A,B,...   the training order, instead of inferring it (with --sequence);\n"
          "                    files may then also hold tasks not trained yet (left out)\n"
          "  --markdown        Markdown tables instead of JSON\n"
          "  --out FILE        write the report to FILE (atomically) instead of stdout\n"
          "  --svg FILE        also write the accuracy matrix as an SVG heat map (with --sequence)\n"
          "  -h, --help        this help\n",
          fp);
}

// Splits a comma-separated list into fresh strings; empty names are refused.
static char **split_names(const char *list, int *n) {
    char *copy = xstrdup(list);
    char **names = xmalloc((strlen(list) / 2 + 1) * sizeof *names);
    *n = 0;
    for (char *p = copy, *end; p; p = end ? end + 1 : NULL) {
        end = strchr(p, ',');
        if (end) *end = '\0';
        if (!*p) die("--tasks: empty task name in \"%s\"", list);
        names[(*n)++] = xstrdup(p);
    }
    free(copy);
    return names;
}

int main(int argc, char **argv) {
    deal_set_tool("deal-score");
    enum { OPT_SEQUENCE = 256, OPT_TASKS, OPT_MARKDOWN, OPT_OUT, OPT_SVG };
    static const struct option options[] = {
        {"sequence", no_argument, NULL, OPT_SEQUENCE}, {"tasks", required_argument, NULL, OPT_TASKS},
        {"markdown", no_argument, NULL, OPT_MARKDOWN}, {"out", required_argument, NULL, OPT_OUT},
        {"svg", required_argument, NULL, OPT_SVG},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool sequence = false, markdown = false;
    const char *out = "-", *svg = NULL, *tasks = NULL;
    opterr = 0;  // our own messages, with the tool's name
    for (int c; (c = getopt_long(argc, argv, ":h", options, NULL)) != -1;) {
        switch (c) {
        case OPT_SEQUENCE: sequence = true; break;
        case OPT_TASKS: tasks = optarg; break;
        case OPT_MARKDOWN: markdown = true; break;
        case OPT_OUT: out = optarg; break;
        case OPT_SVG: svg = optarg; break;
        case 'h': usage(stdout); return 0;
        case ':': die("option %s needs a value (see --help)", argv[optind - 1]);
        default: die("unknown option %s (see --help)", argv[optind - 1]);
        }
    }
    char **files = argv + optind;
    int nfiles = argc - optind;
    if (nfiles == 0) die("no prediction files (see --help)");
    if ((tasks || svg) && !sequence) die("%s needs --sequence", tasks ? "--tasks" : "--svg");

    score_table datasets = {0};
    cl_matrix matrix = {0};
    if (sequence) {
        // Per-task scores of every file for the matrix; per-dataset ones of the last.
        score_table *per_file = xcalloc((size_t)nfiles, sizeof *per_file);
        for (int j = 0; j < nfiles; j++) score_file(files[j], &per_file[j], j == nfiles - 1 ? &datasets : NULL);
        int norder = 0;
        char **order = tasks ? split_names(tasks, &norder) : NULL;
        matrix = cl_matrix_build(per_file, files, nfiles, order, norder);
        for (int j = 0; j < nfiles; j++) score_table_free(&per_file[j]);
        free(per_file);
        for (int i = 0; i < norder; i++) free(order[i]);
        free(order);
    } else {
        for (int j = 0; j < nfiles; j++) score_file(files[j], NULL, &datasets);
    }

    if (svg) {
        atomic_file f = atomic_open(svg);
        heatmap_svg(f.fp, &matrix);
        atomic_commit(&f);
    }
    score_report report = {files, nfiles, sequence ? &matrix : NULL, &datasets};
    atomic_file f = atomic_open(out);
    if (markdown) report_markdown(f.fp, &report);
    else report_json(f.fp, &report);
    atomic_commit(&f);
    cl_matrix_free(&matrix);
    score_table_free(&datasets);
    return 0;
}
