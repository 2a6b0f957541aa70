// tokens.h: the records of a "tokens" stream (deal-tokenize's output, the
// input of deal-train and deal-predict), and the two sequence conventions.
//
//   t5     (encoder-decoder) source = prompt ids + </s>; target = label ids + </s>;
//          the decoder starts from pad.
//   llama  (decoder-only)    source = <|begin_of_text|> + prompt ids; target =
//          label ids + eos. The model reads source ++ target; the target (the
//          only part the loss sees) starts at index len(source).
#ifndef DEAL_TOKENS_H
#define DEAL_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"

typedef enum { CONVENTION_T5, CONVENTION_LLAMA } convention;

const char *convention_name(convention c);
// Parses "t5" or "llama"; returns false for anything else.
bool convention_parse(const char *s, convention *c);

// What a tokens stream says about how it was made: enough for a model to
// refuse tokens from another tokenizer.
typedef struct {
    char *task, *split;  // copied from the examples header
    char *tokenizer_type;  // "sentencepiece" or "bpe"
    char *tokenizer_fingerprint;  // 16 hex digits, tokenizer_fingerprint()
    int64_t vocab_size;
    convention conv;
    int64_t bos_id, eos_id, pad_id, decoder_start_id;  // -1 where none
    int64_t max_source, max_target;
} tokens_header;

typedef struct {
    char *id, *task, *dataset, *split;
    char *label;  // the target text
    int32_t *source, *target;
    size_t n_source, n_target;
    bool truncated;  // the passage was shortened to fit max_source
} token_record;

void tokens_write_header(msgpack_packer *pk, const tokens_header *h);
void tokens_read_header(const stream_reader *r, tokens_header *h);
void tokens_header_free(tokens_header *h);
void token_record_write(msgpack_packer *pk, const token_record *t);
// Reads the next record (fresh arrays and strings); 0 at the end. Every id
// must lie in [0, vocab_size): never trust ids read from input.
int token_record_read(stream_reader *r, const tokens_header *h, token_record *t);
void token_record_free(token_record *t);

// A whole tokens stream in memory (a task's examples: thousands, not millions).
typedef struct {
    tokens_header h;
    token_record *r;
    size_t n;
} token_set;
// Reads every record of path ("-" = stdin); dies on any bad record.
token_set token_set_read(const char *path);
void token_set_free(token_set *s);

#endif
