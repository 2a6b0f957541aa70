// deal-cat: shows any deal stream (plain or zstd) as JSON lines.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "stream/stream.h"
#include "stream/to_json.h"

static void usage(FILE *out) {
    fputs("usage: deal-cat [--header] [--count] [FILE...]\n"
          "Prints each record of a deal stream (examples or tokens; plain or zstd)\n"
          "as one JSON object per line. FILE defaults to stdin (\"-\").\n"
          "  --header   print the header map first\n"
          "  --count    print only the number of records\n"
          "  --help     this text\n",
          out);
}

static void print_json(const stream_reader *r, const msgpack_object *o) {
    const char *why = "?";
    json_t *j = msgpack_to_json(o, &why);
    if (!j) stream_die(r, "cannot show as JSON: %s", why);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
    json_decref(j);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-cat");
    static const struct option opts[] = {
        {"header", no_argument, 0, 'H'}, {"count", no_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int show_header = 0, count_only = 0, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'H') show_header = 1;
        else if (c == 'c') count_only = 1;
        else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), EXIT_BAD_INPUT;
    }
    const char *stdin_only[] = {"-"};
    char *const *files = optind < argc ? argv + optind : (char *const *)stdin_only;
    int n_files = optind < argc ? argc - optind : 1;

    for (int f = 0; f < n_files; f++) {
        stream_reader *r = stream_open(files[f], NULL);
        if (show_header && !count_only) print_json(r, stream_header(r));
        size_t n = 0;
        for (const msgpack_object *rec; (rec = stream_next(r)); n++)
            if (!count_only) print_json(r, rec);
        if (count_only) printf("%zu\n", n);
        stream_close(r);
    }
    if (fflush(stdout) != 0) die("stdout: write error");
    return 0;
}
