// deal-report: the human report of a benchmark run folder (report.md with a
// training-loss chart), or the comparison of several runs. See
// lib/eval/run_report.h for what a run folder holds.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "eval/run_report.h"

static void usage(FILE *fp) {
    fputs("usage: deal-report run OUT\n"
          "       deal-report compare OUT... --out FILE.md\n"
          "Reports on benchmark runs, each a folder OUT as the pipelines leave it\n"
          "(pipelines/common.mk): scores.json (deal-score --sequence, required),\n"
          "matrix.svg, run.json, logs/<i>-<task>.jsonl (deal-train --log) and times.tsv;\n"
          "missing optional parts are left out of the report with a note.\n"
          "\n"
          "  run OUT        write OUT/report.md: the run's command, machine and date, the\n"
          "                 accuracy matrix, AA, BWT, forgetting, per-dataset scores, the\n"
          "                 heat map, the training loss of every task (OUT/loss.svg),\n"
          "                 training speed and the run time per phase\n"
          "  compare OUT... one row per run (AA, BWT, forgetting, final accuracy per task,\n"
          "                 training time) and a bar chart of AA and BWT, FILE.svg\n"
          "  --out FILE.md  where compare writes (the chart goes beside it)\n"
          "  -h, --help     this help\n",
          fp);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-report");
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    opterr = 0;  // our own messages, with the tool's name
    for (int c; (c = getopt_long(argc, argv, ":h", options, NULL)) != -1;) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        case ':': die("option %s needs a value (see --help)", argv[optind - 1]);
        default: die("unknown option %s (see --help)", argv[optind - 1]);
        }
    }
    if (optind == argc) die("no subcommand: run or compare (see --help)");
    const char *command = argv[optind];
    char **dirs = argv + optind + 1;
    int ndirs = argc - optind - 1;
    if (strcmp(command, "run") == 0) {
        if (ndirs != 1) die("run takes one run folder, not %d (see --help)", ndirs);
        if (out) die("--out is for compare; run writes OUT/report.md");
        run_report(dirs[0]);
    } else if (strcmp(command, "compare") == 0) {
        if (ndirs == 0) die("compare needs run folders (see --help)");
        if (!out) die("compare needs --out FILE.md");
        compare_report(dirs, ndirs, out);
    } else {
        die("unknown subcommand \"%s\": run or compare (see --help)", command);
    }
    return 0;
}
