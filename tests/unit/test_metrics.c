// Unit tests of lib/eval/metrics.c: normalisation, exact match and ROUGE-1.
// The ROUGE-1 values were worked out by hand and agree with Google's
// rouge_score (RougeScorer(["rouge1"], use_stemmer=True)).
#include "../test.h"

#include "eval/metrics.h"

static void check_normalized(const char *in, const char *want) {
    char *got = normalize_answer(in);
    CHECK_STR(got, want);
    free(got);
}

static void test_normalize(void) {
    check_normalized("Positive", "positive");
    check_normalized("  Hello,   World!  ", "hello world");  // trimmed, one space
    check_normalized("a\tb\r\nc", "a b c");                   // every ASCII space
    check_normalized("not_entailment", "notentailment");      // '_' is punctuation
    check_normalized("e-mail", "email");                       // dropped, not a space
    check_normalized("a - b", "a b");
    check_normalized("?!.", "");
    check_normalized("", "");
    check_normalized("CAFÉ Olé", "cafÉ olé");  // UTF-8 bytes are kept as they are
}

static void test_exact_match(void) {
    CHECK(exact_match("Sports", " sports."));
    CHECK(exact_match("World News", "world  news"));
    CHECK(exact_match("", "!"));
    CHECK(!exact_match("entailment", "not entailment"));
    CHECK(!exact_match("Sports", "Sport"));  // no stemming here
}

static void test_rouge1_identical_and_disjoint(void) {
    CHECK_NEAR(rouge1_f("Business", "business"), 1.0, 1e-12);
    CHECK_NEAR(rouge1_f("World Cup 2010", "world, cup: 2010!"), 1.0, 1e-12);
    CHECK_NEAR(rouge1_f("yes", "no"), 0.0, 1e-12);
}

static void test_rouge1_stemming(void) {
    // label {run, dog}, prediction {the, dog, run}: overlap 2,
    // P = 2/3, R = 2/2, F = 2 * (2/3) / (5/3) = 0.8.
    CHECK_NEAR(rouge1_f("running dogs", "the dog runs"), 0.8, 1e-12);
    CHECK_NEAR(rouge1_f("runs", "run"), 1.0, 1e-12);
    // Tokens of 3 characters or fewer are not stemmed: Porter would make
    // "was" "wa".
    CHECK_NEAR(rouge1_f("was", "wa"), 0.0, 1e-12);
}

static void test_rouge1_tokens(void) {
    // "don't" is "don" "t": {don, t, stop} vs {do, not, stop}: overlap 1,
    // P = R = 1/3, F = 1/3.
    CHECK_NEAR(rouge1_f("don't stop", "do not stop"), 1.0 / 3.0, 1e-12);
    // Non-ASCII letters separate tokens: "Café" is "caf", "cafe" is "cafe".
    CHECK_NEAR(rouge1_f("Café", "cafe"), 0.0, 1e-12);
}

static void test_rouge1_clipping(void) {
    // label {the, cat}, prediction {the x3, cat}: "the" counts once,
    // overlap 2, P = 2/4, R = 2/2, F = 2 * 0.5 / 1.5 = 2/3.
    CHECK_NEAR(rouge1_f("the cat", "the the the cat"), 2.0 / 3.0, 1e-12);
    // label {a, a, b}, prediction {a}: overlap 1, P = 1, R = 1/3, F = 0.5.
    CHECK_NEAR(rouge1_f("a a b", "a"), 0.5, 1e-12);
    // Symmetric in its arguments: F does not care which side is the label.
    CHECK_NEAR(rouge1_f("a", "a a b"), 0.5, 1e-12);
}

static void test_rouge1_empty(void) {
    CHECK_NEAR(rouge1_f("", ""), 0.0, 1e-12);  // as rouge_score
    CHECK_NEAR(rouge1_f("yes", ""), 0.0, 1e-12);
    CHECK_NEAR(rouge1_f("", "yes"), 0.0, 1e-12);
    CHECK_NEAR(rouge1_f("?!", "..."), 0.0, 1e-12);  // no token on either side
}

int main(void) {
    RUN(test_normalize);
    RUN(test_exact_match);
    RUN(test_rouge1_identical_and_disjoint);
    RUN(test_rouge1_stemming);
    RUN(test_rouge1_tokens);
    RUN(test_rouge1_clipping);
    RUN(test_rouge1_empty);
    return test_summary();
}
