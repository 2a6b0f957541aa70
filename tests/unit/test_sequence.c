// Unit tests of lib/eval/sequence.c (AA, BWT, forgetting and the matrix built
// from per-file scores) and of the tallies of lib/eval/score.c it reads.
#include "../test.h"

#include "eval/sequence.h"

#define X NAN  // an entry above the diagonal (j < i): never read

static void test_summary_3x3(void) {
    // Rows: task i; columns: after training task j.
    //   60 80 70
    //    X 50 65
    //    X  X 90
    // AA = (70 + 65 + 90) / 3 = 75
    // BWT = ((70 - 60) + (65 - 50)) / 2 = 12.5
    // F = ((max(60, 80) - 70) + (max(50) - 65)) / 2 = (10 - 15) / 2 = -2.5
    // (task 1 peaked after task 2, so F and -BWT differ).
    const double a[] = {60, 80, 70, X, 50, 65, X, X, 90};
    cl_summary s = cl_summarize(a, 3);
    CHECK_NEAR(s.aa, 75.0, 1e-12);
    CHECK_NEAR(s.bwt, 12.5, 1e-12);
    CHECK_NEAR(s.forgetting, -2.5, 1e-12);
}

static void test_summary_4x4(void) {
    //   80 70 60 50
    //    X 90 95 85
    //    X  X 70 40
    //    X  X  X 88
    // AA = (50 + 85 + 40 + 88) / 4 = 65.75
    // BWT = ((50 - 80) + (85 - 90) + (40 - 70)) / 3 = -65 / 3
    // F = ((80 - 50) + (95 - 85) + (70 - 40)) / 3 = 70 / 3
    // (task 2's best is after task 3, not its own diagonal).
    const double a[] = {80, 70, 60, 50, X, 90, 95, 85, X, X, 70, 40, X, X, X, 88};
    cl_summary s = cl_summarize(a, 4);
    CHECK_NEAR(s.aa, 65.75, 1e-12);
    CHECK_NEAR(s.bwt, -65.0 / 3.0, 1e-12);
    CHECK_NEAR(s.forgetting, 70.0 / 3.0, 1e-12);
}

static void test_summary_one_task(void) {
    const double a[] = {42};
    cl_summary s = cl_summarize(a, 1);
    CHECK_NEAR(s.aa, 42.0, 1e-12);
    CHECK_NEAR(s.bwt, 0.0, 0);  // defined as 0: nothing learnt after it
    CHECK_NEAR(s.forgetting, 0.0, 0);
}

static void test_summary_no_forgetting(void) {
    const double a[] = {100, 100, X, 100};
    cl_summary s = cl_summarize(a, 2);
    CHECK_NEAR(s.aa, 100.0, 1e-12);
    CHECK_NEAR(s.bwt, 0.0, 1e-12);
    CHECK_NEAR(s.forgetting, 0.0, 1e-12);
}

// Adds `correct` right and `wrong` wrong predictions of task to t.
static void add(score_table *t, const char *task, int correct, int wrong) {
    for (int k = 0; k < correct + wrong; k++) score_add(t, task, k < correct, k < correct ? 1.0 : 0.0);
}

static void test_score_table(void) {
    score_table t = {0};
    add(&t, "b", 1, 3);
    add(&t, "a", 2, 0);
    score_add(&t, "b", true, 0.5);
    CHECK(t.n == 2);
    CHECK_STR(t.groups[0].name, "b");  // order of first appearance
    const score_group *b = score_find(&t, "b");
    CHECK(b && b->n == 5 && b->correct == 2);
    CHECK_NEAR(score_accuracy(b), 40.0, 1e-12);
    CHECK_NEAR(score_rouge1(b), 30.0, 1e-12);  // (1 + 0.5) / 5
    CHECK(score_find(&t, "c") == NULL);
    score_table_free(&t);
}

static void test_matrix_inferred_order(void) {
    // After task "dbpedia": dbpedia 3/4. After "yahoo": dbpedia 2/4, yahoo
    // 1/2, with yahoo listed first (the order inside a file does not matter).
    score_table f[2] = {{0}};
    add(&f[0], "dbpedia", 3, 1);
    add(&f[1], "yahoo", 1, 1);
    add(&f[1], "dbpedia", 2, 2);
    char *files[] = {"after1.jsonl", "after2.jsonl"};
    cl_matrix m = cl_matrix_build(f, files, 2, NULL, 0);
    CHECK(m.n == 2);
    CHECK_STR(m.tasks[0], "dbpedia");
    CHECK_STR(m.tasks[1], "yahoo");
    CHECK_NEAR(m.a[0], 75.0, 1e-12);
    CHECK_NEAR(m.a[1], 50.0, 1e-12);
    CHECK(isnan(m.a[2]));
    CHECK_NEAR(m.a[3], 50.0, 1e-12);
    cl_matrix_free(&m);
    for (int j = 0; j < 2; j++) score_table_free(&f[j]);
}

static void test_matrix_given_order(void) {
    // Every task evaluated after every step: with --tasks, the tasks not yet
    // trained are left out of the matrix.
    score_table f[2] = {{0}};
    add(&f[0], "a", 1, 0);
    add(&f[0], "b", 0, 1);
    add(&f[1], "a", 0, 1);
    add(&f[1], "b", 1, 0);
    char *files[] = {"1.jsonl", "2.jsonl"}, *order[] = {"a", "b"};
    cl_matrix m = cl_matrix_build(f, files, 2, order, 2);
    CHECK_NEAR(m.a[0], 100.0, 1e-12);
    CHECK_NEAR(m.a[1], 0.0, 1e-12);
    CHECK(isnan(m.a[2]));
    CHECK_NEAR(m.a[3], 100.0, 1e-12);
    cl_summary s = cl_summarize(m.a, m.n);
    CHECK_NEAR(s.aa, 50.0, 1e-12);
    CHECK_NEAR(s.bwt, -100.0, 1e-12);
    CHECK_NEAR(s.forgetting, 100.0, 1e-12);
    cl_matrix_free(&m);
    for (int j = 0; j < 2; j++) score_table_free(&f[j]);
}

int main(void) {
    RUN(test_summary_3x3);
    RUN(test_summary_4x4);
    RUN(test_summary_one_task);
    RUN(test_summary_no_forgetting);
    RUN(test_score_table);
    RUN(test_matrix_inferred_order);
    RUN(test_matrix_given_order);
    return test_summary();
}
