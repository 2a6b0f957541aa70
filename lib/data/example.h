// example.h: the records of an "examples" stream (deal-prep's output,
// deal-tokenize's input): one instruction-formatted example each.
#ifndef DEAL_EXAMPLE_H
#define DEAL_EXAMPLE_H

#include <stddef.h>

#include "stream/stream.h"

typedef struct {
    char *id;  // "<dataset>-<split>-<n>", n = 1-based record number in the source file
    char *task, *dataset, *type, *split;
    char *prompt;  // the full instruction prompt (data/tasks.h)
    char *target;  // the label string the model should produce
    char **options;  // the label set, in prompt order (may be empty)
    size_t n_options;
    size_t passage_start, passage_end;  // byte span of the passage inside prompt
} example;

// Header of an examples stream; source names where the examples came from.
void examples_write_header(msgpack_packer *pk, const char *task, const char *split, const char *source,
                           long long count);
void example_write(msgpack_packer *pk, const example *e);
// Reads the next record into e (fresh strings); returns 0 at the end of the
// stream. Dies naming the record and field if a field is missing or wrong.
int example_read(stream_reader *r, example *e);
void example_free(example *e);

#endif
