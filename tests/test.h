// test.h: a minimal unit-test harness. Each test file defines test functions,
// runs them with RUN(fn) from main, and returns test_summary(). A failed CHECK
// reports file:line and the expression, and the test goes on to the next check.
#ifndef DEAL_TEST_H
#define DEAL_TEST_H

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

static int test_failures_in_current, test_skipped_current;
static int tests_passed, tests_failed, tests_skipped;

// Marks the running test as skipped (e.g. shared data absent) and says why.
#define SKIP(why)                                                                \
    do {                                                                         \
        fprintf(stderr, "  skipped: %s\n", (why));                               \
        test_skipped_current = 1;                                                \
        return;                                                                  \
    } while (0)

// The folder holding the project's shared data (../shared beside the clone;
// tests/run.sh exports DEAL_SHARED). Returns NULL if unset.
static inline const char *test_shared_dir(void) {
    const char *d = getenv("DEAL_SHARED");
    return d && *d ? d : NULL;
}

// bf16 products (--bf16) exist where oneDNN has them: CPUs with AVX-512.
#define SKIP_WITHOUT_BF16_PRODUCTS()                                                   \
    do {                                                                               \
        if (!__builtin_cpu_supports("avx512bw")) SKIP("no AVX-512 on this CPU: no bf16 products"); \
    } while (0)

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            test_failures_in_current++;                                          \
        }                                                                        \
    } while (0)

#define CHECK_STR(a, b)                                                          \
    do {                                                                         \
        const char *a_ = (a), *b_ = (b);                                         \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                 \
            fprintf(stderr, "  %s:%d: CHECK_STR failed:\n    got:  \"%s\"\n    want: \"%s\"\n", \
                    __FILE__, __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
            test_failures_in_current++;                                          \
        }                                                                        \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                    \
    do {                                                                         \
        double a_ = (a), b_ = (b);                                               \
        if (!(fabs(a_ - b_) <= (tol))) {                                         \
            fprintf(stderr, "  %s:%d: CHECK_NEAR failed: %s = %.9g, want %.9g (tol %g)\n", \
                    __FILE__, __LINE__, #a, a_, b_, (double)(tol));              \
            test_failures_in_current++;                                          \
        }                                                                        \
    } while (0)

#define RUN(fn)                                                                  \
    do {                                                                         \
        test_failures_in_current = 0;                                            \
        test_skipped_current = 0;                                                \
        fn();                                                                    \
        if (test_skipped_current && !test_failures_in_current) {                 \
            tests_skipped++;                                                     \
            fprintf(stderr, "skip %s\n", #fn);                                   \
        } else if (test_failures_in_current) {                                          \
            tests_failed++;                                                      \
            fprintf(stderr, "FAIL %s\n", #fn);                                   \
        } else {                                                                 \
            tests_passed++;                                                      \
            fprintf(stderr, "ok   %s\n", #fn);                                   \
        }                                                                        \
    } while (0)

// Runs fn(arg) in a child process (for code that dies on bad input) and
// returns 1 if the child exited non-zero and its stderr contains needle.
static inline int dies_with(void (*fn)(void *), void *arg, const char *needle) {
    int fds[2];
    if (pipe(fds) != 0) return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
#ifdef __SANITIZE_ADDRESS__
        __lsan_disable();  // what a death leaves allocated is not a leak
#endif
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    char err[4096], rest[4096];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof err - 1 && (got = read(fds[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)got;
    err[n] = '\0';
    while (read(fds[0], rest, sizeof rest) > 0) {  // the rest unread, but drained: a full pipe would stall the child
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    int failed = WIFEXITED(status) && WEXITSTATUS(status) != 0;
    if (!failed || !strstr(err, needle)) {
        fprintf(stderr, "  dies_with: exit %d, stderr \"%s\", wanted a failure mentioning \"%s\"\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, err, needle);
        return 0;
    }
    return 1;
}

// Prints the counts in the form tests/run.sh collects and returns the exit code.
static inline int test_summary(void) {
    printf("unit: %d passed, %d failed, %d skipped\n", tests_passed, tests_failed, tests_skipped);
    return tests_failed ? 1 : 0;
}

#endif
