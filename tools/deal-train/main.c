// deal-train: a tokens stream -> a LoRA adapter (PEFT format), or with --full
// a fine-tuned model. The continual methods plug in through lib/methods: a
// sequence of tasks is one call per task, each with --init the previous
// task's adapter.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/tokens.h"
#include "methods/registry.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/tokens_check.h"
#include "tokenizer/tokenizer.h"
#include "train/adapter.h"
#include "train/trainer.h"

static void usage(FILE *out) {
    fputs("usage: deal-train --model DIR --out ADAPTER [options] [FILE]\n"
          "Trains a LoRA adapter on a tokens stream (deal-tokenize) read from FILE or stdin,\n"
          "and writes it as a PEFT adapter folder (adapter_config.json, adapter_model.safetensors)\n"
          "with deal.json (method, task sequence) and what the method needs for the next task.\n"
          "A sequence of tasks is one call per task: task 1 without --init, then --init the\n"
          "previous task's adapter.\n"
          "\n"
          "  --model DIR          Hugging Face model folder (config.json + *.safetensors)\n"
          "  --device D           cpu (default) or cuda (builds with CUDA, on a machine with a GPU)\n"
          "  --bf16               the frozen weights' products in bf16 with fp32 accumulation,\n"
          "                       as under bf16 autocast: about 2x faster products on CPUs with\n"
          "                       AVX512-BF16; not with --full\n"
          "  --out DIR            the adapter to write (atomically; replaced if it exists)\n"
          "  --method NAME        continual method (default seqlora; task 1 is plain LoRA for all):\n"
          "                         seqlora  LoRA continuing --init, nothing against forgetting\n"
          "                         deal     DEAL over --init's factors (heat-kernel retention,\n"
          "                                  rank-space MLP update); saves the materialised A', B'\n"
          "                         inclora  a new LoRA block per task, earlier blocks frozen; saves\n"
          "                                  the stack as one LoRA of rank r*t (alpha*t)\n"
          "                         olora    inclora + O-LoRA's orthogonality loss (lr 1e-3, r 8)\n"
          "                         pertask  a fresh adapter per task (no --init); deal-predict\n"
          "                                  picks each record's adapter by task (an oracle)\n"
          "                         replay   seqlora + a buffer of earlier tasks' examples, kept\n"
          "                                  in the adapter folder (replay.msgpack.zst)\n"
          "  --init DIR           start from this adapter (ours or PEFT's) instead of a fresh one;\n"
          "                       its r, alpha and targets are used\n"
          "  --lora-r R           rank (default 16 for T5, 32 for LLaMA; olora 8)\n"
          "  --lora-alpha A       scale numerator, s = alpha / r (default 32)\n"
          "  --lora-dropout P     dropout on the LoRA input (default 0.1)\n"
          "  --targets a,b        module names to adapt (default q,v for T5, q_proj,v_proj for LLaMA)\n"
          "  --full               train every weight instead (no LoRA); --out gets a model folder\n"
          "  --lr X               AdamW learning rate, constant (default 1e-5; olora 1e-3)\n"
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
          "DEAL (docs/deal-method.md):\n"
          "  --retention K        heat (default), haar or none\n"
          "  --kernels J          heat kernels (default 4)\n"
          "  --update K           mlp (default) or none\n"
          "  --mlp-hidden N       the update MLP's hidden size (default max(128, r/2))\n"
          "  --branches LIST      factors to transform: A, B or A,B (default A,B)\n"
          "  --deal-train-factors also train the previous task's factors themselves\n"
          "  --lambda1 X          weight of ||theta1||_a (default 0.01; olora: of the\n"
          "                       orthogonality loss, default 0.5)\n"
          "  --lambda2 X          weight of ||theta2||_b (default 0.001; olora: of |A|_2 + |B|_2,\n"
          "                       default 0)\n"
          "  --norm-a A           the norm of theta1 (default 10); must be >= --norm-b\n"
          "  --norm-b B           the norm of theta2 (default 2)\n"
          "  --reg-power          raise the norms to their powers (Eq. 12 read literally)\n"
          "replay:\n"
          "  --replay-fraction X  share of this task's examples added to the buffer (default 0.02)\n"
          "  --help               this text\n",
          out);
}

typedef struct {
    const char *model_dir, *device, *out, *input, *targets, *log;
    int full, resume, bf16;
    method_options m;
    train_options t;
} options;

static float parse_float(const char *option, const char *s, float min, float max) {
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end || !(v >= min && v <= max)) die("%s: expected a number from %g to %g, got \"%s\"", option, min, max, s);
    return v;
}

static char **split_list(const char *s, int *n) {
    char *copy = xstrdup(s), **out = xmalloc((strlen(s) + 1) * sizeof *out);
    *n = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) out[(*n)++] = xstrdup(tok);
    free(copy);
    if (*n == 0) die("--targets: empty list");
    return out;
}

static int parse_choice(const char *option, const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    die("%s: unknown choice \"%s\"", option, s);
}

static void parse_branches(const char *s, deal_options *d) {
    d->branch_a = d->branch_b = 0;
    if (strcmp(s, "A") == 0) d->branch_a = 1;
    else if (strcmp(s, "B") == 0) d->branch_b = 1;
    else if (strcmp(s, "A,B") == 0 || strcmp(s, "B,A") == 0) d->branch_a = d->branch_b = 1;
    else die("--branches: expected A, B or A,B, got \"%s\"", s);
}

