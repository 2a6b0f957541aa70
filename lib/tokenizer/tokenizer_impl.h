// tokenizer_impl.h: what tokenizer.c shares with its two back ends, bpe.c and
// the C++ shim sentencepiece.cc. Not part of the public interface.
#ifndef DEAL_TOKENIZER_IMPL_H
#define DEAL_TOKENIZER_IMPL_H

#include "tokenizer/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

// What a back end reports about the vocabulary it loaded.
typedef struct {
    int32_t vocab_size, bos, eos, pad, unk;  // -1 where absent
    uint64_t fingerprint;
} tokenizer_info;

// A back end's functions. load dies (through tokenizer_load_fail) if the file
// cannot be used; decode gets ids already checked to lie in [0, vocab_size)
// and returns raw bytes (made valid UTF-8 by tokenizer.c), length in *len.
typedef struct {
    const char *name;
    void *(*load)(const char *path, tokenizer_info *info);
    void (*free)(void *impl);
    int32_t *(*encode)(const void *impl, const char *text, size_t len, size_t *n);
    char *(*decode)(const void *impl, const int32_t *ids, size_t n, bool skip_special, size_t *len);
    int32_t (*piece_to_id)(const void *impl, const char *piece);
} tokenizer_ops;

extern const tokenizer_ops bpe_ops;  // bpe.c
extern const tokenizer_ops sp_ops;   // sentencepiece.cc

// Dies with "cannot load tokenizer PATH: <message>".
__attribute__((noreturn, format(printf, 2, 3))) void tokenizer_load_fail(const char *path,
                                                                         const char *fmt, ...);

// Adds one piece (the next id's) to a vocabulary fingerprint: FNV-1a over its
// bytes and a 0 separator. Both back ends use it, so fingerprints compare.
uint64_t tokenizer_fingerprint_piece(uint64_t h, const char *piece, size_t len);

// Trains a SentencePiece unigram model (sentencepiece.cc); returns the
// serialized model, size in *len. Dies with a clear message on failure.
char *sp_train(char *const *texts, size_t n_texts, int vocab_size, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
