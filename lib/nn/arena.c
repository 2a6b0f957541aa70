// arena.c: a bump allocator over backend memory. Rewinding only moves the bump
// pointer back; blocks are kept until the next reset, which, after a step that
// needed several, keeps only the largest, grown if need be to hold the largest
// step so far and a quarter more (so that slowly growing steps do not resize
// every time). Once the largest step has been seen, steps allocate nothing.
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
    a->used_total += n;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

float *arena_alloc_zero(arena *a, size_t n) {
    float *p = arena_alloc(a, n);
    a->be->zero(p, n);
    return p;
}

void arena_reset(arena *a) {
    if (a->blocks && a->blocks->next) {  // the step needed several blocks: keep the largest, resized
        arena_block **keep = &a->blocks;
        for (arena_block **b = &a->blocks; *b; b = &(*b)->next)
            if ((*b)->size > (*keep)->size) keep = b;
        arena_block *big = *keep;
        *keep = big->next;
        free_blocks(a);
        size_t want = a->peak + a->peak / 4;
        if (big->size < want) big->data = a->be->resize(big->data, big->size = want);
        big->next = NULL;
        a->blocks = big;
    }
    a->cur = a->blocks;
    if (a->cur) a->cur->used = 0;
    a->used_total = 0;
}

arena_mark arena_get_mark(const arena *a) {
    return (arena_mark){a->cur, a->cur ? a->cur->used : 0, a->used_total};
}

void arena_rewind(arena *a, arena_mark mark) {
    if (!mark.block) {
        arena_reset(a);
        return;
    }
    a->cur = mark.block;
    a->cur->used = mark.used;
    a->used_total = mark.used_total;
}

void arena_free(arena *a) {
    free_blocks(a);
    *a = (arena){0};
}
