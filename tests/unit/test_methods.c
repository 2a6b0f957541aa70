// test_methods.c: the baselines' mechanics: O-LoRA's loss on a hand-computed
// case, the IncLoRA/O-LoRA stack (the new block alone trains, the earlier
// ones stay bit for bit, PEFT's r and alpha), a task sequence through the
// registry, the replay buffer, and deal.json.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "methods/inclora.h"
#include "methods/registry.h"
#include "methods/replay.h"
#include "model/model.h"
#include "test.h"
#include "toy_batch.h"
#include "train/adapter.h"

static trainable *param_named(const method *me, const char *suffix) {
    size_t ns = strlen(suffix);
    for (int i = 0; i < me->n_params; i++) {
        size_t n = strlen(me->params[i].name);
        if (n >= ns && strcmp(me->params[i].name + n - ns, suffix) == 0) return &me->params[i];
    }
    return NULL;
}

static char *temp_dir(void) {
    char tmpl[] = "/tmp/test_methods_XXXXXX";
    return xstrdup(mkdtemp(tmpl));
}

// ---- O-LoRA's loss by hand ---------------------------------------------------

// One linear layer (in 3, out 2) with a rank-2 LoRA: the previous task's block.
static model *one_layer(float *A_prev) {
    const backend *be = backend_cpu();
    model *m = xcalloc(1, sizeof *m);
    m->be = be;
    linear *l = xcalloc(1, sizeof *l);
    *l = (linear){.name = xstrdup("layer.q"), .in = 3, .out = 2};
    lora_factors *lo = xcalloc(1, sizeof *lo);
    *lo = (lora_factors){.r = 2, .scale = 1.0f};
    lo->A = be->alloc(6), lo->B = be->alloc(4);
    be->upload(lo->A, A_prev, 6);
    l->lora = lo;
    m->linears = xmalloc(sizeof *m->linears);
    m->linears[0] = l;
    m->n_linears = 1;
    return m;
}

static void free_one_layer(model *m) {
    lora_factors *lo = m->linears[0]->lora;
    m->be->release(lo->A), m->be->release(lo->B), m->be->release(lo->dA), m->be->release(lo->dB);
    free(lo), free(m->linears[0]->name), free(m->linears[0]), free(m->linears), free(m);
}

// A_prev = [1 0 2; 0 1 -1], A_new = [1 1 1; 2 0 -1], B_new = [0 3; 4 0]:
//   A_prev A_new^T = [3 0; 0 1], sum |.| = 4;  |A_new|_2 = sqrt 8, |B_new|_2 = 5.
// With lambda1 0.5, lambda2 0.1: loss = 0.5 * 4 + 0.1 * (sqrt 8 + 5).
//   dA_new = 0.5 sign(P)^T A_prev + 0.1 A_new / sqrt 8 (P's zeros: no gradient)
//          = [0.5 0 1; 0 0.5 -0.5] + (0.1 / sqrt 8) A_new;  dB_new = 0.1 B_new / 5.
static void test_olora_loss_by_hand(void) {
    float A_prev[6] = {1, 0, 2, 0, 1, -1}, A_new[6] = {1, 1, 1, 2, 0, -1}, B_new[4] = {0, 3, 4, 0};
    model *m = one_layer(A_prev);
    rng init;
    rng_seed(&init, 1);
    method *me = method_olora(m, 2, 1, &init, 0.5f, 0.1f);
    CHECK(m->linears[0]->lora->r == 4);
    trainable *A = param_named(me, "layer.q.lora_A.new"), *B = param_named(me, "layer.q.lora_B.new");
    CHECK(A && B && A->n == 6 && B->n == 4 && me->n_params == 2);
    memcpy(A->data, A_new, sizeof A_new);
    memcpy(B->data, B_new, sizeof B_new);
    zero_grads(me->params, me->n_params);
    double loss = me->regularizer(me, m, 1.0f);
    CHECK_NEAR(loss, 2.0 + 0.1 * (sqrt(8.0) + 5.0), 1e-6);
    double c = 0.1 / sqrt(8.0);
    double want_dA[6] = {0.5 + c, c, 1 + c, 2 * c, 0.5, -0.5 - c}, want_dB[4] = {0, 0.06, 0.08, 0};
    for (int i = 0; i < 6; i++) CHECK_NEAR(A->grad[i], want_dA[i], 1e-6);
    for (int i = 0; i < 4; i++) CHECK_NEAR(B->grad[i], want_dB[i], 1e-6);
    // scale multiplies the gradient, not the value.
    zero_grads(me->params, me->n_params);
    CHECK_NEAR(me->regularizer(me, m, 0.5f), loss, 1e-9);
    CHECK_NEAR(A->grad[0], 0.5 * want_dA[0], 1e-6);
    me->free(me);
    free_one_layer(m);
}

