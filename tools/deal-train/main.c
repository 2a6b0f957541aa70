// deal-train: a tokens stream -> a LoRA adapter (PEFT format), or with --full
// a fine-tuned model. The continual methods plug in through lib/methods.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/tokens.h"
#include "methods/method.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/tokens_check.h"
#include "tokenizer/tokenizer.h"
#include "train/adapter.h"
#include "train/trainer.h"

static void usage(FILE *out) {
    fputs("usage: deal-train --model DIR --out ADAPTER [options] [FILE]\n"
          "Trains a LoRA adapter on a tokens stream (deal-tokenize) read from FILE or stdin,\n"
          "and writes it as a PEFT adapter folder (adapter_config.json, adapter_model.safetensors).\n"
          "\n"
          "  --model DIR          Hugging Face model folder (config.json + *.safetensors)\n"
          "  --out DIR            the adapter to write (atomically; replaced if it exists)\n"
          "  --init DIR           start from this adapter (ours or PEFT's) instead of a fresh one;\n"
          "                       its r, alpha and targets are used\n"
          "  --lora-r R           rank (default 16 for T5, 32 for LLaMA)\n"
          "  --lora-alpha A       scale numerator, s = alpha / r (default 32)\n"
          "  --lora-dropout P     dropout on the LoRA input (default 0.1)\n"
          "  --targets a,b        module names to adapt (default q,v for T5, q_proj,v_proj for LLaMA)\n"
          "  --full               train every weight instead (no LoRA); --out gets a model folder\n"
          "  --lr X               AdamW learning rate, constant (default 1e-5)\n"
          "  --weight-decay X     AdamW weight decay (default 0)\n"
          "  --batch N            examples per micro-batch (default 8)\n"
          "  --accum N            micro-batches per optimizer step (default 4)\n"
          "  --epochs N           passes over the data (default 1)\n"
          "  --max-grad-norm X    clip the gradient norm to X; 0: no clipping (default 1)\n"
          "  --seed S             seed of LoRA init, batch order and dropout (default 1)\n"
          "  --log FILE           training log, JSON lines (default OUT.log.jsonl)\n"
          "  --save-every N       checkpoint to OUT.ckpt every N optimizer steps (default 0: never)\n"
          "  --resume             continue from OUT.ckpt if it exists; ends with the same\n"
          "                       adapter as an uninterrupted run\n"
          "  --stop-after N       stop after N optimizer steps, leaving OUT.ckpt for --resume\n"
          "  --help               this text\n",
          out);
}

typedef struct {
    const char *model_dir, *out, *init, *input, *targets, *log;
    int lora_r, full, resume;
    float lora_alpha, lora_dropout;
    train_options t;
} options;

static float parse_float(const char *option, const char *s, float min, float max) {
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end || !(v >= min && v <= max)) die("%s: expected a number from %g to %g, got \"%s\"", option, min, max, s);
    return v;
}

static options parse(int argc, char **argv) {
    options o = {.lora_alpha = 32, .lora_dropout = 0.1f, .input = "-",
                 .t = {.lr = 1e-5f, .max_grad_norm = 1.0f, .batch = 8, .accum = 4, .epochs = 1, .seed = 1}};
    enum { MODEL = 256, OUT, INIT, R, ALPHA, DROPOUT, TARGETS, FULL, LR, WD, BATCH, ACCUM, EPOCHS, CLIP, SEED, LOG,
           SAVE_EVERY, RESUME, STOP_AFTER };
    static const struct option opts[] = {
        {"model", required_argument, 0, MODEL},     {"out", required_argument, 0, OUT},
        {"init", required_argument, 0, INIT},       {"lora-r", required_argument, 0, R},
        {"lora-alpha", required_argument, 0, ALPHA}, {"lora-dropout", required_argument, 0, DROPOUT},
        {"targets", required_argument, 0, TARGETS}, {"full", no_argument, 0, FULL},
        {"lr", required_argument, 0, LR},           {"weight-decay", required_argument, 0, WD},
        {"batch", required_argument, 0, BATCH},     {"accum", required_argument, 0, ACCUM},
        {"epochs", required_argument, 0, EPOCHS},   {"max-grad-norm", required_argument, 0, CLIP},
        {"seed", required_argument, 0, SEED},       {"log", required_argument, 0, LOG},
        {"save-every", required_argument, 0, SAVE_EVERY}, {"resume", no_argument, 0, RESUME},
        {"stop-after", required_argument, 0, STOP_AFTER},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case MODEL: o.model_dir = optarg; break;
        case OUT: o.out = optarg; break;
        case INIT: o.init = optarg; break;
        case R: o.lora_r = (int)parse_long_option("--lora-r", optarg, 1, 4096); break;
        case ALPHA: o.lora_alpha = parse_float("--lora-alpha", optarg, 1e-6f, 1e6f); break;
        case DROPOUT: o.lora_dropout = parse_float("--lora-dropout", optarg, 0, 0.99f); break;
        case TARGETS: o.targets = optarg; break;
        case FULL: o.full = 1; break;
        case LR: o.t.lr = parse_float("--lr", optarg, 0, 10); break;
        case WD: o.t.weight_decay = parse_float("--weight-decay", optarg, 0, 10); break;
        case BATCH: o.t.batch = (int)parse_long_option("--batch", optarg, 1, 1 << 16); break;
        case ACCUM: o.t.accum = (int)parse_long_option("--accum", optarg, 1, 1 << 16); break;
        case EPOCHS: o.t.epochs = (int)parse_long_option("--epochs", optarg, 1, 1 << 16); break;
        case CLIP: o.t.max_grad_norm = parse_float("--max-grad-norm", optarg, 0, 1e9f); break;
        case SEED: o.t.seed = (uint64_t)parse_long_option("--seed", optarg, 0, 1L << 62); break;
        case LOG: o.log = optarg; break;
        case SAVE_EVERY: o.t.save_every = parse_long_option("--save-every", optarg, 0, 1L << 40); break;
        case RESUME: o.resume = 1; break;
        case STOP_AFTER: o.t.stop_after = parse_long_option("--stop-after", optarg, 1, 1L << 40); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(EXIT_BAD_INPUT);
        }
    }
    if (optind < argc - 1) die("expected at most one input FILE (try --help)");
    if (optind == argc - 1) o.input = argv[optind];
    if (!o.model_dir || !o.out) die("--model DIR and --out DIR are required (try --help)");
    if (o.full && (o.init || o.targets || o.lora_r)) die("--full trains every weight: no --init, --targets or --lora-r");
    return o;
}

