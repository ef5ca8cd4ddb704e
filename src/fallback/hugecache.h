/* Freed huge fallback blocks kept whole for reuse (private to fallback/;
 * hugecache.c says why).  Every function but release runs inside the
 * caller's signal guard (jemalloc.h); none calls back into fallback.c. */
#ifndef MPOOL_HUGECACHE_H
#define MPOOL_HUGECACHE_H

#include "base/base.h"

#define MP_HUGE_MIN ((size_t)4 << 20) /* below this, jemalloc's own decay serves */

/* What a take did besides handing out a block, for the caller to settle
 * with the arena. */
typedef struct mp_huge_effects {
    size_t dirtied; /* bytes cut off a cached block, now dirty in jemalloc */
    bool gave_up;   /* none fitted or grew: every cached block went back; purge */
} mp_huge_effects_t;

/* A cached block for n bytes (p & (align - 1) == 0), grown or cut in place,
 * its first n bytes zeroed if asked; NULL if none fits. */
void *mp_huge_take(size_t n, size_t align, int flags, bool zero, size_t *usable,
                   mp_huge_effects_t *fx) MP_HIDDEN;
/* Keep the freed block p if it is among the biggest; returns the block that
 * is not kept (p, an evicted one, or NULL) for the caller to free, and its
 * usable size in *left_usable. */
void *mp_huge_put(void *p, size_t usable, size_t *left_usable) MP_HIDDEN;
size_t mp_huge_release(bool all) MP_HIDDEN; /* the expired blocks, or all: bytes (takes the guard) */
size_t mp_huge_shed(size_t bytes) MP_HIDDEN;  /* release up to bytes of cached pages */
/* Before jemalloc serves n (< MP_HUGE_MIN): the smallest cached block goes to
 * it, dirty (returns its resident bytes), or released if jemalloc would not
 * split it for n (returns 0). */
size_t mp_huge_yield(size_t n) MP_HIDDEN;
size_t mp_huge_cached_bytes(void) MP_HIDDEN;
void mp_huge_fork_prepare(void) MP_HIDDEN;
void mp_huge_fork_parent(void) MP_HIDDEN;
void mp_huge_fork_child(void) MP_HIDDEN;

#endif
