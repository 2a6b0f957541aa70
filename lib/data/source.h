// source.h: labelled text from the benchmark's JSON files or a user's JSON
// lines, checked record by record before anything is written.
#ifndef DEAL_SOURCE_H
#define DEAL_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *text;  // the passage ("sentence" in CL_Benchmark, "input" in JSON lines)
    char *label;
    char **options;  // per-record options (JSON lines only), else NULL
    size_t n_options;
    size_t number;  // 1-based record number in the source file
} labelled;

typedef struct {
    labelled *items;
    size_t n;
    size_t unlabelled;  // records labelled "-" (no gold label), left out
} labelled_set;

// labels.json: a JSON array of distinct strings.
char **load_labels(const char *path, size_t *n);
// A CL_Benchmark split file: a JSON array of {"sentence", "label"}; every label
// must be one of labels (records labelled "-" are counted and left out).
labelled_set load_benchmark_split(const char *path, char *const *labels, size_t n_labels);
// JSON lines of {"input", "label", "options"?}; a record's label must be one
// of its options when it has them.
labelled_set load_jsonl(const char *path);
void labelled_set_free(labelled_set *s);

// The indices (ascending) of a seeded, uniform sample of k of n items, k <= n.
// Depends only on (n, k, seed, salt), so it is the same on every machine.
size_t *sample_indices(size_t n, size_t k, uint64_t seed, const char *salt);

#endif
