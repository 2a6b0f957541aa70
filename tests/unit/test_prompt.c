// test_prompt.c: the prompt of every task type, byte for byte as benchmarks.md
// gives the template, and the seeded selection of examples.
#include <stdlib.h>

#include "base/util.h"
#include "data/source.h"
#include "data/tasks.h"
#include "test.h"

// Builds the prompt of a benchmark dataset the way deal-prep does and checks
// it against a literal written out from benchmarks.md by hand.
static void check_prompt(const char *dataset, char **labels, size_t n_labels, const char *passage,
                         const char *want) {
    const benchmark_task *t = benchmark_task_find(dataset);
    CHECK(t != NULL);
    if (!t) return;
    const char *instruction = type_instruction(t->type);
    size_t ps, pe;
    char *got = prompt_build(t->type, t->dataset, instruction, labels, instruction ? n_labels : 0, passage, &ps, &pe);
    CHECK_STR(got, want);
    CHECK(pe - ps == strlen(passage) && strncmp(got + ps, passage, pe - ps) == 0);
    free(got);
}

static void test_prompts_of_every_type(void) {
    char *tc[] = {"World", "Sports", "Business", "Science or Technology"};
    check_prompt("agnews", tc, 4, "Title: A\nText: B",
                 "Task:TC\nDataset:agnews\nWhat is the topic of the following paragraph? Choose one from the option.\n"
                 "Option: World, Sports, Business, Science or Technology \nTitle: A\nText: B\nAnswer:");
    char *sc[] = {"Good", "Bad"};
    check_prompt("sst-2", sc, 2, "a fine film",
                 "Task:SC\nDataset:SST-2\nWhat is the sentiment of the following paragraph? Choose one from the option.\n"
                 "Option: Good, Bad \na fine film\nAnswer:");
    char *nli[] = {"neutral", "entailment", "contradiction"};
    check_prompt("MNLI", nli, 3, "sentence 1: x\nsentence 2: y",
                 "Task:NLI\nDataset:MNLI\nWhat is the logical relationship between the \"sentence 1\" and the "
                 "\"sentence 2\"? Choose one from the option.\nOption: neutral, entailment, contradiction \n"
                 "sentence 1: x\nsentence 2: y\nAnswer:");
    char *tf[] = {"False", "True"};
    check_prompt("QQP", tf, 2, "first sentence: a\nsecond sentence: b",
                 "Task:QQP\nDataset:QQP\nWhether the \"first sentence\" and the \"second sentence\" have the same "
                 "meaning? Choose one from the option.\nOption: False, True \nfirst sentence: a\nsecond sentence: b\nAnswer:");
    char *bq[] = {"True", "False"};
    check_prompt("BoolQA", bq, 2, "question: q\npassage: p",
                 "Task:BoolQA\nDataset:BoolQA\nAccording to the following passage, is the question true or false? "
                 "Choose one from the option.\nOption: True, False \nquestion: q\npassage: p\nAnswer:");
    check_prompt("MultiRC", tf, 2, "paragraph: p",
                 "Task:MultiRC\nDataset:MultiRC\nAccording to the following passage and question, is the candidate "
                 "answer true or false? Choose one from the option.\nOption: False, True \nparagraph: p\nAnswer:");
    check_prompt("WiC", bq, 2, "word: call\ns1\ns2",
                 "Task:WiC\nDataset:WiC\nGiven a word and two sentences, whether the word is used with the same sense "
                 "in both sentence? Choose one from the option.\nOption: True, False \nword: call\ns1\ns2\nAnswer:");
    char *ab[] = {"A", "B"};
    check_prompt("COPA", ab, 2, "Which? A: x\nB: y",
                 "Task:COPA\nDataset:COPA\nWhich? A: x\nB: y\nAnswer:");
}

static void test_task_table(void) {
    CHECK(n_benchmark_tasks == 15);
    CHECK(benchmark_task_find("imdb") && strcmp(benchmark_task_find("imdb")->dataset, "IMDB") == 0);
    CHECK(benchmark_task_find("nosuch") == NULL);
    CHECK(type_instruction("COPA") == NULL);
}

static int sorted_distinct(const size_t *idx, size_t k, size_t n) {
    for (size_t i = 0; i < k; i++)
        if (idx[i] >= n || (i && idx[i] <= idx[i - 1])) return 0;
    return 1;
}

static void test_selection_is_seeded_and_uniform(void) {
    size_t *a = sample_indices(5000, 1000, 1, "agnews/train");
    size_t *b = sample_indices(5000, 1000, 1, "agnews/train");
    size_t *c = sample_indices(5000, 1000, 2, "agnews/train");
    size_t *d = sample_indices(5000, 1000, 1, "yahoo/train");
    CHECK(sorted_distinct(a, 1000, 5000));
    CHECK(memcmp(a, b, 1000 * sizeof *a) == 0);  // same seed, same records
    CHECK(memcmp(a, c, 1000 * sizeof *a) != 0);  // another seed, another sample
    CHECK(memcmp(a, d, 1000 * sizeof *a) != 0);  // each task its own sample
    // Pinned values: the selection must not change between builds or machines.
    CHECK(a[0] == 4 && a[1] == 5 && a[999] == 4997);
    // Uniform: each fifth of the file gets about a fifth of the sample.
    int fifths[5] = {0};
    for (size_t i = 0; i < 1000; i++) fifths[a[i] / 1000]++;
    for (int f = 0; f < 5; f++) CHECK(fifths[f] > 150 && fifths[f] < 250);
    size_t *all = sample_indices(7, 7, 1, "x");
    for (size_t i = 0; i < 7; i++) CHECK(all[i] == i);
    free(a), free(b), free(c), free(d), free(all);
}

int main(void) {
    RUN(test_prompts_of_every_type);
    RUN(test_task_table);
    RUN(test_selection_is_seeded_and_uniform);
    return test_summary();
}
