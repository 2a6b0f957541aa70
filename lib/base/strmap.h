// strmap.h: a small open-addressing hash map from byte strings (with length,
// so any bytes, NUL included) to 64-bit values. Keys are copied in. Used for
// vocabularies (piece -> id) and, with two int32 packed into an 8-byte key,
// for BPE merges (pair -> rank and merged id).
#ifndef DEAL_STRMAP_H
#define DEAL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strmap strmap;

strmap *strmap_new(void);
void strmap_free(strmap *m);
size_t strmap_size(const strmap *m);

// Sets key -> value, replacing any earlier value; returns true if the key was new.
bool strmap_put(strmap *m, const void *key, size_t len, int64_t value);
// Looks key up: true and *value set if present, false otherwise.
bool strmap_get(const strmap *m, const void *key, size_t len, int64_t *value);

#endif
