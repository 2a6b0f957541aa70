// predictions.h: reading deal-predict's output, JSON lines of
//   {"id", "task", "dataset", "split", "label", "prediction", ...}
// (every field a string; other keys are ignored; blank lines are skipped).
// Any problem stops the tool with "<tool>: FILE: line N: <what is wrong>".
#ifndef DEAL_PREDICTIONS_H
#define DEAL_PREDICTIONS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *id, *task, *dataset, *split, *label, *prediction;
} prediction;

typedef struct prediction_reader prediction_reader;

// Reads the whole of path ("-" = stdin, named so in errors); dies if it
// cannot be read.
prediction_reader *predictions_open(const char *path);
// The next prediction; its strings stay valid until the next call. Returns
// false at the end, and dies if the file held no prediction at all.
bool predictions_next(prediction_reader *r, prediction *p);
void predictions_close(prediction_reader *r);

#endif
