// metrics.h: how one prediction is scored against its label (deal-method.md,
// "Metrics"): exact match after normalisation, and ROUGE-1 F as Google's
// rouge_score computes it.
#ifndef DEAL_METRICS_H
#define DEAL_METRICS_H

#include <stdbool.h>

// Lower-cases (ASCII), drops ASCII punctuation, collapses runs of white space
// into one space and trims both ends. Bytes >= 0x80 (UTF-8) are kept as they
// are. Returns a fresh string (caller frees).
char *normalize_answer(const char *s);

// Exact match of the normalised strings.
bool exact_match(const char *label, const char *prediction);

// ROUGE-1 F in [0, 1]. Tokens: lower-cased maximal runs of [a-z0-9], Porter
// stemmed when longer than 3 characters; overlap counts each unigram at most
// as often as it occurs on both sides; F = 2PR / (P + R). 0 when either side
// has no token, both empty included (as rouge_score: it is a measure of
// overlap, and exact_match already rewards two empty strings).
double rouge1_f(const char *label, const char *prediction);

#endif
