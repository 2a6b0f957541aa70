// tokens_check.h: refuse a tokens stream made for another model.
#ifndef DEAL_TOKENS_CHECK_H
#define DEAL_TOKENS_CHECK_H

#include "data/tokens.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

// Dies (naming src) if the stream's convention does not fit the model's
// architecture, its vocabulary is larger than the model's, or it was made with
// another tokenizer than the one in the model folder dir. Returns that
// tokenizer (the caller frees it), or NULL with a warning if dir has none.
tokenizer *tokens_check_model(const tokens_header *h, const model *m, const char *dir, const char *src);

#endif
