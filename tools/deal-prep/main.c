// deal-prep: benchmark or user data -> an examples stream of instruction
// prompts (design.md; the prompt is benchmarks.md's, see lib/data/tasks.c).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "data/example.h"
#include "data/source.h"
#include "data/tasks.h"
#include "stream/stream.h"

static void usage(FILE *out) {
    fputs("usage: deal-prep [--data DIR] TASK --split train|test|dev [options]\n"
          "       deal-prep --jsonl FILE --task NAME [--type TYPE] [--instruction TEXT] [options]\n"
          "Writes an examples stream (msgpack; see deal-cat) of instruction prompts.\n"
          "\n"
          "Benchmark data: DIR/<Type>/<TASK>/{train,test,dev,labels}.json, as in the\n"
          "CL_Benchmark folder of the DEAL authors' repository. DIR is --data, else\n"
          "$DEAL_DATA, else data/CL_Benchmark. TASK is one of: agnews dbpedia yahoo\n"
          "amazon yelp IMDB SST-2 MNLI RTE CB QQP BoolQA COPA MultiRC WiC (any case).\n"
          "User data: JSON lines {\"input\": ..., \"label\": ..., \"options\": [...]}.\n"
          "\n"
          "  --split S        train, test or dev (benchmark: required; JSON lines: a name, default train)\n"
          "  --limit N        keep a seeded sample of N records; 0 keeps all\n"
          "                   (default 1000 for train, 500 otherwise)\n"
          "  --seed S         seed of the sample (default 1): same seed, same records\n"
          "  --task NAME      task and dataset name of JSON-lines data\n"
          "  --type TYPE      task type shown in the prompt (default: the task name)\n"
          "  --instruction T  instruction line of JSON-lines prompts (default none)\n"
          "  -o, --output F   write to F atomically (default stdout)\n"
          "  -z, --zstd       compress the output with zstd\n"
          "  --help           this text\n",
          out);
}

typedef struct {
    const char *data_dir, *task, *split, *jsonl, *type, *instruction, *output;
    long limit;  // -1: the split's default
    unsigned long long seed;
    int zstd;
} options;

static options parse(int argc, char **argv) {
    options o = {.limit = -1, .seed = 1, .output = "-"};
    enum { DATA = 256, SPLIT, LIMIT, SEED, JSONL, TASK, TYPE, INSTRUCTION };
    static const struct option opts[] = {
        {"data", required_argument, 0, DATA},   {"split", required_argument, 0, SPLIT},
        {"limit", required_argument, 0, LIMIT}, {"seed", required_argument, 0, SEED},
        {"jsonl", required_argument, 0, JSONL}, {"task", required_argument, 0, TASK},
        {"type", required_argument, 0, TYPE},   {"instruction", required_argument, 0, INSTRUCTION},
        {"output", required_argument, 0, 'o'},  {"zstd", no_argument, 0, 'z'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "o:z", opts, NULL)) != -1) {
        switch (c) {
        case DATA: o.data_dir = optarg; break;
        case SPLIT: o.split = optarg; break;
        case LIMIT: o.limit = parse_long_option("--limit", optarg, 0, 1L << 40); break;
        case SEED: o.seed = (unsigned long long)parse_long_option("--seed", optarg, 0, 1L << 62); break;
        case JSONL: o.jsonl = optarg; break;
        case TASK: o.task = optarg; break;
        case TYPE: o.type = optarg; break;
        case INSTRUCTION: o.instruction = optarg; break;
        case 'o': o.output = optarg; break;
        case 'z': o.zstd = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(EXIT_BAD_INPUT);
        }
    }
    if (o.jsonl) {
        if (optind != argc) die("unexpected argument \"%s\" with --jsonl (name the task with --task)", argv[optind]);
        if (!o.task) die("--jsonl needs --task NAME");
        if (!o.split) o.split = "train";
    } else {
        if (optind != argc - 1) die("expected one TASK (try --help)");
        if (o.task || o.type || o.instruction) die("--task, --type and --instruction are for --jsonl data");
        o.task = argv[optind];
        if (!o.split) die("--split train|test|dev is required");
        if (strcmp(o.split, "train") && strcmp(o.split, "test") && strcmp(o.split, "dev"))
            die("--split: expected train, test or dev, got \"%s\"", o.split);
    }
    if (!o.data_dir) o.data_dir = getenv("DEAL_DATA") && *getenv("DEAL_DATA") ? getenv("DEAL_DATA") : "data/CL_Benchmark";
    return o;
}

