// deal-tokenize: examples stream -> tokens stream (design.md), plus plain
// --encode / --decode for checking against other tokenizers, and
// --train-vocab to make a SentencePiece model from a stream's text.
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/example.h"
#include "data/tokens.h"
#include "model/config.h"
#include "stream/stream.h"
#include "tokenizer/fit.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *out) {
    fputs("usage: deal-tokenize (--model DIR | --tokenizer PATH) [options] [FILE]\n"
          "       deal-tokenize --tokenizer PATH --encode|--decode [FILE]\n"
          "       deal-tokenize --train-vocab N --out FILE.model [FILE]\n"
          "Reads an examples stream (deal-prep) from FILE or stdin and writes a tokens stream.\n"
          "\n"
          "  --model DIR        a model folder: its spiece.model, tokenizer.json or\n"
          "                     tokenizer.model, and config.json's model_type for the convention\n"
          "  --tokenizer PATH   a SentencePiece .model or a Hugging Face tokenizer.json (byte-level BPE)\n"
          "  --convention C     t5: source = prompt + </s>, target = label + </s>, decoder starts at pad;\n"
          "                     llama: source = <|begin_of_text|> + prompt, target = label + eos\n"
          "                     (default: t5 for SentencePiece, llama for BPE, or the model's type)\n"
          "  --max-source N     source length limit in tokens, special tokens included (default 512);\n"
          "                     longer prompts lose the end of their passage, never the instruction or Answer:\n"
          "  --max-target N     target length limit, eos included (default 50)\n"
          "  --encode           JSON strings, one a line -> JSON arrays of ids (no special tokens)\n"
          "  --decode           JSON arrays of ids -> JSON strings\n"
          "  --skip-special     with --decode: leave out special tokens\n"
          "  --train-vocab N    train a SentencePiece unigram model of N pieces on the stream's\n"
          "                     prompts and targets; write it to --out\n"
          "  -o, --output F     write to F atomically (default stdout); --out is the same\n"
          "  -z, --zstd         compress the output stream with zstd\n"
          "  --help             this text\n",
          out);
}

typedef struct {
    const char *model_dir, *tokenizer_path, *convention, *output, *input;
    long max_source, max_target, train_vocab;
    int encode, decode, skip_special, zstd;
} options;

static options parse(int argc, char **argv) {
    options o = {.max_source = 512, .max_target = 50, .output = "-", .input = "-"};
    enum { MODEL = 256, TOKENIZER, CONVENTION, MAX_SOURCE, MAX_TARGET, ENCODE, DECODE, SKIP_SPECIAL, TRAIN_VOCAB };
    static const struct option opts[] = {
        {"model", required_argument, 0, MODEL},
        {"tokenizer", required_argument, 0, TOKENIZER},
        {"convention", required_argument, 0, CONVENTION},
        {"max-source", required_argument, 0, MAX_SOURCE},
        {"max-target", required_argument, 0, MAX_TARGET},
        {"encode", no_argument, 0, ENCODE},
        {"decode", no_argument, 0, DECODE},
        {"skip-special", no_argument, 0, SKIP_SPECIAL},
        {"train-vocab", required_argument, 0, TRAIN_VOCAB},
        {"output", required_argument, 0, 'o'},
        {"out", required_argument, 0, 'o'},
        {"zstd", no_argument, 0, 'z'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "o:z", opts, NULL)) != -1) {
        switch (c) {
        case MODEL: o.model_dir = optarg; break;
        case TOKENIZER: o.tokenizer_path = optarg; break;
        case CONVENTION: o.convention = optarg; break;
        case MAX_SOURCE: o.max_source = parse_long_option("--max-source", optarg, 2, 1L << 20); break;
        case MAX_TARGET: o.max_target = parse_long_option("--max-target", optarg, 1, 1L << 20); break;
        case ENCODE: o.encode = 1; break;
        case DECODE: o.decode = 1; break;
        case SKIP_SPECIAL: o.skip_special = 1; break;
        case TRAIN_VOCAB: o.train_vocab = parse_long_option("--train-vocab", optarg, 8, 1L << 22); break;
        case 'o': o.output = optarg; break;
        case 'z': o.zstd = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(EXIT_BAD_INPUT);
        }
    }
    if (optind < argc - 1) die("expected at most one input FILE (try --help)");
    if (optind == argc - 1) o.input = argv[optind];
    if (o.encode + o.decode + (o.train_vocab > 0) > 1) die("--encode, --decode and --train-vocab exclude each other");
    if (o.train_vocab) {
        if (!strcmp(o.output, "-")) die("--train-vocab needs --out FILE.model");
    } else if (!o.model_dir == !o.tokenizer_path) {
        die("give one of --model DIR or --tokenizer PATH");
    }
    return o;
}

