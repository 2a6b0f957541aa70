// arena.c: a bump allocator over a chain of backend blocks. Rewinding only
// moves the bump pointer back; a reset starts again at the first block. Blocks
// are kept for later steps, so once the largest step has been seen steps
// allocate nothing. Each new block is at least as large as all before it, so
// a chain stays short. An allocation that does not fit in the rest of a block
// goes to the next one, leaving that rest unused in this step: on the CPU a
// block's pages are only faulted in when first written, so rests no step
// reaches cost address space, not memory. (Merging the chain into one larger
// block instead would fault much of a step's memory in a second time: 650 MB
// over one epoch of bench_train.sh's SmolLM2, 4% of its time.)
#include "nn/arena.h"

#include <stdlib.h>

#include "base/util.h"

#define MIN_BLOCK ((size_t)1 << 20)  // floats
#define ALIGN 16  // floats (64 bytes)

struct arena_block {
    arena_block *next;  // the next-newer block
    float *data;
    size_t size, used;
};

void arena_init(arena *a, const backend *be) { *a = (arena){.be = be}; }

// Appends a block after the last one.
static arena_block *push_block(arena *a, size_t size) {
    arena_block *b = xcalloc(1, sizeof *b), **end = &a->blocks;
    b->data = a->be->alloc(size);
    b->size = size;
    while (*end) end = &(*end)->next;
    *end = b;
    return b;
}

static void free_blocks(arena *a) {
    while (a->blocks) {
        arena_block *b = a->blocks;
        a->blocks = b->next;
        a->be->release(b->data);
        free(b);
    }
    a->cur = NULL;
}

float *arena_alloc(arena *a, size_t n) {
    n = (n + ALIGN - 1) / ALIGN * ALIGN;
    // Move on to the next kept block, or add one, when the current one is full.
    while (a->cur && a->cur->size - a->cur->used < n) {
        a->cur = a->cur->next;
        if (a->cur) a->cur->used = 0;
    }
    if (!a->cur) {  // a new block at least as large as all before it: few blocks in a first step
        size_t size = n > MIN_BLOCK ? n : MIN_BLOCK, have = 0;
        for (arena_block *b = a->blocks; b; b = b->next) have += b->size;
        a->cur = push_block(a, size > have ? size : have);
    }
    float *p = a->cur->data + a->cur->used;
    a->cur->used += n;
    return p;
}

float *arena_alloc_zero(arena *a, size_t n) {
    float *p = arena_alloc(a, n);
    a->be->zero(p, n);
    return p;
}

void arena_reset(arena *a) {
    a->cur = a->blocks;
    if (a->cur) a->cur->used = 0;
}

arena_mark arena_get_mark(const arena *a) {
    return (arena_mark){a->cur, a->cur ? a->cur->used : 0};
}

void arena_rewind(arena *a, arena_mark mark) {
    if (!mark.block) {
        arena_reset(a);
        return;
    }
    a->cur = mark.block;
    a->cur->used = mark.used;
}

void arena_free(arena *a) {
    free_blocks(a);
    *a = (arena){0};
}
