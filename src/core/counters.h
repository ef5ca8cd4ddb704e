/* Counters: kept per thread cache with plain adds, summed over every cache
 * ever made when someone asks (counters.c). */
#ifndef MPOOL_COUNTERS_H
#define MPOOL_COUNTERS_H

#include "core/types.h"

/* Activity of threads without a cache (exiting or bootstrapping). */
typedef struct mp_shared_counters {
    _Atomic uint64_t class_frees[MP_NUM_CLASSES];
    _Atomic uint64_t fallback_allocs, fallback_frees;
    _Atomic uint64_t fallback_bytes_in, fallback_bytes_out;
    _Alignas(MP_CACHELINE) _Atomic int64_t active_bytes; /* folded at slow paths */
    _Atomic int64_t peak_active_bytes;                    /* max of active_bytes */
} mp_shared_counters_t;

typedef struct mp_totals {
    uint64_t allocs, frees, reuses, active_blocks, active_bytes, mapped_bytes;
    uint64_t released_bytes; /* given back to the OS so far, in total (reclaim.c) */
    uint64_t peak_active_bytes, alloc_ns, reuse_ns;
    uint64_t class_allocs[MP_NUM_CLASSES], class_frees[MP_NUM_CLASSES];
    uint64_t class_fresh[MP_NUM_CLASSES];
    uint64_t fallback_allocs, fallback_frees, fallback_bytes;
    uint64_t fallback_cached_bytes; /* freed huge blocks kept for reuse (fallback/) */
    uint64_t threads_started, threads_exited;
} mp_totals_t;

extern mp_shared_counters_t mp_shared MP_HIDDEN;
void mp_counters_add_active(int64_t delta) MP_HIDDEN; /* fold bytes; track the peak */
/* A thread took (+) or gave back (-) bytes from the shared pools. */
static inline void mp_counters_held(mp_tcache_t *tc, int64_t bytes)
{
    tc->pending += bytes;
    if (MP_UNLIKELY(tc->pending >= MP_PUBLISH_BYTES || tc->pending <= -MP_PUBLISH_BYTES)) {
        mp_counters_add_active(tc->pending);
        tc->pending = 0;
    }
}
unsigned mp_counters_recent(uint32_t *out, unsigned cap) MP_HIDDEN; /* newest last */
void mp_counters_collect(mp_totals_t *t) MP_HIDDEN;

#endif