// The tokenizer file of a model folder and, from its config, the convention.
static char *model_tokenizer(const char *dir, const char **conv_name) {
    model_config c = config_load(dir);
    if (!*conv_name) *conv_name = c.arch == ARCH_T5 ? "t5" : "llama";
    char *path = tokenizer_path_in(dir);
    if (!path) die("%s: no spiece.model, tokenizer.json or tokenizer.model", dir);
    return path;
}

static void put_json_line(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    puts(s);
    free(s);
    json_decref(j);
}

// --encode and --decode: one JSON value per input line.
static void encode_decode_lines(const options *o, const tokenizer *t) {
    size_t len;
    char *data = read_file(o->input, &len);
    const char *src = strcmp(o->input, "-") ? o->input : "stdin";
    size_t number = 0;
    for (char *line = data, *next; line < data + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        next = nl ? nl + 1 : data + len;
        number++;
        json_error_t err;
        json_t *v = json_loadb(line, (size_t)(next - line), JSON_DECODE_ANY, &err);
        if (!v) die("%s: line %zu: %s", src, number, err.text);
        if (o->encode) {
            if (!json_is_string(v)) die("%s: line %zu: expected a JSON string", src, number);
            size_t n;
            int32_t *ids = tokenizer_encode(t, json_string_value(v), json_string_length(v), &n);
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
            put_json_line(a);
            free(ids);
        } else {
            if (!json_is_array(v)) die("%s: line %zu: expected a JSON array of ids", src, number);
            size_t n = json_array_size(v);
            int32_t *ids = xmalloc(n * sizeof *ids);
            for (size_t i = 0; i < n; i++) {
                json_t *x = json_array_get(v, i);
                json_int_t id = json_is_integer(x) ? json_integer_value(x) : -1;
                if (id < 0 || id >= tokenizer_vocab_size(t))
                    die("%s: line %zu: element %zu is not an id of this vocabulary", src, number, i);
                ids[i] = (int32_t)id;
            }
            char *text = tokenizer_decode(t, ids, n, o->skip_special);
            put_json_line(json_string(text));
            free(text);
            free(ids);
        }
        json_decref(v);
    }
    free(data);
    if (fflush(stdout) != 0) die("stdout: write error");
}

static void train_vocab(const options *o) {
    stream_reader *r = stream_open(o->input, "examples");
    size_t n = 0, cap = 0;
    char **texts = NULL;
    for (example e; example_read(r, &e); example_free(&e)) {
        if (n + 2 > cap) texts = xrealloc(texts, (cap = cap ? 2 * cap : 1024) * sizeof *texts);
        texts[n++] = xstrdup(e.prompt);
        texts[n++] = xstrdup(e.target);
    }
    if (n == 0) stream_die(r, "no examples to train a vocabulary on");
    stream_close(r);
    tokenizer_train_sentencepiece(texts, n, (int)o->train_vocab, o->output);
    free_strs(texts, n);
}

