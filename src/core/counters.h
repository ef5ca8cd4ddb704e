/* Counters: kept per thread cache with plain adds, summed over every cache
 * ever made when someone asks (counters.c). */
#ifndef MPOOL_COUNTERS_H
#define MPOOL_COUNTERS_H

#include "core/types.h"

/* Where a counter shows in the dump (counters.def's section column). */
enum { MP_SECTION_top, MP_SECTION_totals, MP_SECTION_fallback, MP_SECTION_threads,
       MP_SECTION_hidden };

/* The shared counters: counters.def's PER_THREAD rows for threads without a
 * cache (exiting or bootstrapping), its GLOBAL rows, the per-class frees of
 * such threads, and the active bytes with their peak. */
#define MP_SHARED_FIELD_PER_THREAD(id) _Atomic uint64_t id;
#define MP_SHARED_FIELD_GLOBAL(id) _Atomic uint64_t id;
#define MP_SHARED_FIELD_DERIVED(id)
typedef struct mp_shared_counters {
#define MP_COUNTER(id, kind, section, key, label, metric) MP_SHARED_FIELD_##kind(id)
#include "core/counters.def"
#undef MP_COUNTER
    _Atomic uint64_t class_frees[MP_NUM_CLASSES];
    _Alignas(MP_CACHELINE) _Atomic int64_t active_bytes; /* folded at slow paths */
    _Atomic int64_t peak_active_bytes;                    /* max of active_bytes */
} mp_shared_counters_t;

/* Every counter's total (one field per row of counters.def), and the
 * per-class figures. */
typedef struct mp_totals {
#define MP_COUNTER(id, kind, section, key, label, metric) uint64_t id;
#include "core/counters.def"
#undef MP_COUNTER
    uint64_t class_allocs[MP_NUM_CLASSES], class_frees[MP_NUM_CLASSES];
    uint64_t class_fresh[MP_NUM_CLASSES];
} mp_totals_t;

extern mp_shared_counters_t mp_shared MP_HIDDEN;

/* Count n more of counters.def's row id: by the thread that owns tc (a
 * plain add), or in the shared counters (an atomic add: threads without a
 * cache, GLOBAL rows). */
#define mp_count(tc, id, n) ((void)((tc)->counters.id += (n)))
#define mp_count_shared(id, n) \
    ((void)atomic_fetch_add_explicit(&mp_shared.id, (n), memory_order_relaxed))

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
