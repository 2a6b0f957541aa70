// deal-predict: tokens stream + model (+ adapter) -> predictions as JSON
// lines, one per record, in input order: greedy decoding with a KV cache.
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "data/tokens.h"
#include "model/model.h"
#include "model/tokens_check.h"
#include "train/adapter.h"

static void usage(FILE *out) {
    fputs("usage: deal-predict --model DIR [--adapter DIR] [options] [FILE]\n"
          "Generates an answer for every record of a tokens stream (deal-tokenize) read from\n"
          "FILE or stdin and writes one JSON line per record, in input order:\n"
          "  {\"id\", \"task\", \"dataset\", \"split\", \"label\", \"prediction\"}\n"
          "(T5: the decoded output without special tokens; LLaMA: the generated\n"
          "continuation only).\n"
          "\n"
          "  --model DIR            Hugging Face model folder\n"
          "  --adapter DIR          a LoRA adapter (ours or PEFT's) to apply\n"
          "  --batch N              examples decoded together (default 16)\n"
          "  --max-new-tokens N     generation limit (default 50)\n"
          "  -o, --output FILE      write to FILE atomically (default stdout)\n"
          "  --help                 this text\n",
          out);
}

static const token_set *by_len_data;
static int by_source_length(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = by_len_data->r[i].n_source, lj = by_len_data->r[j].n_source;
    return li != lj ? (li < lj ? 1 : -1) : (i > j) - (i < j);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-predict");
    const char *model_dir = NULL, *adapter = NULL, *input = "-", *output = "-";
    int batch_size = 16, max_new = 50, c;
    enum { MODEL = 256, ADAPTER, BATCH, MAX_NEW };
    static const struct option opts[] = {
        {"model", required_argument, 0, MODEL}, {"adapter", required_argument, 0, ADAPTER},
        {"batch", required_argument, 0, BATCH}, {"max-new-tokens", required_argument, 0, MAX_NEW},
        {"output", required_argument, 0, 'o'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case MODEL: model_dir = optarg; break;
        case ADAPTER:
            if (adapter) die("one --adapter at a time");
            adapter = optarg;
            break;
        case BATCH: batch_size = (int)parse_long_option("--batch", optarg, 1, 4096); break;
        case MAX_NEW: max_new = (int)parse_long_option("--max-new-tokens", optarg, 1, 1 << 16); break;
        case 'o': output = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (optind < argc - 1) die("expected at most one input FILE (try --help)");
    if (optind == argc - 1) input = argv[optind];
    if (!model_dir) die("--model DIR is required (try --help)");

    const char *src = strcmp(input, "-") ? input : "stdin";
    token_set data = token_set_read(input);
    model *m = model_load(model_dir, backend_cpu());
    tokenizer *tok = tokens_check_model(&data.h, m, model_dir, src);
    if (!tok) die("%s: no tokenizer file to decode the predictions with", model_dir);
    if (adapter) adapter_load(m, adapter);

    // Longest sources first, so each batch holds similar lengths.
    size_t n = data.n, *order = xmalloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = i;
    by_len_data = &data;
    qsort(order, n, sizeof *order, by_source_length);
    int32_t **gen = xmalloc((n ? n : 1) * sizeof *gen);
    int *n_gen = xmalloc((n ? n : 1) * sizeof *n_gen);
    batch b = {0};
    b.source = xmalloc((size_t)batch_size * sizeof *b.source);
    b.n_source = xmalloc((size_t)batch_size * sizeof *b.n_source);
    b.target = b.source;  // not read by generation
    b.n_target = xcalloc((size_t)batch_size, sizeof *b.n_target);
    time_t start = time(NULL), last = start;
    for (size_t at = 0; at < n; at += (size_t)b.B) {
        b.B = (int)(n - at < (size_t)batch_size ? n - at : (size_t)batch_size);
        for (int i = 0; i < b.B; i++) {
            const token_record *r = &data.r[order[at + (size_t)i]];
            b.source[i] = r->source, b.n_source[i] = (int)r->n_source;
            gen[order[at + (size_t)i]] = xmalloc((size_t)max_new * sizeof **gen);
        }
        int32_t **out = xmalloc((size_t)b.B * sizeof *out);
        int *n_out = xmalloc((size_t)b.B * sizeof *n_out);
        for (int i = 0; i < b.B; i++) out[i] = gen[order[at + (size_t)i]];
        model_generate(m, &b, max_new, (int)data.h.eos_id, out, n_out);
        for (int i = 0; i < b.B; i++) n_gen[order[at + (size_t)i]] = n_out[i];
        free(out), free(n_out);
        if (time(NULL) - last >= 5) {
            last = time(NULL);
            fprintf(stderr, "deal-predict: %zu/%zu examples, %.1f s\n", at + (size_t)b.B, n, difftime(last, start));
        }
    }

    atomic_file f = atomic_open(output);
    for (size_t i = 0; i < n; i++) {
        const token_record *r = &data.r[i];
        char *text = tokenizer_decode(tok, gen[i], (size_t)n_gen[i], true);
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(r->id));
        json_object_set_new(j, "task", json_string(r->task));
        json_object_set_new(j, "dataset", json_string(r->dataset));
        json_object_set_new(j, "split", json_string(r->split));
        json_object_set_new(j, "label", json_string(r->label));
        json_object_set_new(j, "prediction", json_string(text));
        json_object_set_new(j, "generated_tokens", json_integer(n_gen[i]));
        char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(f.fp, "%s\n", line);
        free(line), free(text), free(gen[i]);
        json_decref(j);
    }
    atomic_commit(&f);
    free(gen), free(n_gen), free(order), free(b.source), free(b.n_source), free(b.n_target);
    tokenizer_free(tok);
    model_free(m);
    token_set_free(&data);
    return 0;
}
