// arena.h: per-step scratch memory (activations, their gradients) from one
// backend. Allocation is a pointer bump; reset() makes everything reusable at
// once. Pointers stay valid until the next reset: blocks are added, never
// moved, and kept for later steps, so steady-state steps never allocate.
#ifndef DEAL_ARENA_H
#define DEAL_ARENA_H

#include <stddef.h>

#include "nn/backend.h"

typedef struct arena_block arena_block;

typedef struct {
    const backend *be;
    arena_block *blocks;  // oldest first
    arena_block *cur;  // the block allocations come from
} arena;

void arena_init(arena *a, const backend *be);
// n floats, not zeroed (use alloc_zero for accumulators).
float *arena_alloc(arena *a, size_t n);
float *arena_alloc_zero(arena *a, size_t n);
void arena_reset(arena *a);
// A mark, and a rewind to it: frees everything allocated after the mark (for
// per-token scratch during generation).
typedef struct {
    arena_block *block;
    size_t used;
} arena_mark;
arena_mark arena_get_mark(const arena *a);
void arena_rewind(arena *a, arena_mark mark);
void arena_free(arena *a);

#endif
