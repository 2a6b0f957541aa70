// metrics.c: normalisation, exact match and ROUGE-1 (see metrics.h).
#include "eval/metrics.h"

#include <ctype.h>
#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// The ASCII classes are tested explicitly so that the result does not depend
// on the locale.
static bool is_ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static bool is_ascii_punct(unsigned char c) { return c < 0x80 && ispunct(c); }
static bool is_ascii_alnum(unsigned char c) { return c < 0x80 && isalnum(c); }

char *normalize_answer(const char *s) {
    char *out = xmalloc(strlen(s) + 1), *o = out;
    bool space = false;  // white space seen since the last kept character
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_ascii_punct(*p)) continue;
        if (is_ascii_space(*p)) {
            space = true;
            continue;
        }
        if (space && o > out) *o++ = ' ';  // never a leading space
        space = false;
        *o++ = *p < 0x80 ? (char)tolower(*p) : (char)*p;
    }
    *o = '\0';
    return out;
}

bool exact_match(const char *label, const char *prediction) {
    char *a = normalize_answer(label), *b = normalize_answer(prediction);
    bool same = strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

// One Porter stemmer for the process, made on first use (the tools score on
// one thread).
static struct sb_stemmer *porter(void) {
    static struct sb_stemmer *stemmer;
    if (!stemmer && !(stemmer = sb_stemmer_new("porter", NULL)))
        die_internal("cannot create the Porter stemmer (libstemmer)");
    return stemmer;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// rouge_score's tokenizer: lower-case, everything but [a-z0-9] becomes a
// separator, tokens longer than 3 characters are stemmed. The tokens come
// back sorted, so that counting the overlap is a merge.
static char **rouge_tokens(const char *s, size_t *n) {
    size_t len = strlen(s);
    char **tok = xmalloc((len / 2 + 1) * sizeof *tok);  // at most one per two bytes
    *n = 0;
    for (size_t i = 0; i < len;) {
        if (!is_ascii_alnum((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && is_ascii_alnum((unsigned char)s[i])) i++;
        char *t = xstrndup(s + start, i - start);
        for (char *c = t; *c; c++) *c = (char)tolower((unsigned char)*c);
        if (i - start > 3) {
            const sb_symbol *stem = sb_stemmer_stem(porter(), (const sb_symbol *)t, (int)(i - start));
            if (!stem) die_internal("out of memory in the Porter stemmer");
            free(t);
            t = xstrndup((const char *)stem, (size_t)sb_stemmer_length(porter()));
        }
        tok[(*n)++] = t;
    }
    qsort(tok, *n, sizeof *tok, cmp_str);
    return tok;
}

static void free_tokens(char **tok, size_t n) {
    for (size_t i = 0; i < n; i++) free(tok[i]);
    free(tok);
}

double rouge1_f(const char *label, const char *prediction) {
    size_t nl, np;
    char **l = rouge_tokens(label, &nl), **p = rouge_tokens(prediction, &np);
    // Walking both sorted lists pairs equal tokens one to one, which clips
    // each unigram's count to the smaller of its two counts.
    size_t overlap = 0;
    for (size_t i = 0, j = 0; i < nl && j < np;) {
        int c = strcmp(l[i], p[j]);
        if (c == 0) overlap++;
        if (c <= 0) i++;
        if (c >= 0) j++;
    }
    free_tokens(l, nl);
    free_tokens(p, np);
    if (overlap == 0) return 0.0;  // also covers an empty side
    double precision = (double)overlap / (double)np, recall = (double)overlap / (double)nl;
    return 2.0 * precision * recall / (precision + recall);
}
