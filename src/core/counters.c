/* Counters: kept per thread cache with plain adds on the fast path, summed
 * over every cache ever made when someone asks.  Reads race with the owners'
 * writes; each counter is a naturally aligned 64-bit word, so a read sees an
 * old or a new value, never a torn one, and totals are a consistent-enough
 * snapshot for reporting.  Nothing here locks or allocates: a dump from a
 * signal handler calls it.
 *
 * Peak active bytes: a thread's active bytes are what it took from the shared
 * pools (refills, fresh blocks) less what it gave back (flushes), less what
 * sits in its bins (at most two batches per class).  Refills and flushes add
 * their batch's bytes to the thread's pending sum, published to one shared
 * counter, raising the peak, once it passes MP_PUBLISH_BYTES either way.  No
 * counter arithmetic on the way, and no shared atomic per refill (one such
 * bounces its line between threads).  The peak is exact to
 * within, per thread, MP_PUBLISH_BYTES plus its bins.  Fallback blocks
 * (>= 64 KiB) publish at once. */
#include "core/counters.h"
#include "core/reclaim.h"
#include "core/region.h"
#include "core/sample.h"
#include "core/tcache.h"
#include "fallback/fallback.h"

#include <string.h>

mp_shared_counters_t mp_shared;

void mp_counters_add_active(int64_t delta)
{
    int64_t now = atomic_fetch_add_explicit(&mp_shared.active_bytes, delta, memory_order_relaxed) + delta;
    int64_t peak = atomic_load_explicit(&mp_shared.peak_active_bytes, memory_order_relaxed);
    while (now > peak && !atomic_compare_exchange_weak_explicit(&mp_shared.peak_active_bytes, &peak, now,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed))
        ;
}

/* The most recent sizes over every thread, newest last: each thread's ring
 * in turn, newest entries first, so a busy thread does not crowd out the
 * others entirely.  A ring's index wraps, so a cache's filled slots are
 * min(its allocations, 256), counted once per cache.  Called under the dump
 * lock (observe/dump.c), which owns the static scratch. */
MP_RACY_READER unsigned mp_counters_recent(uint32_t *out, unsigned cap)
{
    enum { MAX_CACHES = 4096 }; /* caches past this many are left out */
    static uint16_t filled[MAX_CACHES];
    static mp_tcache_t *cache[MAX_CACHES];
    unsigned ncache = 0;
    for (mp_tcache_t *tc = mp_tcache_all(); tc && ncache < MAX_CACHES; tc = tc->all_next) {
        uint64_t made = tc->counters.fallback_allocs;
        for (unsigned c = 1; c < mp_num_classes && made < MP_RECENT; c++)
            made += mp_sample_allocs(tc, c);
        if (made) {
            filled[ncache] = (uint16_t)(made < MP_RECENT ? made : MP_RECENT);
            cache[ncache++] = tc;
        }
    }
    unsigned n = 0;
    for (unsigned depth = 1; depth <= MP_RECENT && n < cap; depth++) {
        bool any = false;
        for (unsigned i = 0; i < ncache && n < cap; i++) {
            if (filled[i] < depth)
                continue;
            uint8_t pos = __atomic_load_n(&cache[i]->recent_pos, __ATOMIC_RELAXED);
            out[n++] = __atomic_load_n(&cache[i]->recent[(uint8_t)(pos - depth)], __ATOMIC_RELAXED);
            any = true;
        }
        if (!any)
            break;
    }
    for (unsigned i = 0; i < n / 2; i++) { /* newest last */
        uint32_t t = out[i];
        out[i] = out[n - 1 - i];
        out[n - 1 - i] = t;
    }
    return n;
}

/* Summing counters.def's rows: a thread's own (PER_THREAD), then the shared
 * ones (PER_THREAD's share of threads without a cache, and GLOBAL). */
#define SUM_OWN_PER_THREAD(id) t->id += __atomic_load_n(&tc->counters.id, __ATOMIC_RELAXED);
#define SUM_OWN_GLOBAL(id)
#define SUM_OWN_DERIVED(id)
#define SUM_SHARED_PER_THREAD(id) t->id += atomic_load_explicit(&mp_shared.id, memory_order_relaxed);
#define SUM_SHARED_GLOBAL(id) SUM_SHARED_PER_THREAD(id)
#define SUM_SHARED_DERIVED(id)

MP_RACY_READER void mp_counters_collect(mp_totals_t *t)
{
    memset(t, 0, sizeof *t);
    double alloc_ns = 0, reuse_ns = 0;
    for (mp_tcache_t *tc = mp_tcache_all(); tc; tc = tc->all_next) {
        for (unsigned c = 1; c < mp_num_classes; c++) {
            const mp_bin_t *b = &tc->bins[c];
            t->class_allocs[c] += mp_sample_allocs(tc, c);
            t->class_frees[c] += __atomic_load_n(&b->frees, __ATOMIC_RELAXED);
            t->class_fresh[c] += __atomic_load_n(&tc->bump[c].fresh, __ATOMIC_RELAXED);
        }
#define MP_COUNTER(id, kind, section, key, label, metric) SUM_OWN_##kind(id)
#include "core/counters.def"
#undef MP_COUNTER
        alloc_ns += tc->sampler.alloc_ns;
        reuse_ns += tc->sampler.reuse_ns;
    }
    for (unsigned c = 1; c < mp_num_classes; c++)
        t->class_frees[c] += atomic_load_explicit(&mp_shared.class_frees[c], memory_order_relaxed);
#define MP_COUNTER(id, kind, section, key, label, metric) SUM_SHARED_##kind(id)
#include "core/counters.def"
#undef MP_COUNTER

    /* the DERIVED rows, from the others */
    /* (read racily, frees may be newer than allocs: never below zero) */
    if (t->fallback_frees > t->fallback_allocs)
        t->fallback_frees = t->fallback_allocs;
    if (t->fallback_bytes_out > t->fallback_bytes_in)
        t->fallback_bytes_out = t->fallback_bytes_in;
    t->fallback_bytes = t->fallback_bytes_in - t->fallback_bytes_out;
    t->fallback_active_blocks = t->fallback_allocs - t->fallback_frees;
    t->threads_live = t->threads_started - t->threads_exited;

    for (unsigned c = 1; c < mp_num_classes; c++) {
        if (t->class_fresh[c] > t->class_allocs[c]) /* a racing read */
            t->class_fresh[c] = t->class_allocs[c];
        if (t->class_frees[c] > t->class_allocs[c]) /* frees read after allocs moved on */
            t->class_frees[c] = t->class_allocs[c];
        t->allocs += t->class_allocs[c];
        t->frees += t->class_frees[c];
        t->reuses += t->class_allocs[c] - t->class_fresh[c];
        t->active_bytes += (t->class_allocs[c] - t->class_frees[c]) * mp_classes[c].size;
    }
    t->allocs += t->fallback_allocs;
    t->frees += t->fallback_frees;
    t->active_blocks = t->allocs - t->frees;
    t->active_bytes += t->fallback_bytes;
    int64_t peak = atomic_load_explicit(&mp_shared.peak_active_bytes, memory_order_relaxed);
    t->peak_active_bytes = (uint64_t)peak > t->active_bytes ? (uint64_t)peak : t->active_bytes;
    t->alloc_ns = (uint64_t)alloc_ns;
    t->reuse_ns = (uint64_t)reuse_ns;
    t->mapped_bytes = mp_region_mapped_bytes();
    t->fallback_cached_bytes = mp_fallback_cached_bytes();
    t->released_bytes = atomic_load_explicit(&mp_reclaim_released_bytes, memory_order_relaxed);
}