// Task 1 has no earlier block: only the L2 term.
static void test_olora_first_task(void) {
    float A_first[6] = {1, 0, 2, 0, 1, -1};
    model *m = one_layer(A_first);
    m->linears[0]->lora->dA = m->be->alloc(6), m->linears[0]->lora->dB = m->be->alloc(4);
    method *me = method_olora(m, 2, 0, NULL, 0.5f, 0.1f);
    CHECK(m->linears[0]->lora->r == 2);
    CHECK_NEAR(me->regularizer(me, m, 1.0f), 0.1 * sqrt(7.0), 1e-6);  // |A|_2 = sqrt 7, B = 0
    me->free(me);
    free_one_layer(m);
}

// ---- the stack on a model -------------------------------------------------------

static const char *fixture = "tests/reference/fixtures/t5_v1_1";

static method_options options(const char *kind, const char *init, const char *task) {
    return (method_options){.kind = method_find(kind), .init = init, .task = task, .alpha = 32, .lambda1 = NAN,
                            .lambda2 = NAN, .deal = deal_defaults, .replay_fraction = 0.02, .seed = 3};
}

static int adapted(const model *m) {
    int n = 0;
    for (int i = 0; i < m->n_linears; i++) n += m->linears[i]->lora != NULL;
    return n;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}

// From the fixture's rank-4 adapter (task 1), inclora stacks a rank-4 block:
// the model starts as the previous adapter (the new B is zero), a few AdamW
// steps move only the new block, and the saved stack is PEFT's rank-8 LoRA
// with alpha 16 that gives the model the training forward had.
static void test_inclora_stack(void) {
    char *prev_dir = xasprintf("%s/adapter", fixture), *dir = temp_dir(), *out = xasprintf("%s/A2", dir);
    model *prev = model_load(fixture, backend_cpu());
    adapter_load(prev, prev_dir);
    toy_batch tb;
    toy_init(&tb, prev->cfg.vocab_size);
    size_t n = (size_t)2 * 4 * prev->cfg.vocab_size;
    float *want = logits_of(prev, NULL, &tb.b, n);

    model *m = model_load(fixture, backend_cpu());
    lora_config lc;
    adapter_record rec;
    method_options o = options("inclora", prev_dir, "t2");
    method *me = method_start(m, &o, &lc, &rec);
    CHECK(lc.r == 8 && lc.alpha == 16.0f && rec.r == 4 && rec.alpha == 8.0f);
    CHECK(me->n_params == 2 * adapted(m));  // A and B of the new block in every module
    float *start = logits_of(m, me, &tb.b, n);
    CHECK(max_diff(start, want, n) <= 1e-6);
    adamw opt;
    adamw_init(&opt, me->params, me->n_params, 1e-2f, 0.0f);
    for (int s = 0; s < 3; s++) {
        zero_grads(me->params, me->n_params);
        me->before_forward(me, m);
        model_step(m, &tb.b, NULL, 1.0f, NULL);
        me->after_backward(me, m);
        adamw_step(&opt);
    }
    adamw_free(&opt);
    float *fly = logits_of(m, me, &tb.b, n);
    CHECK(max_diff(fly, want, n) > 1e-3);
    method_save(me, m, &lc, &rec, "base", out);

    // The earlier block is exactly the previous adapter's; the new one moved.
    model *saved = model_load(fixture, backend_cpu());
    adapter_load(saved, out);
    int frozen_same = 1, new_moved = 0;
    for (int i = 0; i < saved->n_linears; i++) {
        const linear *l = saved->linears[i], *p = prev->linears[i];
        if (!l->lora) continue;
        CHECK(l->lora->r == 8 && fabsf(l->lora->scale - 2.0f) < 1e-7f);
        frozen_same &= memcmp(l->lora->A, p->lora->A, (size_t)4 * l->in * sizeof(float)) == 0;
        for (int row = 0; row < l->out; row++) {
            frozen_same &= memcmp(l->lora->B + (size_t)row * 8, p->lora->B + (size_t)row * 4, 4 * sizeof(float)) == 0;
            for (int c = 4; c < 8; c++) new_moved |= l->lora->B[(size_t)row * 8 + c] != 0.0f;
        }
    }
    CHECK(frozen_same);
    CHECK(new_moved);
    float *back = logits_of(saved, NULL, &tb.b, n);
    CHECK(memcmp(back, fly, n * sizeof *fly) == 0);
    adapter_record r2 = record_read(out);
    CHECK_STR(r2.method, "inclora");
    CHECK(r2.n_tasks == 1 && strcmp(r2.tasks[0], "t2") == 0 && r2.r == 4 && r2.alpha == 8.0f);

    // The third task stacks a third block on top.
    model *m3 = model_load(fixture, backend_cpu());
    lora_config lc3;
    adapter_record rec3;
    method_options o3 = options("olora", out, "t3");
    method *me3 = method_start(m3, &o3, &lc3, &rec3);
    CHECK(lc3.r == 12 && lc3.alpha == 24.0f && rec3.r == 4);
    CHECK(rec3.n_tasks == 2 && strcmp(rec3.tasks[1], "t3") == 0);
    stack_state *s3 = me3->state;
    CHECK(s3->mods[0].k == 2 && s3->lambda1 == 0.5f && s3->lambda2 == 0.0f);  // O-LoRA's defaults
    me3->free(me3);
    lora_config_free(&lc3), record_free(&rec3), record_free(&r2);
    model_free(m3), model_free(saved), model_free(m), model_free(prev);
    me->free(me);
    lora_config_free(&lc), record_free(&rec);
    remove_tree(dir);
    free(want), free(start), free(fly), free(back), free(prev_dir), free(dir), free(out);
}