static options parse(int argc, char **argv) {
    options o = {.input = "-",
                 .device = "cpu",
                 .m = {.alpha = 32, .dropout = 0.1f, .lambda1 = NAN, .lambda2 = NAN, .deal = deal_defaults,
                       .replay_fraction = 0.02},
                 .t = {.lr = NAN, .max_grad_norm = 1.0f, .batch = 8, .accum = 4, .epochs = 1, .seed = 1}};
    const char *method = "seqlora";
    static const char *const retentions[] = {"heat", "haar", "none"}, *const updates[] = {"none", "mlp"};
    enum { MODEL = 256, OUT, INIT, R, ALPHA, DROPOUT, TARGETS, FULL, LR, WD, BATCH, ACCUM, EPOCHS, CLIP, SEED, LOG,
           SAVE_EVERY, RESUME, STOP_AFTER, METHOD, RETENTION, KERNELS, UPDATE, MLP_HIDDEN, BRANCHES, TRAIN_FACTORS,
           LAMBDA1, LAMBDA2, NORM_A, NORM_B, REG_POWER, REPLAY_FRACTION, DEVICE, BF16 };
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
        {"stop-after", required_argument, 0, STOP_AFTER}, {"method", required_argument, 0, METHOD},
        {"retention", required_argument, 0, RETENTION}, {"kernels", required_argument, 0, KERNELS},
        {"update", required_argument, 0, UPDATE}, {"mlp-hidden", required_argument, 0, MLP_HIDDEN},
        {"branches", required_argument, 0, BRANCHES}, {"deal-train-factors", no_argument, 0, TRAIN_FACTORS},
        {"lambda1", required_argument, 0, LAMBDA1}, {"lambda2", required_argument, 0, LAMBDA2},
        {"norm-a", required_argument, 0, NORM_A},   {"norm-b", required_argument, 0, NORM_B},
        {"reg-power", no_argument, 0, REG_POWER},   {"replay-fraction", required_argument, 0, REPLAY_FRACTION},
        {"device", required_argument, 0, DEVICE},   {"bf16", no_argument, 0, BF16},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case MODEL: o.model_dir = optarg; break;
        case DEVICE: o.device = optarg; break;
        case BF16: o.bf16 = 1; break;
        case OUT: o.out = optarg; break;
        case INIT: o.m.init = optarg; break;
        case R: o.m.r = (int)parse_long_option("--lora-r", optarg, 1, 4096); break;
        case ALPHA: o.m.alpha = parse_float("--lora-alpha", optarg, 1e-6f, 1e6f); break;
        case DROPOUT: o.m.dropout = parse_float("--lora-dropout", optarg, 0, 0.99f); break;
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
        case METHOD: method = optarg; break;
        case RETENTION: o.m.deal.retention = (deal_retention)parse_choice("--retention", optarg, retentions, 3); break;
        case KERNELS: o.m.deal.kernels = (int)parse_long_option("--kernels", optarg, 1, 64); break;
        case UPDATE: o.m.deal.mlp = parse_choice("--update", optarg, updates, 2); break;
        case MLP_HIDDEN: o.m.deal.mlp_hidden = (int)parse_long_option("--mlp-hidden", optarg, 1, 1 << 16); break;
        case BRANCHES: parse_branches(optarg, &o.m.deal); break;
        case TRAIN_FACTORS: o.m.deal.train_factors = 1; break;
        case LAMBDA1: o.m.lambda1 = parse_float("--lambda1", optarg, 0, 1e6f); break;
        case LAMBDA2: o.m.lambda2 = parse_float("--lambda2", optarg, 0, 1e6f); break;
        case NORM_A: o.m.deal.norm_a = parse_float("--norm-a", optarg, 1, 100); break;
        case NORM_B: o.m.deal.norm_b = parse_float("--norm-b", optarg, 1, 100); break;
        case REG_POWER: o.m.deal.reg_power = 1; break;
        case REPLAY_FRACTION: o.m.replay_fraction = parse_float("--replay-fraction", optarg, 1e-6f, 1); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(EXIT_BAD_INPUT);
        }
    }
    if (optind < argc - 1) die("expected at most one input FILE (try --help)");
    if (optind == argc - 1) o.input = argv[optind];
    if (!o.model_dir || !o.out) die("--model DIR and --out DIR are required (try --help)");
    o.m.kind = method_find(method);
    if (o.full && (o.m.init || o.targets || o.m.r || strcmp(method, "seqlora") != 0))
        die("--full trains every weight: no --init, --targets, --lora-r or --method");
    if (isnan(o.t.lr)) o.t.lr = o.m.kind->lr;
    o.m.seed = o.t.seed;
    if (o.targets) o.m.targets = split_list(o.targets, &o.m.n_targets);
    return o;
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
    model *m = model_load(o.model_dir, backend_for_device(o.device));
    tokenizer *tok = tokens_check_model(&data.h, m, o.model_dir, strcmp(o.input, "-") ? o.input : "stdin");
    if (tok) tokenizer_free(tok);

    lora_config lc = {0};
    adapter_record rec = {0};
    method *me;
    if (o.full) {
        model_train_all_weights(m);
        me = method_lora(m);
    } else {
        o.m.task = data.h.task;
        me = method_start(m, &o.m, &lc, &rec);
        if (me->prepare_data) me->prepare_data(me, &data);
    }
    if (o.bf16) model_use_bf16(m);

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
        else method_save(me, m, &lc, &rec, o.model_dir, o.out);
        remove_tree(ckpt);
    }
    me->free(me);
    lora_config_free(&lc);
    record_free(&rec);
    for (int i = 0; i < o.m.n_targets; i++) free(o.m.targets[i]);
    free(o.m.targets);
    model_free(m);
    token_set_free(&data);
    free(log), free(ckpt);
    return 0;
}
