// arena.c: a bump allocator over backend memory.
#include "nn/arena.h"

#include <stdlib.h>

#include "base/util.h"

#define MIN_BLOCK ((size_t)1 << 20)  // floats
#define ALIGN 16  // floats (64 bytes)

struct arena_block {
    arena_block *next;
    float *data;
    size_t size, used;
};

void arena_init(arena *a, const backend *be) { *a = (arena){.be = be}; }

static void push_block(arena *a, size_t size) {
    arena_block *b = xcalloc(1, sizeof *b);
    b->data = a->be->alloc(size);
    b->size = size;
    b->next = a->blocks;
    a->blocks = b;
}

float *arena_alloc(arena *a, size_t n) {
    n = (n + ALIGN - 1) / ALIGN * ALIGN;
    if (!a->blocks || a->blocks->size - a->blocks->used < n) push_block(a, n > MIN_BLOCK ? n : MIN_BLOCK);
    float *p = a->blocks->data + a->blocks->used;
    a->blocks->used += n;
    a->used_total += n;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

float *arena_alloc_zero(arena *a, size_t n) {
    float *p = arena_alloc(a, n);
    a->be->zero(p, n);
    return p;
}

static void free_blocks(arena *a) {
    while (a->blocks) {
        arena_block *b = a->blocks;
        a->blocks = b->next;
        a->be->release(b->data);
        free(b);
    }
}

void arena_reset(arena *a) {
    if (a->blocks && a->blocks->next) {  // several blocks: consolidate into one
        free_blocks(a);
        push_block(a, a->peak);
    }
    if (a->blocks) a->blocks->used = 0;
    a->used_total = 0;
}

arena_mark arena_get_mark(const arena *a) {
    return (arena_mark){a->blocks, a->blocks ? a->blocks->used : 0, a->used_total};
}

void arena_rewind(arena *a, arena_mark mark) {
    while (a->blocks != mark.block) {  // blocks added since the mark
        arena_block *b = a->blocks;
        a->blocks = b->next;
        a->be->release(b->data);
        free(b);
    }
    if (a->blocks) a->blocks->used = mark.used;
    a->used_total = mark.used_total;
}

void arena_free(arena *a) {
    free_blocks(a);
    *a = (arena){0};
}