static void pertask_with_init(void *arg) {
    (void)arg;
    model *m = model_load(fixture, backend_cpu());
    lora_config lc;
    adapter_record rec;
    method_options o = options("pertask", "tests/reference/fixtures/t5_v1_1/adapter", "t2");
    method_start(m, &o, &lc, &rec);
}

static void unknown_method(void *arg) {
    (void)arg;
    method_find("ewc");
}

static void test_registry(void) {
    CHECK(method_find("olora")->lr == 1e-3f && method_find("olora")->r == 8);
    CHECK(method_find("deal")->lr == 1e-5f && method_find("deal")->lambda1 == 0.01f);
    CHECK(dies_with(pertask_with_init, NULL, "pertask trains a fresh adapter for every task: no --init"));
    CHECK(dies_with(unknown_method, NULL, "unknown method \"ewc\" (one of seqlora, deal, inclora, olora, pertask, replay)"));
    // Task 1 of every method is plain LoRA over a fresh adapter: the LoRA factors train.
    const char *kinds[] = {"seqlora", "deal", "inclora", "olora", "pertask", "replay"};
    for (int k = 0; k < 6; k++) {
        model *m = model_load(fixture, backend_cpu());
        lora_config lc;
        adapter_record rec;
        method_options o = options(kinds[k], NULL, "t1");
        method *me = method_start(m, &o, &lc, &rec);
        CHECK(lc.r == (k == 3 ? 8 : 16) && lc.n_targets == 2);
        CHECK(me->n_params == 2 * adapted(m));
        CHECK_STR(rec.method, kinds[k]);
        me->free(me);
        lora_config_free(&lc), record_free(&rec);
        model_free(m);
    }
}

// ---- replay ------------------------------------------------------------------------------

static token_set toy_tokens(const char *task, size_t n) {
    token_set s = {0};
    s.h = (tokens_header){.task = xstrdup(task), .split = xstrdup("train"), .tokenizer_type = xstrdup("sentencepiece"),
                          .tokenizer_fingerprint = xstrdup("0123456789abcdef"), .vocab_size = 100,
                          .conv = CONVENTION_T5, .bos_id = -1, .eos_id = 1, .pad_id = 0, .max_source = 512,
                          .max_target = 50};
    s.r = xcalloc(n, sizeof *s.r);
    s.n = n;
    for (size_t i = 0; i < n; i++) {
        token_record *r = &s.r[i];
        r->id = xasprintf("%s-%zu", task, i);
        r->task = xstrdup(task), r->dataset = xstrdup(task), r->split = xstrdup("train"), r->label = xstrdup("x");
        r->n_source = 2, r->n_target = 1;
        r->source = xmalloc(2 * sizeof *r->source), r->target = xmalloc(sizeof *r->target);
        r->source[0] = (int32_t)(i % 90) + 2, r->source[1] = 1, r->target[0] = 1;
    }
    return s;
}

