// fit.c: passage truncation by binary search on the passage's length.
//
// Encoding head, passage and tail separately and cutting token lists would
// tokenize the seams differently from the whole prompt, and differently from
// how an untruncated prompt is tokenized. So we re-encode the real string
// head + passage[:k] + tail and search for the largest k that fits: the token
// count grows (nearly) monotonically with k, and only long records pay.
#include "tokenizer/fit.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static int32_t *encode_with_prefix(const tokenizer *t, const char *prompt, size_t ps, size_t pe, size_t k,
                                   char *scratch, size_t *n) {
    size_t tail = strlen(prompt + pe);
    memcpy(scratch, prompt, ps + k);
    memcpy(scratch + ps + k, prompt + pe, tail);
    return tokenizer_encode(t, scratch, ps + k + tail, n);
}

static int is_continuation(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

// A UTF-8 character boundary of s strictly between lo and hi, near their
// middle; hi if there is none.
static size_t boundary_between(const char *s, size_t lo, size_t hi) {
    size_t k = lo + (hi - lo) / 2;
    while (k > lo && is_continuation(s[k])) k--;
    if (k > lo) return k;
    for (k = lo + 1; k < hi && is_continuation(s[k]); k++) {}
    return k;
}

int32_t *encode_to_fit(const tokenizer *t, const char *prompt, size_t ps, size_t pe, size_t budget, size_t *n,
                       bool *truncated) {
    *truncated = false;
    int32_t *ids = tokenizer_encode(t, prompt, strlen(prompt), n);
    if (*n <= budget) return ids;
    free(ids);

    char *scratch = xmalloc(strlen(prompt) + 1);
    const char *passage = prompt + ps;
    size_t lo = 0, hi = pe - ps;  // invariant: prefix lo is the best known to fit; hi does not fit
    int32_t *best = encode_with_prefix(t, prompt, ps, pe, 0, scratch, n);
    if (*n > budget) {
        free(best);
        free(scratch);
        return NULL;
    }
    size_t best_n = *n;
    while (hi - lo > 1) {
        size_t mid = boundary_between(passage, lo, hi);
        if (mid >= hi) break;
        size_t m;
        int32_t *try = encode_with_prefix(t, prompt, ps, pe, mid, scratch, &m);
        if (m <= budget) {
            free(best);
            best = try, best_n = m, lo = mid;
        } else {
            free(try);
            hi = mid;
        }
    }
    free(scratch);
    *n = best_n;
    *truncated = true;
    return best;
}
