// checkpoint.h: what a killed training run needs to continue exactly: the
// trained values, the optimizer's moments and step, the dropout generator,
// the position in the data and the size of the log. A folder, replaced
// atomically, so a kill during a save leaves the previous checkpoint.
#ifndef DEAL_CHECKPOINT_H
#define DEAL_CHECKPOINT_H

#include <stddef.h>

#include "base/rng.h"
#include "train/adamw.h"

typedef struct {
    int epoch;
    size_t batch;  // next batch of that epoch
    long log_bytes;  // the training log's size at the checkpoint
} train_position;

int checkpoint_exists(const char *dir);
void checkpoint_save(const char *dir, const adamw *o, const rng *dropout, train_position at);
// Restores the values and the optimizer (the same trainables, by name and
// size, or it dies) and the generator; returns the position.
train_position checkpoint_load(const char *dir, adamw *o, rng *dropout);

#endif
