// tasks.h: the benchmark's datasets, their task types and the instruction
// prompt (benchmarks.md, "Prompt"), byte for byte as the public code builds it.
#ifndef DEAL_TASKS_H
#define DEAL_TASKS_H

#include <stddef.h>

typedef struct {
    const char *dataset;  // folder name in CL_Benchmark, e.g. "SST-2"
    const char *type;  // task type, e.g. "SC"
} benchmark_task;

// The 15 datasets, in the order of benchmarks.md's table.
extern const benchmark_task benchmark_tasks[];
extern const size_t n_benchmark_tasks;

// Finds a dataset by name, ignoring case ("sst-2" finds "SST-2"); NULL if unknown.
const benchmark_task *benchmark_task_find(const char *name);
// The instruction line of a task type (ends in "\n"), or NULL for a type
// without one (COPA, whose prompt also has no option line).
const char *type_instruction(const char *type);

// Builds
//   Task:<type>\nDataset:<dataset>\n<instruction>Option: <options, ", "> \n<passage>\nAnswer:
// leaving out the option line when n_options is 0. instruction may be NULL.
// *passage_start / *passage_end receive the byte span of the passage in the
// result, so a tokenizer can shorten the passage and nothing else.
char *prompt_build(const char *type, const char *dataset, const char *instruction, char *const *options,
                   size_t n_options, const char *passage, size_t *passage_start, size_t *passage_end);

#endif
