// trainer.h: the training loop: length-bucketed batches, gradient
// accumulation, clipping, AdamW with a constant learning rate, a JSON-lines
// log, progress on stderr, and checkpoints that a killed run resumes from to
// the same final bits as an uninterrupted one.
#ifndef DEAL_TRAINER_H
#define DEAL_TRAINER_H

#include <stdint.h>

#include "data/tokens.h"
#include "methods/method.h"
#include "model/model.h"

typedef struct {
    float lr, weight_decay, max_grad_norm;
    int batch, accum, epochs;
    uint64_t seed;
    long save_every;  // optimizer steps between checkpoints; 0: none
    const char *checkpoint;  // checkpoint folder (NULL: none)
    int resume;  // continue from the checkpoint if there is one
    long stop_after;  // stop with a checkpoint once this many optimizer steps are done (0: never)
    const char *log_path;  // JSON lines, one per optimizer step (NULL: none)
} train_options;

// Trains me's parameters on data. The model and method must be set up the
// same way as in the run being resumed. Returns 1 when training is complete,
// 0 when it stopped early (stop_after) with a checkpoint.
int train_run(model *m, method *me, const token_set *data, const train_options *o);

// Splits data into batches for one epoch: a seeded shuffle, then inside
// windows of 50 batches a sort by length (less padding), then the batches in
// a seeded random order. order receives the example indices, starts[k] the
// first index of batch k (starts[n_batches] = n). Same seed, same batches.
void epoch_batches(const token_set *data, int batch, uint64_t seed, int epoch, size_t *order, size_t *starts,
                   size_t *n_batches);

#endif
