// trainer.c: the training loop.
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"
#include "base/util.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

// ---- batches -------------------------------------------------------------------

static const token_set *sort_data;  // qsort has no context argument
static size_t *sort_rank;

static int by_length(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = sort_data->r[i].n_source + sort_data->r[i].n_target;
    size_t lj = sort_data->r[j].n_source + sort_data->r[j].n_target;
    if (li != lj) return li < lj ? 1 : -1;  // longest first
    return sort_rank[i] < sort_rank[j] ? -1 : sort_rank[i] > sort_rank[j];  // ties: shuffled order
}

static void shuffle(size_t *a, size_t n, rng *r) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

void epoch_batches(const token_set *data, int batch, uint64_t seed, int epoch, size_t *order, size_t *starts,
                   size_t *n_batches) {
    size_t n = data->n;
    rng r;
    rng_seed(&r, seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch);
    for (size_t i = 0; i < n; i++) order[i] = i;
    shuffle(order, n, &r);
    sort_rank = xmalloc(n * sizeof *sort_rank);
    for (size_t i = 0; i < n; i++) sort_rank[order[i]] = i;
    sort_data = data;
    size_t window = (size_t)batch * 50;
    for (size_t w = 0; w < n; w += window) qsort(order + w, w + window < n ? window : n - w, sizeof *order, by_length);
    free(sort_rank);
    // Batches in a random order: shuffle the batch numbers, then lay out.
    size_t nb = (n + (size_t)batch - 1) / (size_t)batch;
    size_t *perm = xmalloc(nb * sizeof *perm), *copy = xmalloc(n * sizeof *copy);
    for (size_t k = 0; k < nb; k++) perm[k] = k;
    shuffle(perm, nb, &r);
    memcpy(copy, order, n * sizeof *copy);
    size_t at = 0;
    for (size_t k = 0; k < nb; k++) {
        size_t from = perm[k] * (size_t)batch, len = from + (size_t)batch <= n ? (size_t)batch : n - from;
        starts[k] = at;
        memcpy(order + at, copy + from, len * sizeof *order);
        at += len;
    }
    starts[nb] = n;
    *n_batches = nb;
    free(perm);
    free(copy);
}

// ---- progress ------------------------------------------------------------------

typedef struct {
    double start, last_print;
    int tty;
} progress;

static void show_progress(progress *p, long step, long total, double loss, double tokens_per_s, int final) {
    double t = now(), elapsed = t - p->start;
    if (!final && t - p->last_print < (p->tty ? 0.2 : 5.0)) return;
    p->last_print = t;
    double eta = step > 0 ? elapsed / step * (total - step) : 0;
    if (p->tty) {
        int width = 30, filled = total ? (int)(width * step / total) : width;
        fprintf(stderr, "\r%s: [%.*s%*s] %ld/%ld loss %.4f %.0f tok/s ETA %.0fs ", deal_tool(), filled,
                "##############################", width - filled, "", step, total, loss, tokens_per_s, eta);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: step %ld/%ld loss %.4f %.0f tok/s elapsed %.0fs ETA %.0fs\n", deal_tool(), step, total,
                loss, tokens_per_s, elapsed, eta);
    }
}

static long trainable_count(const method *me) {
    long n = 0;
    for (int i = 0; i < me->n_params; i++) n += (long)me->params[i].n;
    return n;
}

// ---- the loop ------------------------------------------------------------------------