static tokens_header make_header(const options *o, const tokenizer *t, const char *conv_name,
                                 const stream_reader *r) {
    tokens_header h = {0};
    h.conv = strcmp(tokenizer_type(t), "sentencepiece") == 0 ? CONVENTION_T5 : CONVENTION_LLAMA;
    if (conv_name && !convention_parse(conv_name, &h.conv)) die("--convention: expected t5 or llama, got \"%s\"", conv_name);
    h.task = field_str_req(r, stream_header(r), "task");
    h.split = field_str_req(r, stream_header(r), "split");
    h.tokenizer_type = xstrdup(tokenizer_type(t));
    h.tokenizer_fingerprint = xasprintf("%016" PRIx64, tokenizer_fingerprint(t));
    h.vocab_size = tokenizer_vocab_size(t);
    h.bos_id = tokenizer_bos_id(t);
    h.eos_id = tokenizer_eos_id(t);
    h.pad_id = tokenizer_pad_id(t);
    h.decoder_start_id = h.conv == CONVENTION_T5 ? h.pad_id : -1;
    h.max_source = o->max_source;
    h.max_target = o->max_target;
    if (h.eos_id < 0) die("the tokenizer has no end-of-sequence token");
    if (h.conv == CONVENTION_T5 && h.pad_id < 0) die("the t5 convention needs a pad token (the decoder start)");
    return h;
}

static void tokenize_stream(const options *o, const tokenizer *t, const char *conv_name) {
    stream_reader *r = stream_open(o->input, "examples");
    tokens_header h = make_header(o, t, conv_name, r);
    stream_writer *w = stream_create(o->output, o->zstd);
    msgpack_packer *pk = stream_packer(w);
    tokens_write_header(pk, &h);

    // The source's special tokens: llama puts bos before the prompt, t5 puts eos after it.
    int32_t before = h.conv == CONVENTION_LLAMA ? (int32_t)h.bos_id : -1;
    int32_t after = h.conv == CONVENTION_T5 ? (int32_t)h.eos_id : -1;
    size_t budget = (size_t)h.max_source - (before >= 0) - (after >= 0);
    size_t n_truncated = 0, n_records = 0;
    for (example e; example_read(r, &e); example_free(&e), n_records++) {
        token_record tr = {.id = e.id, .task = e.task, .dataset = e.dataset, .split = e.split, .label = e.target};
        size_t n;
        int32_t *ids = encode_to_fit(t, e.prompt, e.passage_start, e.passage_end, budget, &n, &tr.truncated);
        if (!ids) stream_die(r, "the prompt without its passage is longer than --max-source %ld tokens", o->max_source);
        tr.source = xmalloc((n + 2) * sizeof *tr.source);
        if (before >= 0) tr.source[tr.n_source++] = before;
        memcpy(tr.source + tr.n_source, ids, n * sizeof *ids);
        tr.n_source += n;
        if (after >= 0) tr.source[tr.n_source++] = after;
        free(ids);

        int32_t *label = tokenizer_encode(t, e.target, strlen(e.target), &n);
        if (n > (size_t)h.max_target - 1) n = (size_t)h.max_target - 1;
        tr.n_target = n + 1;
        tr.target = xmalloc(tr.n_target * sizeof *tr.target);
        memcpy(tr.target, label, n * sizeof *label);
        tr.target[n] = (int32_t)h.eos_id;
        free(label);

        token_record_write(pk, &tr);
        n_truncated += tr.truncated;
        free(tr.source);
        free(tr.target);
    }
    stream_finish(w);
    if (n_truncated)
        warn("%s: %zu of %zu prompts had their passage shortened to fit --max-source %ld", stream_source(r),
             n_truncated, n_records, o->max_source);
    stream_close(r);
    tokens_header_free(&h);
}

int main(int argc, char **argv) {
    deal_set_tool("deal-tokenize");
    options o = parse(argc, argv);
    if (o.train_vocab) {
        train_vocab(&o);
        return 0;
    }
    const char *conv_name = o.convention;
    char *path = o.model_dir ? model_tokenizer(o.model_dir, &conv_name) : xstrdup(o.tokenizer_path);
    tokenizer *t = tokenizer_load(path);
    if (o.encode || o.decode) encode_decode_lines(&o, t);
    else tokenize_stream(&o, t, conv_name);
    tokenizer_free(t);
    free(path);
    return 0;
}
