// strmap.c: linear probing over a power-of-two slot table that holds indices
// into an entry array; key bytes live in one growing arena. The table is kept
// at most half full, so probes stay short.
#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    uint64_t hash;
    size_t off, len;  // key bytes in the arena
    int64_t value;
} entry;

struct strmap {
    int32_t *slots;  // entry index, or -1 for an empty slot
    size_t n_slots;  // a power of two
    entry *entries;
    size_t n_entries, cap_entries;
    char *keys;
    size_t keys_len, keys_cap;
};

// FNV-1a spreads poorly into the low bits used as the slot index; a final
// mix (MurmurHash3's fmix64) fixes that.
static uint64_t hash_key(const void *key, size_t len) {
    uint64_t h = fnv1a64(FNV1A64_INIT, key, len);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static void alloc_slots(strmap *m, size_t n_slots) {
    m->slots = xmalloc(n_slots * sizeof *m->slots);
    memset(m->slots, 0xff, n_slots * sizeof *m->slots);
    m->n_slots = n_slots;
}

strmap *strmap_new(void) {
    strmap *m = xcalloc(1, sizeof *m);
    alloc_slots(m, 64);
    return m;
}

void strmap_free(strmap *m) {
    if (!m) return;
    free(m->slots);
    free(m->entries);
    free(m->keys);
    free(m);
}

size_t strmap_size(const strmap *m) { return m->n_entries; }

// The slot holding key, or the empty slot where it would go.
static size_t find_slot(const strmap *m, const void *key, size_t len, uint64_t hash) {
    size_t mask = m->n_slots - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        int32_t e = m->slots[i];
        if (e < 0) return i;
        const entry *en = &m->entries[e];
        if (en->hash == hash && en->len == len &&
            (len == 0 || memcmp(m->keys + en->off, key, len) == 0))
            return i;
    }
}

static void grow_slots(strmap *m) {
    free(m->slots);
    alloc_slots(m, m->n_slots * 2);
    size_t mask = m->n_slots - 1;
    for (size_t e = 0; e < m->n_entries; e++) {
        size_t i = m->entries[e].hash & mask;
        while (m->slots[i] >= 0) i = (i + 1) & mask;
        m->slots[i] = (int32_t)e;
    }
}

bool strmap_put(strmap *m, const void *key, size_t len, int64_t value) {
    uint64_t hash = hash_key(key, len);
    size_t slot = find_slot(m, key, len, hash);
    if (m->slots[slot] >= 0) {
        m->entries[m->slots[slot]].value = value;
        return false;
    }
    if (m->n_entries >= INT32_MAX) die_internal("hash map too large");
    if (m->n_entries == m->cap_entries) {
        m->cap_entries = m->cap_entries ? 2 * m->cap_entries : 64;
        m->entries = xrealloc(m->entries, m->cap_entries * sizeof *m->entries);
    }
    if (m->keys_len + len > m->keys_cap) {
        while (m->keys_len + len > m->keys_cap) m->keys_cap = m->keys_cap ? 2 * m->keys_cap : 1024;
        m->keys = xrealloc(m->keys, m->keys_cap);
    }
    if (len) memcpy(m->keys + m->keys_len, key, len);
    m->entries[m->n_entries] = (entry){hash, m->keys_len, len, value};
    m->keys_len += len;
    m->slots[slot] = (int32_t)m->n_entries++;
    if (2 * m->n_entries > m->n_slots) grow_slots(m);
    return true;
}

bool strmap_get(const strmap *m, const void *key, size_t len, int64_t *value) {
    int32_t e = m->slots[find_slot(m, key, len, hash_key(key, len))];
    if (e < 0) return false;
    *value = m->entries[e].value;
    return true;
}
