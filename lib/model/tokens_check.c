// tokens_check.c: convention, vocabulary size and tokenizer fingerprint.
#include "model/tokens_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

tokenizer *tokens_check_model(const tokens_header *h, const model *m, const char *dir, const char *src) {
    convention want = m->cfg.arch == ARCH_T5 ? CONVENTION_T5 : CONVENTION_LLAMA;
    if (h->conv != want)
        die("%s: tokens in the %s convention, but %s is a %s model (run deal-tokenize --model %s)", src,
            convention_name(h->conv), dir, m->cfg.model_type, dir);
    if (h->vocab_size > m->cfg.vocab_size)
        die("%s: tokens from a vocabulary of %lld, the model has %d", src, (long long)h->vocab_size, m->cfg.vocab_size);
    char *path = tokenizer_path_in(dir);
    if (!path) {
        warn("%s has no tokenizer file: cannot check that %s was tokenized for it", dir, src);
        return NULL;
    }
    tokenizer *t = tokenizer_load(path);
    char fp[17];
    snprintf(fp, sizeof fp, "%016" PRIx64, tokenizer_fingerprint(t));
    if (strcmp(fp, h->tokenizer_fingerprint) != 0)
        die("%s: made with another tokenizer (fingerprint %s) than %s's %s (%s); run deal-tokenize --model %s", src,
            h->tokenizer_fingerprint, dir, path, fp, dir);
    free(path);
    return t;
}
