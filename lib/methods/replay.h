// replay.h: seqlora plus a small buffer of earlier tasks' training examples
// (token records) mixed into each later task (breaks the privacy premise;
// for reference). The buffer travels in the adapter folder as
// replay.msgpack.zst, a tokens stream: what --init's buffer held, plus a
// seeded sample of fraction (default 2%, at least one) of this task's own examples.
#ifndef DEAL_REPLAY_H
#define DEAL_REPLAY_H

#include <stdint.h>

#include "methods/method.h"

#define REPLAY_FILE "replay.msgpack.zst"

// init: the previous task's adapter folder (NULL for task 1).
method *method_replay(model *m, const char *init, double fraction, uint64_t seed);

#endif