// Writes the selected records of set as examples; options shown in the prompt
// are per record (JSON lines) or shared (benchmark labels).
static void write_examples(const options *o, const char *dataset, const char *type, const char *instruction,
                           char **shared_options, size_t n_shared, int show_options, labelled_set *set,
                           const char *source) {
    long limit = o->limit >= 0 ? o->limit : strcmp(o->split, "train") == 0 ? 1000 : 500;
    size_t k = limit == 0 || (size_t)limit > set->n ? set->n : (size_t)limit;
    char *salt = xasprintf("%s/%s", dataset, o->split);
    size_t *idx = sample_indices(set->n, k, o->seed, salt);

    stream_writer *w = stream_create(o->output, o->zstd);
    msgpack_packer *pk = stream_packer(w);
    examples_write_header(pk, dataset, o->split, source, (long long)k);
    for (size_t i = 0; i < k; i++) {
        labelled *l = &set->items[idx[i]];
        char **opts = l->options ? l->options : shared_options;
        size_t n_opts = l->options ? l->n_options : n_shared;
        example e = {.task = (char *)dataset, .dataset = (char *)dataset, .type = (char *)type,
                     .split = (char *)o->split, .target = l->label, .options = opts, .n_options = n_opts};
        e.id = xasprintf("%s-%s-%zu", dataset, o->split, l->number);
        e.prompt = prompt_build(type, dataset, instruction, opts, show_options ? n_opts : 0, l->text,
                                &e.passage_start, &e.passage_end);
        example_write(pk, &e);
        free(e.id);
        free(e.prompt);
    }
    stream_finish(w);
    free(idx);
    free(salt);
}

static void prep_benchmark(const options *o) {
    const benchmark_task *t = benchmark_task_find(o->task);
    if (!t) die("unknown task \"%s\" (try --help for the list, or --jsonl for your own data)", o->task);
    char *dir = xasprintf("%s/%s/%s", o->data_dir, t->type, t->dataset);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        die("%s: no such folder (point --data or DEAL_DATA at the CL_Benchmark folder; see the README)", dir);
    char *labels_path = xasprintf("%s/labels.json", dir);
    char *split_path = xasprintf("%s/%s.json", dir, o->split);
    size_t n_labels;
    char **labels = load_labels(labels_path, &n_labels);
    labelled_set set = load_benchmark_split(split_path, labels, n_labels);
    if (set.unlabelled)
        warn("%s: %zu records labelled \"-\" (no gold label) left out", split_path, set.unlabelled);
    if (set.n == 0) die("%s: no labelled records", split_path);
    const char *instruction = type_instruction(t->type);
    // COPA's prompt has neither an instruction nor an option line.
    write_examples(o, t->dataset, t->type, instruction, labels, n_labels, instruction != NULL, &set, "CL_Benchmark");
    labelled_set_free(&set);
    free_strs(labels, n_labels);
    free(split_path), free(labels_path), free(dir);
}

static void prep_jsonl(const options *o) {
    labelled_set set = load_jsonl(o->jsonl);
    char *instruction = NULL;
    if (o->instruction) {
        size_t n = strlen(o->instruction);
        instruction = xasprintf("%s%s", o->instruction, n && o->instruction[n - 1] == '\n' ? "" : "\n");
    }
    write_examples(o, o->task, o->type ? o->type : o->task, instruction, NULL, 0, 1, &set, "jsonl");
    free(instruction);
    labelled_set_free(&set);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-prep");
    options o = parse(argc, argv);
    if (o.jsonl) prep_jsonl(&o);
    else prep_benchmark(&o);
    return 0;
}
