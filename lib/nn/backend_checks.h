// backend_checks.h: the argument checks every backend makes before its
// kernels run (host side). A failure is the caller's bug: die_internal.
#ifndef DEAL_BACKEND_CHECKS_H
#define DEAL_BACKEND_CHECKS_H

#include <stdint.h>

#include "base/util.h"

static inline void check_act(int act) {
    if (act < 0 || act > 2) die_internal("unknown activation %d", act);
}

static inline void check_heads(int H, int KVH) {
    if (H <= 0 || KVH <= 0 || H % KVH != 0) die_internal("attention: %d query heads over %d kv heads", H, KVH);
}

static inline void check_rope_head_size(int hs) {
    if (hs % 2 != 0) die_internal("rope: odd head size %d", hs);
}

static inline void check_targets(const int32_t *targets, int N, int V) {
    for (int n = 0; n < N; n++)
        if (targets[n] >= V)
            die_internal("cross_entropy: target %d of row %d is outside the vocabulary of %d", targets[n], n, V);
}

#endif