static char **split_list(const char *s, int *n) {
    char *copy = xstrdup(s), **out = xmalloc((strlen(s) + 1) * sizeof *out);
    *n = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) out[(*n)++] = xstrdup(tok);
    free(copy);
    if (*n == 0) die("--targets: empty list");
    return out;
}

static void copy_file(const char *src, const char *dst) {
    size_t len;
    char *data = read_file(src, &len);
    atomic_file f = atomic_open(dst);
    if (fwrite(data, 1, len, f.fp) != len) die("%s: write error", dst);
    atomic_commit(&f);
    free(data);
}

// --full: the whole model as a Hugging Face folder, with the base model's
// config and tokenizer.
static void save_model(const model *m, const char *from, const char *dir) {
    char *tmp = dir_begin(dir);
    char *src = xasprintf("%s/config.json", from), *dst = xasprintf("%s/config.json", tmp);
    copy_file(src, dst);
    free(src), free(dst);
    char *tok = tokenizer_path_in(from);
    if (tok) {
        dst = xasprintf("%s/%s", tmp, strrchr(tok, '/') + 1);
        copy_file(tok, dst);
        free(dst), free(tok);
    }
    st_writer *w = st_writer_new();
    for (int i = 0; i < m->n_params; i++) st_writer_add(w, m->params[i].name, m->params[i].data, m->params[i].shape, m->params[i].ndim);
    char *path = xasprintf("%s/model.safetensors", tmp);
    st_writer_write(w, path);
    free(path);
    dir_commit(tmp, dir);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-train");
    options o = parse(argc, argv);
    token_set data = token_set_read(o.input);
    if (data.n == 0) die("%s: no examples to train on", strcmp(o.input, "-") ? o.input : "stdin");
    model *m = model_load(o.model_dir, backend_cpu());
    tokenizer *tok = tokens_check_model(&data.h, m, o.model_dir, strcmp(o.input, "-") ? o.input : "stdin");
    if (tok) tokenizer_free(tok);

    lora_config lc = {0};
    rng init;
    rng_seed(&init, o.t.seed);
    if (o.full) {
        model_train_all_weights(m);
    } else if (o.init) {
        lc = adapter_read_config(o.init);
        lc.dropout = o.lora_dropout;
        adapter_load(m, o.init);
        for (int i = 0; i < m->n_linears; i++) {
            lora_factors *lo = m->linears[i]->lora;
            if (!lo) continue;
            lo->dropout = o.lora_dropout;
            lo->dA = m->be->alloc((size_t)lo->r * m->linears[i]->in);
            lo->dB = m->be->alloc((size_t)m->linears[i]->out * lo->r);
        }
    } else {
        int t5 = m->cfg.arch == ARCH_T5;
        lc.r = o.lora_r ? o.lora_r : t5 ? 16 : 32;
        lc.alpha = o.lora_alpha;
        lc.dropout = o.lora_dropout;
        lc.targets = split_list(o.targets ? o.targets : t5 ? "q,v" : "q_proj,v_proj", &lc.n_targets);
        model_add_lora(m, lc.r, lc.alpha, lc.dropout, lc.targets, lc.n_targets, &init);
    }
    method *me = method_lora(m);

    char *log = o.log ? xstrdup(o.log) : xasprintf("%s.log.jsonl", o.out);
    char *ckpt = xasprintf("%s.ckpt", o.out);
    o.t.log_path = log;
    o.t.checkpoint = ckpt;
    o.t.resume = o.resume;
    if (!train_run(m, me, &data, &o.t)) {
        fprintf(stderr, "deal-train: stopped after %ld steps; %s holds the state, continue with --resume\n",
                o.t.stop_after, ckpt);
    } else {
        if (o.full) save_model(m, o.model_dir, o.out);
        else adapter_save(m, &lc, o.model_dir, o.out, NULL, NULL);
        remove_tree(ckpt);
    }
    me->free(me);
    lora_config_free(&lc);
    model_free(m);
    token_set_free(&data);
    free(log), free(ckpt);
    return 0;
}