int train_run(model *m, method *me, const token_set *data, const train_options *o) {
    adamw opt;
    adamw_init(&opt, me->params, me->n_params, o->lr, o->weight_decay);
    rng dropout;
    rng_seed(&dropout, o->seed ^ 0xd20d20d20ULL);
    train_position pos = {0};
    if (o->resume && o->checkpoint && checkpoint_exists(o->checkpoint)) {
        pos = checkpoint_load(o->checkpoint, &opt, &dropout);
        fprintf(stderr, "%s: resuming from %s at step %ld\n", deal_tool(), o->checkpoint, opt.step);
    }
    FILE *log = NULL;
    if (o->log_path) {
        // On resume the log is cut back to what it held at the checkpoint.
        if (pos.log_bytes > 0 && truncate(o->log_path, pos.log_bytes) != 0) die("%s: cannot truncate", o->log_path);
        log = fopen(o->log_path, pos.log_bytes > 0 ? "a" : "w");
        if (!log) die("%s: cannot open the training log", o->log_path);
        if (pos.log_bytes == 0) {  // a first line saying what ran: the rest are steps
            fprintf(log, "{\"start\":true,\"method\":\"%s\",\"backend\":\"%s\",\"kernels\":\"%s\",\"products\":\"%s\","
                         "\"examples\":%zu,\"trainable\":%ld}\n",
                    me->name, m->be->name, m->be->describe(), m->bf16 ? "bf16 (frozen weights)" : "fp32", data->n,
                    trainable_count(me));
        }
    }

    size_t n = data->n, nb;
    size_t *order = xmalloc(n * sizeof *order), *starts = xmalloc((n + 2) * sizeof *starts);
    size_t batches_per_epoch = (n + (size_t)o->batch - 1) / (size_t)o->batch;
    long steps_per_epoch = (long)((batches_per_epoch + (size_t)o->accum - 1) / (size_t)o->accum);
    long total_steps = steps_per_epoch * o->epochs;
    progress pr = {now(), 0, isatty(2)};
    batch b = {0};
    b.source = xmalloc((size_t)o->batch * sizeof *b.source);
    b.target = xmalloc((size_t)o->batch * sizeof *b.target);
    b.n_source = xmalloc((size_t)o->batch * sizeof *b.n_source);
    b.n_target = xmalloc((size_t)o->batch * sizeof *b.n_target);

    int complete = 1;
    double step_loss = 0, t_step = now();  // sum of the step's token losses
    long step_targets = 0, step_tokens = 0, step_samples = 0;
    for (int epoch = pos.epoch; epoch < o->epochs; epoch++) {
        epoch_batches(data, o->batch, o->seed, epoch, order, starts, &nb);
        for (size_t k = epoch == pos.epoch ? pos.batch : 0; k < nb; k++) {
            if (k % (size_t)o->accum == 0) zero_grads(me->params, me->n_params);
            b.B = (int)(starts[k + 1] - starts[k]);
            for (int i = 0; i < b.B; i++) {
                const token_record *r = &data->r[order[starts[k] + (size_t)i]];
                b.source[i] = r->source, b.n_source[i] = (int)r->n_source;
                b.target[i] = r->target, b.n_target[i] = (int)r->n_target;
            }
            long count = batch_target_tokens(&b);
            if (me->before_forward) me->before_forward(me, m);
            // HF's Trainer: the mean over the micro-batch's target tokens, divided by the accumulation steps.
            step_loss += model_step(m, &b, &dropout, 1.0f / ((float)count * (float)o->accum), NULL);
            if (me->after_backward) me->after_backward(me, m);
            step_targets += count;
            step_tokens += count;
            for (int i = 0; i < b.B; i++) step_tokens += b.n_source[i];
            step_samples += b.B;
            if ((k + 1) % (size_t)o->accum != 0 && k + 1 != nb) continue;

            double reg = me->regularizer ? me->regularizer(me, m, 1.0f) : 0.0;
            double norm = clip_grad_norm(me->params, me->n_params, o->max_grad_norm);
            if (!isfinite(step_loss) || !isfinite(norm))
                die("training diverged at step %ld (loss %g, gradient norm %g): try a lower --lr", opt.step + 1,
                    step_loss, norm);
            adamw_step(&opt);
            double dt = now() - t_step, mean_loss = step_loss / (double)step_targets;
            if (log) {
                fprintf(log, "{\"step\":%ld,\"epoch\":%d,\"loss\":%.6f,\"regularizer\":%.6g,\"grad_norm\":%.6f,"
                             "\"lr\":%g,\"tokens\":%ld,\"samples\":%ld,\"tokens_per_s\":%.1f,\"samples_per_s\":%.2f,"
                             "\"elapsed_s\":%.3f}\n",
                        opt.step, epoch, mean_loss, reg, norm, o->lr, step_tokens, step_samples, step_tokens / dt,
                        step_samples / dt, now() - pr.start);
                fflush(log);
            }
            show_progress(&pr, opt.step, total_steps, mean_loss, step_tokens / dt, opt.step == total_steps);
            step_loss = 0, step_targets = 0, step_tokens = 0, step_samples = 0, t_step = now();
            int stop = o->stop_after > 0 && opt.step >= o->stop_after && opt.step < total_steps;
            if (o->checkpoint && opt.step < total_steps &&
                (stop || (o->save_every > 0 && opt.step % o->save_every == 0))) {
                train_position at = {epoch, k + 1, log ? ftell(log) : 0};
                checkpoint_save(o->checkpoint, &opt, &dropout, at);
            }
            if (stop) {
                complete = 0;
                goto done;
            }
        }
    }
done:
    if (log) fclose(log);
    free(order), free(starts);
    free(b.source), free(b.target), free(b.n_source), free(b.n_target);
    adamw_free(&opt);
    return complete;
}