static char *ids_of(const token_set *s) {
    char *all = xstrdup("");
    for (size_t i = 0; i < s->n; i++) {
        char *more = xasprintf("%s %s", all, s->r[i].id);
        free(all);
        all = more;
    }
    return all;
}

static void test_replay_buffer(void) {
    char *dir = temp_dir(), *path = xasprintf("%s/" REPLAY_FILE, dir), *dir2 = xasprintf("%s/two", dir);
    float A[6] = {0};
    model *m = one_layer(A);  // replay trains the LoRA; here only its data hooks matter
    m->linears[0]->lora->dA = m->be->alloc(6), m->linears[0]->lora->dB = m->be->alloc(4);
    token_set t1 = toy_tokens("first", 240);
    method *me = method_replay(m, NULL, 0.02, 7);
    me->prepare_data(me, &t1);
    CHECK(t1.n == 240);
    me->save(me, dir);
    token_set buf = token_set_read(path);
    CHECK(buf.n == 5);  // round(2% of 240)
    int ordered = 1;
    for (size_t i = 0; i < buf.n; i++) {
        CHECK_STR(buf.r[i].task, "first");
        if (i) ordered &= atoi(strchr(buf.r[i].id, '-') + 1) > atoi(strchr(buf.r[i - 1].id, '-') + 1);
    }
    CHECK(ordered);
    char *first_id = xstrdup(buf.r[0].id), *sample7 = ids_of(&buf);
    token_set_free(&buf);
    me->free(me);

    // The next task mixes the buffer in and passes it on with 2% of its own.
    token_set t2 = toy_tokens("second", 100);
    me = method_replay(m, dir, 0.02, 7);
    me->prepare_data(me, &t2);
    CHECK(t2.n == 105);
    CHECK_STR(t2.r[100].task, "first");
    char *mk = xasprintf("mkdir -p %s", dir2);
    CHECK(system(mk) == 0);
    me->save(me, dir2);
    char *path2 = xasprintf("%s/" REPLAY_FILE, dir2);
    buf = token_set_read(path2);
    CHECK(buf.n == 7);  // 5 + round(2% of 100)
    CHECK_STR(buf.r[0].id, first_id);
    CHECK_STR(buf.r[6].task, "second");
    token_set_free(&buf);
    me->free(me);

    // Another seed, another sample.
    token_set t3 = toy_tokens("first", 240);
    me = method_replay(m, NULL, 0.02, 8);
    me->prepare_data(me, &t3);
    me->save(me, dir2);
    buf = token_set_read(path2);
    char *sample8 = ids_of(&buf);
    CHECK(buf.n == 5);
    CHECK(strcmp(sample7, sample8) != 0);
    token_set_free(&buf);
    me->free(me);
    free_one_layer(m);
    free(sample7), free(sample8);
    token_set_free(&t1), token_set_free(&t2), token_set_free(&t3);
    remove_tree(dir);
    free(dir), free(path), free(dir2), free(path2), free(first_id), free(mk);
}

// ---- deal.json -----------------------------------------------------------------------------

static void test_record(void) {
    char *dir = temp_dir();
    adapter_record rec = {.method = xstrdup("olora"), .r = 8, .alpha = 32};
    record_add_task(&rec, "dbpedia");
    record_add_task(&rec, "amazon");
    record_write(&rec, dir);
    adapter_record back = record_read(dir);
    CHECK_STR(back.method, "olora");
    CHECK(back.n_tasks == 2 && back.r == 8 && back.alpha == 32.0f);
    CHECK_STR(back.tasks[1], "amazon");
    char *path = xasprintf("%s/deal.json", dir);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(strstr(text, "\"task\": \"amazon\"") != NULL);
    // An adapter without deal.json: its config's r and alpha, no tasks.
    adapter_record peft = record_read("tests/reference/fixtures/t5_v1_1/adapter");
    CHECK(peft.method == NULL && peft.n_tasks == 0 && peft.r == 4 && peft.alpha == 8.0f);
    record_free(&rec), record_free(&back), record_free(&peft);
    remove_tree(dir);
    free(dir), free(path), free(text);
}

int main(void) {
    RUN(test_olora_loss_by_hand);
    RUN(test_olora_first_task);
    RUN(test_inclora_stack);
    RUN(test_registry);
    RUN(test_replay_buffer);
    RUN(test_record);
    return test_summary();
}
