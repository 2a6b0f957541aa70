// tasks.c: dataset table, instructions and the prompt template.
#include "data/tasks.h"

#include <string.h>
#include <strings.h>

#include "base/util.h"

const benchmark_task benchmark_tasks[] = {
    {"agnews", "TC"},   {"dbpedia", "TC"}, {"yahoo", "TC"}, {"amazon", "SC"},   {"yelp", "SC"},
    {"IMDB", "SC"},     {"SST-2", "SC"},   {"MNLI", "NLI"}, {"RTE", "NLI"},     {"CB", "NLI"},
    {"QQP", "QQP"},     {"BoolQA", "BoolQA"}, {"COPA", "COPA"}, {"MultiRC", "MultiRC"}, {"WiC", "WiC"},
};
const size_t n_benchmark_tasks = sizeof benchmark_tasks / sizeof benchmark_tasks[0];

static const struct {
    const char *type, *instruction;
} instructions[] = {
    {"NLI", "What is the logical relationship between the \"sentence 1\" and the \"sentence 2\"? Choose one from the option.\n"},
    {"QQP", "Whether the \"first sentence\" and the \"second sentence\" have the same meaning? Choose one from the option.\n"},
    {"SC", "What is the sentiment of the following paragraph? Choose one from the option.\n"},
    {"TC", "What is the topic of the following paragraph? Choose one from the option.\n"},
    {"BoolQA", "According to the following passage, is the question true or false? Choose one from the option.\n"},
    {"MultiRC", "According to the following passage and question, is the candidate answer true or false? Choose one from the option.\n"},
    {"WiC", "Given a word and two sentences, whether the word is used with the same sense in both sentence? Choose one from the option.\n"},
};

const benchmark_task *benchmark_task_find(const char *name) {
    for (size_t i = 0; i < n_benchmark_tasks; i++)
        if (strcasecmp(benchmark_tasks[i].dataset, name) == 0) return &benchmark_tasks[i];
    return NULL;
}

const char *type_instruction(const char *type) {
    for (size_t i = 0; i < sizeof instructions / sizeof instructions[0]; i++)
        if (strcmp(instructions[i].type, type) == 0) return instructions[i].instruction;
    return NULL;
}

// A growable byte buffer, local to prompt building.
typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s) {
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) b->p = xrealloc(b->p, b->cap = 2 * (b->n + k + 1));
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
}

char *prompt_build(const char *type, const char *dataset, const char *instruction, char *const *options,
                   size_t n_options, const char *passage, size_t *passage_start, size_t *passage_end) {
    buf b = {0};
    put(&b, "Task:");
    put(&b, type);
    put(&b, "\nDataset:");
    put(&b, dataset);
    put(&b, "\n");
    if (instruction) put(&b, instruction);
    if (n_options) {
        put(&b, "Option: ");
        for (size_t i = 0; i < n_options; i++) {
            if (i) put(&b, ", ");
            put(&b, options[i]);
        }
        put(&b, " \n");
    }
    *passage_start = b.n;
    put(&b, passage);
    *passage_end = b.n;
    put(&b, "\nAnswer:");
    return b.p;
}
