// tokenizer.h: one interface over the two tokenizer families we support.
//   - SentencePiece models (T5's spiece.model, LLaMA-2 style), through a small
//     C++ shim over libsentencepiece (sentencepiece.cc);
//   - Hugging Face tokenizer.json of byte-level BPE type (Llama-3), natively
//     (bpe.c; PCRE2 for the pre-tokenizer's split regex).
#ifndef DEAL_TOKENIZER_H
#define DEAL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;

// Loads a tokenizer from a file: "*.model" is SentencePiece, "*.json" is a HF
// tokenizer.json. Dies naming the file if it cannot be loaded.
tokenizer *tokenizer_load(const char *path);
void tokenizer_free(tokenizer *t);
// The tokenizer file of a Hugging Face model folder: spiece.model (T5 folders
// also carry a Unigram tokenizer.json; the SentencePiece model is the
// original), else tokenizer.json, else tokenizer.model. NULL if none; the
// caller frees the path.
char *tokenizer_path_in(const char *dir);

// "sentencepiece" or "bpe".
const char *tokenizer_type(const tokenizer *t);
int32_t tokenizer_vocab_size(const tokenizer *t);
// Special ids, -1 where the tokenizer has none.
int32_t tokenizer_bos_id(const tokenizer *t);
int32_t tokenizer_eos_id(const tokenizer *t);
int32_t tokenizer_pad_id(const tokenizer *t);
int32_t tokenizer_unk_id(const tokenizer *t);
// The id of a token given by its text (e.g. "<|eot_id|>"), or -1.
int32_t tokenizer_piece_to_id(const tokenizer *t, const char *piece);
// A fingerprint of the vocabulary (every piece, in id order): two tokenizers
// with the same fingerprint map text to the same ids.
uint64_t tokenizer_fingerprint(const tokenizer *t);

// Encodes text (len bytes, UTF-8) without adding special tokens. Returns a
// fresh array (caller frees); count in *n.
int32_t *tokenizer_encode(const tokenizer *t, const char *text, size_t len, size_t *n);
// Decodes ids to a fresh NUL-terminated UTF-8 string; with skip_special,
// control/special tokens (pad, eos, bos, added special tokens) are left out.
char *tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special);

// Trains a SentencePiece unigram model of vocab_size pieces from the given
// texts and writes it to out_path atomically. T5 conventions for the special
// ids: pad 0, eos 1, unk 2, no bos. Characters the texts lack are spelled as
// their UTF-8 bytes (byte fallback: 256 of the pieces), so any text decodes
// back exactly. Dies with a clear message if vocab_size is too small for the
// texts' characters plus the bytes, or too large for what the texts hold.
void tokenizer_train_sentencepiece(char *const *texts, size_t n_texts, int vocab_size,
                                   const char *out_path);

#endif
