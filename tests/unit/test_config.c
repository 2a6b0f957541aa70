// test_config.c: config.json of real models (T5 v1.0, T5 v1.1, Llama 3.1 with
// grouped-query attention and llama3 rope scaling, a small tied LLaMA), and
// broken variants that must stop with a message naming the file and the key.
#include <jansson.h>
#include <sys/stat.h>

#include "base/util.h"
#include "model/config.h"
#include "test.h"

static char dir[] = "/tmp/deal-test-config-XXXXXX";

// t5-small
static const char t5_small[] =
    "{\"architectures\": [\"T5ForConditionalGeneration\"], \"d_ff\": 2048, \"d_kv\": 64, \"d_model\": 512,"
    " \"decoder_start_token_id\": 0, \"dropout_rate\": 0.1, \"eos_token_id\": 1, \"initializer_factor\": 1.0,"
    " \"is_encoder_decoder\": true, \"layer_norm_epsilon\": 1e-06, \"model_type\": \"t5\", \"n_positions\": 512,"
    " \"num_heads\": 8, \"num_layers\": 6, \"output_past\": true, \"pad_token_id\": 0,"
    " \"relative_attention_num_buckets\": 32, \"vocab_size\": 32128}";

// google/t5-v1_1-small
static const char t5_v1_1_small[] =
    "{\"architectures\": [\"T5ForConditionalGeneration\"], \"d_ff\": 1024, \"d_kv\": 64, \"d_model\": 512,"
    " \"decoder_start_token_id\": 0, \"dropout_rate\": 0.1, \"eos_token_id\": 1, \"feed_forward_proj\": \"gated-gelu\","
    " \"initializer_factor\": 1.0, \"is_encoder_decoder\": true, \"layer_norm_epsilon\": 1e-06, \"model_type\": \"t5\","
    " \"num_decoder_layers\": 8, \"num_heads\": 6, \"num_layers\": 8, \"output_past\": true, \"pad_token_id\": 0,"
    " \"relative_attention_max_distance\": 128, \"relative_attention_num_buckets\": 32, \"tie_word_embeddings\": false,"
    " \"vocab_size\": 32128}";

