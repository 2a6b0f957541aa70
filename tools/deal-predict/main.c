// deal-predict: tokens stream + model (+ adapter) -> predictions as JSON
// lines, one per record, in input order: greedy decoding with a KV cache.
// With several adapters (pertask), each record is decoded with the adapter
// whose deal.json names the record's task.
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "data/tokens.h"
#include "methods/record.h"
#include "model/model.h"
#include "model/tokens_check.h"
#include "train/adapter.h"

static void usage(FILE *out) {
    fputs("usage: deal-predict --model DIR [--adapter DIR]... [options] [FILE]\n"
          "Generates an answer for every record of a tokens stream (deal-tokenize) read from\n"
          "FILE or stdin and writes one JSON line per record, in input order:\n"
          "  {\"id\", \"task\", \"dataset\", \"split\", \"label\", \"prediction\"}\n"
          "(T5: the decoded output without special tokens; LLaMA: the generated\n"
          "continuation only).\n"
          "\n"
          "  --model DIR            Hugging Face model folder\n"
          "  --device D             cpu (default) or cuda (builds with CUDA, on a machine with a GPU)\n"
          "  --bf16                 the weights' products in bf16 with fp32 accumulation (faster\n"
          "                         on CPUs with AVX512-BF16; outputs may differ from fp32's)\n"
          "  --adapter DIR          a LoRA adapter (ours or PEFT's) to apply. Repeat it for\n"
          "                         pertask adapters: each record is then decoded with the\n"
          "                         adapter trained on its task (deal.json's \"task\"). That\n"
          "                         is an oracle: it needs each test record's task id\n"
          "  --batch N              examples decoded together (default 16)\n"
          "  --max-new-tokens N     generation limit (default 50)\n"
          "  -o, --output FILE      write to FILE atomically (default stdout)\n"
          "  --help                 this text\n",
          out);
}

#define MAX_ADAPTERS 256

static const token_set *by_len_data;
static int by_source_length(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = by_len_data->r[i].n_source, lj = by_len_data->r[j].n_source;
    return li != lj ? (li < lj ? 1 : -1) : (i > j) - (i < j);
}

// Decodes the records order[0..n) of data (longest sources first, so each
// batch holds similar lengths) into gen[i], n_gen[i] by record index.
static void generate(model *m, const token_set *data, size_t *order, size_t n, int batch_size, int max_new,
                     int32_t **gen, int *n_gen) {
    by_len_data = data;
    qsort(order, n, sizeof *order, by_source_length);
    batch b = {0};
    b.source = xmalloc((size_t)batch_size * sizeof *b.source);
    b.n_source = xmalloc((size_t)batch_size * sizeof *b.n_source);
    b.target = b.source;  // not read by generation
    b.n_target = xcalloc((size_t)batch_size, sizeof *b.n_target);
    int32_t **out = xmalloc((size_t)batch_size * sizeof *out);
    int *n_out = xmalloc((size_t)batch_size * sizeof *n_out);
    time_t start = time(NULL), last = start;
    for (size_t at = 0; at < n; at += (size_t)b.B) {
        b.B = (int)(n - at < (size_t)batch_size ? n - at : (size_t)batch_size);
        for (int i = 0; i < b.B; i++) {
            size_t k = order[at + (size_t)i];
            b.source[i] = data->r[k].source, b.n_source[i] = (int)data->r[k].n_source;
            out[i] = gen[k] = xmalloc((size_t)max_new * sizeof **gen);
        }
        model_generate(m, &b, max_new, (int)data->h.eos_id, out, n_out);
        for (int i = 0; i < b.B; i++) n_gen[order[at + (size_t)i]] = n_out[i];
        if (time(NULL) - last >= 5) {
            last = time(NULL);
            fprintf(stderr, "deal-predict: %zu/%zu examples, %.1f s\n", at + (size_t)b.B, n, difftime(last, start));
        }
    }
    free(out), free(n_out), free(b.source), free(b.n_source), free(b.n_target);
}

