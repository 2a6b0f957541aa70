// replay.c: the replay buffer (see replay.h).
#include "methods/replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    char *init;
    double fraction;
    uint64_t seed;
    token_set *data;  // the task's data, the buffer appended
    size_t n_own;  // the task's own examples: data->r[0 .. n_own)
} replay_state;

static void replay_prepare(method *me, token_set *data) {
    replay_state *s = me->state;
    s->data = data;
    s->n_own = data->n;
    if (!s->init) return;
    char *path = xasprintf("%s/" REPLAY_FILE, s->init);
    token_set buf = token_set_read(path);
    if (strcmp(buf.h.tokenizer_fingerprint, data->h.tokenizer_fingerprint) != 0 || buf.h.conv != data->h.conv)
        die("%s: made with another tokenizer or convention than the training data", path);
    data->r = xrealloc(data->r, (data->n + buf.n) * sizeof *data->r);
    memcpy(data->r + data->n, buf.r, buf.n * sizeof *buf.r);  // the records move over
    data->n += buf.n;
    fprintf(stderr, "%s: replaying %zu examples of earlier tasks from %s\n", deal_tool(), buf.n, path);
    free(buf.r);
    buf.r = NULL, buf.n = 0;
    token_set_free(&buf);
    free(path);
}

static void replay_save(method *me, const char *dir) {
    replay_state *s = me->state;
    const token_set *data = s->data;
    // A seeded choice of k of the task's own examples, kept in their order.
    size_t k = (size_t)llround(s->fraction * (double)s->n_own);
    if (k < 1) k = 1;
    size_t *idx = xmalloc(s->n_own * sizeof *idx);
    for (size_t i = 0; i < s->n_own; i++) idx[i] = i;
    rng r;
    rng_seed(&r, s->seed ^ 0x5e1ec7ULL);
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)rng_below(&r, s->n_own - i), t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
    char *keep = xcalloc(s->n_own, 1);
    for (size_t i = 0; i < k; i++) keep[idx[i]] = 1;
    char *path = xasprintf("%s/" REPLAY_FILE, dir);
    stream_writer *w = stream_create(path, true);
    msgpack_packer *pk = stream_packer(w);
    tokens_write_header(pk, &data->h);
    for (size_t i = s->n_own; i < data->n; i++) token_record_write(pk, &data->r[i]);
    for (size_t i = 0; i < s->n_own; i++)
        if (keep[i]) token_record_write(pk, &data->r[i]);
    stream_finish(w);
    free(path), free(keep), free(idx);
}

static void replay_free(method *me) {
    replay_state *s = me->state;
    free(s->init), free(s);
    method_free_common(me);
}

method *method_replay(model *m, const char *init, double fraction, uint64_t seed) {
    method *me = method_lora(m);
    me->name = "replay";
    replay_state *s = xcalloc(1, sizeof *s);
    *s = (replay_state){.init = init ? xstrdup(init) : NULL, .fraction = fraction, .seed = seed};
    me->state = s;
    me->prepare_data = replay_prepare;
    me->save = replay_save;
    me->free = replay_free;
    return me;
}
