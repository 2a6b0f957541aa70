// fit.h: encode a prompt within a token budget by shortening its passage only,
// never the instruction head before it or the "\nAnswer:" tail after it.
#ifndef DEAL_FIT_H
#define DEAL_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

// Encodes prompt (passage = bytes [passage_start, passage_end)) into at most
// budget ids. If the whole prompt is too long, keeps the longest prefix of the
// passage (cut at a UTF-8 character boundary) for which head + prefix + tail
// fits, and sets *truncated. Returns NULL if head and tail alone exceed budget.
int32_t *encode_to_fit(const tokenizer *t, const char *prompt, size_t passage_start, size_t passage_end,
                       size_t budget, size_t *n, bool *truncated);

#endif