// Takes the LoRA branches off again (adapter_load's inverse).
static void unload_adapter(model *m) {
    for (int i = 0; i < m->n_linears; i++) {
        lora_factors *lo = m->linears[i]->lora;
        if (!lo) continue;
        m->be->release(lo->A), m->be->release(lo->B);
        free(lo);
        m->linears[i]->lora = NULL;
    }
}

// pertask: every record decoded with the adapter of its task.
static void generate_per_task(model *m, const token_set *data, char **adapters, int n_adapters, int batch_size,
                              int max_new, int32_t **gen, int *n_gen) {
    char **tasks = xmalloc((size_t)n_adapters * sizeof *tasks);
    for (int a = 0; a < n_adapters; a++) {
        adapter_record rec = record_read(adapters[a]);
        if (rec.n_tasks == 0) die("%s: no deal.json naming the adapter's task (needed with several --adapter)", adapters[a]);
        tasks[a] = xstrdup(rec.tasks[rec.n_tasks - 1]);
        for (int b = 0; b < a; b++)
            if (strcmp(tasks[a], tasks[b]) == 0) die("%s and %s are both adapters of task \"%s\"", adapters[b], adapters[a], tasks[a]);
        record_free(&rec);
    }
    int *which = xmalloc((data->n ? data->n : 1) * sizeof *which);
    for (size_t i = 0; i < data->n; i++) {
        which[i] = -1;
        for (int a = 0; a < n_adapters && which[i] < 0; a++)
            if (strcmp(data->r[i].task, tasks[a]) == 0) which[i] = a;
        if (which[i] < 0) die("record %zu (%s): no --adapter was trained on task \"%s\"", i + 1, data->r[i].id, data->r[i].task);
    }
    size_t *order = xmalloc((data->n ? data->n : 1) * sizeof *order);
    for (int a = 0; a < n_adapters; a++) {
        size_t n = 0;
        for (size_t i = 0; i < data->n; i++)
            if (which[i] == a) order[n++] = i;
        adapter_load(m, adapters[a]);
        generate(m, data, order, n, batch_size, max_new, gen, n_gen);
        unload_adapter(m);
        free(tasks[a]);
    }
    free(tasks), free(which), free(order);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-predict");
    const char *model_dir = NULL, *input = "-", *output = "-", *device = "cpu";
    char *adapters[MAX_ADAPTERS];
    int n_adapters = 0, batch_size = 16, max_new = 50, bf16 = 0, c;
    enum { MODEL = 256, ADAPTER, BATCH, MAX_NEW, DEVICE, BF16 };
    static const struct option opts[] = {
        {"model", required_argument, 0, MODEL}, {"adapter", required_argument, 0, ADAPTER},
        {"batch", required_argument, 0, BATCH}, {"max-new-tokens", required_argument, 0, MAX_NEW},
        {"output", required_argument, 0, 'o'},  {"device", required_argument, 0, DEVICE},
        {"bf16", no_argument, 0, BF16},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case MODEL: model_dir = optarg; break;
        case DEVICE: device = optarg; break;
        case BF16: bf16 = 1; break;
        case ADAPTER:
            if (n_adapters == MAX_ADAPTERS) die("at most %d --adapter", MAX_ADAPTERS);
            adapters[n_adapters++] = optarg;
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
    model *m = model_load(model_dir, backend_for_device(device));
    if (bf16) model_use_bf16(m);
    tokenizer *tok = tokens_check_model(&data.h, m, model_dir, src);
    if (!tok) die("%s: no tokenizer file to decode the predictions with", model_dir);

    size_t n = data.n;
    int32_t **gen = xmalloc((n ? n : 1) * sizeof *gen);
    int *n_gen = xmalloc((n ? n : 1) * sizeof *n_gen);
    if (n_adapters > 1) {
        generate_per_task(m, &data, adapters, n_adapters, batch_size, max_new, gen, n_gen);
    } else {
        if (n_adapters == 1) adapter_load(m, adapters[0]);
        size_t *order = xmalloc((n ? n : 1) * sizeof *order);
        for (size_t i = 0; i < n; i++) order[i] = i;
        generate(m, &data, order, n, batch_size, max_new, gen, n_gen);
        free(order);
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
    free(gen), free(n_gen);
    tokenizer_free(tok);
    model_free(m);
    token_set_free(&data);
    return 0;
}