// meta-llama/Llama-3.1-8B-Instruct
static const char llama31_8b[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"hidden_act\": \"silu\","
    " \"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\", \"num_attention_heads\": 32,"
    " \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05,"
    " \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
    " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0,"
    " \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"vocab_size\": 128256}";

// A small LLaMA (llama2.c's stories15M shape) with tied embeddings and the
// defaults left out: no head_dim, num_key_value_heads, rms_norm_eps or rope_theta.
static const char llama_tied[] =
    "{\"model_type\": \"llama\", \"hidden_size\": 288, \"intermediate_size\": 768, \"num_hidden_layers\": 6,"
    " \"num_attention_heads\": 6, \"max_position_embeddings\": 256, \"vocab_size\": 32000,"
    " \"tie_word_embeddings\": true, \"rope_scaling\": null, \"pad_token_id\": null, \"bos_token_id\": 1,"
    " \"eos_token_id\": 2}";

// Writes text as dir/name/config.json and returns the folder.
static char *config_dir(const char *name, const char *text) {
    char *d = xasprintf("%s/%s", dir, name);
    mkdir(d, 0700);
    char *path = xasprintf("%s/config.json", d);
    FILE *fp = fopen(path, "w");
    if (!fp || fputs(text, fp) == EOF || fclose(fp) != 0) die("cannot write %s", path);
    free(path);
    return d;
}

// base with key set to value (JSON text), or removed if value is NULL.
static char *variant(const char *base, const char *key, const char *value) {
    json_t *root = json_loads(base, 0, NULL);
    if (value)
        json_object_set_new(root, key, json_loads(value, JSON_DECODE_ANY, NULL));
    else
        json_object_del(root, key);
    char *text = json_dumps(root, 0);
    json_decref(root);
    return text;
}

static void test_t5_v1_0(void) {
    char *d = config_dir("t5-small", t5_small);
    model_config m = config_load(d);
    CHECK(m.arch == ARCH_T5);
    CHECK_STR(m.model_type, "t5");
    CHECK(m.vocab_size == 32128 && m.d_model == 512 && m.d_ff == 2048 && m.head_dim == 64);
    CHECK(m.n_layers == 6 && m.n_decoder_layers == 6 && m.n_heads == 8 && m.n_kv_heads == 8);
    CHECK(m.act == ACT_RELU && !m.gated && m.tie_word_embeddings);
    CHECK(m.rel_buckets == 32 && m.rel_max_distance == 128);
    CHECK_NEAR(m.norm_eps, 1e-6, 1e-12);
    CHECK(m.pad_id == 0 && m.eos_id == 1 && m.decoder_start_id == 0 && m.bos_id == -1);
    free(d);
}

static void test_t5_v1_1(void) {
    char *d = config_dir("t5-v1_1-small", t5_v1_1_small);
    model_config m = config_load(d);
    CHECK(m.arch == ARCH_T5);
    CHECK(m.d_model == 512 && m.d_ff == 1024 && m.head_dim == 64 && m.n_heads == 6);  // 6 * 64 != 512
    CHECK(m.n_layers == 8 && m.n_decoder_layers == 8);
    CHECK(m.act == ACT_GELU_TANH && m.gated && !m.tie_word_embeddings);
    free(d);

    char *text = variant(t5_v1_1_small, "model_type", "\"mt5\"");
    char *text2 = variant(text, "num_decoder_layers", "4");
    d = config_dir("mt5", text2);
    m = config_load(d);
    CHECK(m.arch == ARCH_T5 && m.n_layers == 8 && m.n_decoder_layers == 4);
    CHECK_STR(m.model_type, "mt5");
    free(text);
    free(text2);
    free(d);
}

static void test_llama31_gqa_rope(void) {
    char *d = config_dir("llama31", llama31_8b);
    model_config m = config_load(d);
    CHECK(m.arch == ARCH_LLAMA);
    CHECK_STR(m.model_type, "llama");
    CHECK(m.vocab_size == 128256 && m.d_model == 4096 && m.d_ff == 14336 && m.n_layers == 32);
    CHECK(m.n_heads == 32 && m.n_kv_heads == 8 && m.head_dim == 128 && m.n_decoder_layers == 0);
    CHECK(m.act == ACT_SILU && m.gated && !m.tie_word_embeddings);
    CHECK_NEAR(m.norm_eps, 1e-5, 1e-12);
    CHECK_NEAR(m.rope_theta, 500000, 0);
    CHECK(m.max_position_embeddings == 131072);
    CHECK(m.rope_llama3 && m.rope_original_max_position == 8192);
    CHECK_NEAR(m.rope_factor, 8, 0);
    CHECK_NEAR(m.rope_low_freq_factor, 1, 0);
    CHECK_NEAR(m.rope_high_freq_factor, 4, 0);
    CHECK(m.bos_id == 128000 && m.eos_id == 128001 && m.pad_id == -1 && m.decoder_start_id == -1);
    free(d);

    // Older configs name the rope type "type"; "default" means no scaling.
    char *text = variant(llama31_8b, "rope_scaling",
                         "{\"type\": \"llama3\", \"factor\": 32, \"low_freq_factor\": 1, \"high_freq_factor\": 4,"
                         " \"original_max_position_embeddings\": 8192}");
    d = config_dir("llama-type", text);
    m = config_load(d);
    CHECK(m.rope_llama3);
    CHECK_NEAR(m.rope_factor, 32, 0);
    free(text);
    free(d);
    text = variant(llama31_8b, "rope_scaling", "{\"rope_type\": \"default\"}");
    d = config_dir("llama-default-rope", text);
    CHECK(!config_load(d).rope_llama3);
    free(text);
    free(d);

    // transformers 5 writes base and scaling together, as rope_parameters.
    char *t1 = variant(llama31_8b, "rope_scaling", NULL), *t2 = variant(t1, "rope_theta", NULL);
    text = variant(t2, "rope_parameters",
                   "{\"rope_theta\": 500000.0, \"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
                   " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}");
    d = config_dir("llama-rope-parameters", text);
    m = config_load(d);
    CHECK_NEAR(m.rope_theta, 500000, 0);
    CHECK(m.rope_llama3 && m.rope_original_max_position == 8192);
    CHECK_NEAR(m.rope_factor, 8, 0);
    CHECK_NEAR(m.rope_high_freq_factor, 4, 0);
    free(text), free(d);
    text = variant(t2, "rope_parameters", "{\"rope_theta\": 1e6, \"rope_type\": \"default\"}");
    d = config_dir("llama-rope-parameters-default", text);
    m = config_load(d);
    CHECK_NEAR(m.rope_theta, 1e6, 0);
    CHECK(!m.rope_llama3);
    free(text), free(d), free(t1), free(t2);
}

static void test_llama_tied_defaults(void) {
    char *d = config_dir("llama-tied", llama_tied);
    model_config m = config_load(d);
    CHECK(m.arch == ARCH_LLAMA && m.tie_word_embeddings);
    CHECK(m.n_heads == 6 && m.n_kv_heads == 6 && m.head_dim == 48);
    CHECK_NEAR(m.norm_eps, 1e-6, 1e-12);
    CHECK_NEAR(m.rope_theta, 10000, 0);
    CHECK(!m.rope_llama3);
    CHECK(m.bos_id == 1 && m.eos_id == 2 && m.pad_id == -1);
    free(d);
}

static void load(void *d) { config_load(d); }

static void test_errors(void) {
    static const struct {
        const char *base, *key, *value;  // base with key set to value (NULL: removed)
        const char *needle;
    } cases[] = {
        {t5_small, "d_model", NULL, "config.json: missing key \"d_model\""},
        {t5_small, "d_model", "\"512\"", "config.json: \"d_model\" should be an integer, not a string"},
        {t5_small, "d_model", "512.5", "\"d_model\" should be an integer, not a number"},
        {t5_small, "num_layers", "0", "\"num_layers\" is 0, expected 1 to 16777215"},
        {t5_small, "vocab_size", "1073741824", "\"vocab_size\" is 1073741824, expected 1 to"},
        {t5_small, "d_kv", "-64", "\"d_kv\" is -64"},
        {t5_small, "layer_norm_epsilon", "0", "\"layer_norm_epsilon\" is 0, expected a positive number"},
        {t5_small, "feed_forward_proj", "\"gelu\"", "feed_forward_proj \"gelu\" is not supported"},
        {t5_small, "tie_word_embeddings", "1", "\"tie_word_embeddings\" should be true or false, not a number"},
        {t5_small, "model_type", "\"mistral\"", "config.json: model_type \"mistral\" is not supported"},
        {t5_small, "model_type", NULL, "missing key \"model_type\""},
        {t5_small, "model_type", "[\"t5\"]", "\"model_type\" should be a string, not an array"},
        {llama31_8b, "num_key_value_heads", "5",
         "num_attention_heads (32) is not a multiple of num_key_value_heads (5)"},
        {llama31_8b, "hidden_size", "4001", "hidden_size (4001) is not a multiple of num_attention_heads (32)"},
        {llama31_8b, "head_dim", "127", "head_dim 127 is odd"},
        {llama31_8b, "head_dim", "1048576", "32 heads of size 1048576 is too large"},
        {llama31_8b, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0}",
         "rope_scaling.rope_type \"yarn\" is not supported (only llama3)"},
        {llama31_8b, "rope_scaling", "{\"type\": \"linear\", \"factor\": 2.0}",
         "rope_scaling.type \"linear\" is not supported"},
        {llama31_8b, "rope_parameters", "{\"rope_theta\": 1e6, \"rope_type\": \"yarn\", \"factor\": 4.0}",
         "rope_parameters.rope_type \"yarn\" is not supported (only llama3)"},
        {llama31_8b, "rope_parameters", "{\"rope_type\": \"default\"}", "missing key \"rope_parameters.rope_theta\""},
        {llama31_8b, "rope_scaling", "{\"rope_type\": \"llama3\"}", "missing key \"rope_scaling.factor\""},
        {llama31_8b, "rope_scaling", "{\"factor\": 8}", "missing key \"rope_scaling.type\""},
        {llama31_8b, "rope_scaling",
         "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1,"
         " \"original_max_position_embeddings\": 8192}",
         "high_freq_factor (1) must exceed low_freq_factor (4)"},
        {llama31_8b, "rope_scaling", "8", "\"rope_scaling\" should be an object or null"},
        {llama31_8b, "hidden_act", "\"gelu\"", "hidden_act \"gelu\" is not supported (only silu)"},
        {llama31_8b, "attention_bias", "true", "\"attention_bias\" is true; biases are not supported"},
        {llama31_8b, "mlp_bias", "true", "\"mlp_bias\" is true"},
        {llama31_8b, "eos_token_id", "[]", "\"eos_token_id\" is an empty list"},
        {llama31_8b, "eos_token_id", "[\"x\"]", "\"eos_token_id\" should be an integer"},
        {llama31_8b, "max_position_embeddings", NULL, "missing key \"max_position_embeddings\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = variant(cases[i].base, cases[i].key, cases[i].value);
        char *name = xasprintf("bad%zu", i);
        char *d = config_dir(name, text);
        if (!dies_with(load, d, cases[i].needle)) {
            fprintf(stderr, "  case %zu\n", i);
            CHECK(0);
        }
        free(text);
        free(name);
        free(d);
    }

    char *empty = xasprintf("%s/empty", dir);
    mkdir(empty, 0700);
    CHECK(dies_with(load, empty, "empty/config.json: No such file or directory"));
    char *broken = config_dir("broken", "{\"model_type\": \"t5\",");
    CHECK(dies_with(load, broken, "broken/config.json: line 1:"));
    char *array = config_dir("array", "[]");
    CHECK(dies_with(load, array, "array/config.json: not a JSON object"));
    free(empty);
    free(broken);
    free(array);
}

int main(void) {
    deal_set_tool("test_config");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    RUN(test_t5_v1_0);
    RUN(test_t5_v1_1);
    RUN(test_llama31_gqa_rope);
    RUN(test_llama_tied_defaults);
    RUN(test_errors);
    remove_tree(dir);
    return test_summary();
}
