/* The sampling module: which allocations leave the fast path to be timed,
 * profiled (MPOOL_PROF) or, later, guarded, with what weight each counts,
 * and the consistent read of a class's allocation count.
 *
 * Each bin counts its allocations down (mp_bin_t.countdown): the class's
 * allocs are sampler.alloc_base - countdown, and a countdown reaching 0 sends
 * the call to the slow path, here.  The next countdown is drawn from a
 * geometric distribution, so every allocation of a class is sampled
 * independently with the same probability, and weights of 1/P keep totals
 * unbiased (Horvitz-Thompson).
 *
 * A sampled allocation, as alloc.c sees it:
 *
 *     mp_sample_t s;
 *     if (mp_sample_alloc(tc, cls, n, &s)) {   // counted; 0: not sampled
 *         ... serve it (from the fallback when s.what & MP_SAMPLE_PROF) ...
 *         mp_sample_alloc_done(tc, cls, n, &s, reused);
 *     }
 *
 * and mp_sample_undo takes back a counted allocation that handed nothing out;
 * mp_sample_free settles a profiled block's site when it is freed. */
#ifndef MPOOL_SAMPLE_H
#define MPOOL_SAMPLE_H

#include "core/types.h"
#include "fallback/fallback.h"
#include "profile/sites.h"

#define MP_TIME_SAMPLE (256 * 1024) /* mean bytes between timed calls */

/* What a sampled call does (mp_sample_t.what): time it, profile it, guard
 * it (guard/guard.h), or some of these; FOLLOWUP: timed in place of a
 * profiled call, standing for several of them. */
enum { MP_SAMPLE_NONE = 0, MP_SAMPLE_TIME = 1, MP_SAMPLE_PROF = 2, MP_SAMPLE_FOLLOWUP = 4,
       MP_SAMPLE_GUARD = 8 };

typedef struct mp_sample {
    int what;      /* MP_SAMPLE_* bits */
    uint32_t site; /* the profiled call's site (profile/sites.h), or MP_NO_SITE */
    uint64_t t0;   /* when the timed call started */
} mp_sample_t;

int mp_sample_alloc_slow(mp_tcache_t *tc, unsigned cls, size_t n, mp_sample_t *s) MP_HIDDEN;

/* Count an allocation of class cls (0: a fallback request of n bytes) and
 * decide whether it is sampled.  When it is, the site is taken and the clock
 * started, in that order, so the time measured is the allocation's own.
 * Inline, the common case of a slow-path allocation: a countdown that does
 * not run out. */
static inline int mp_sample_alloc(mp_tcache_t *tc, unsigned cls, size_t n, mp_sample_t *s)
{
    if (MP_LIKELY(MP_COUNTERS && cls != 0 && !mp_tls_unsampled && tc->bins[cls].countdown > 1)) {
        tc->bins[cls].countdown--;
        s->what = MP_SAMPLE_NONE;
        return MP_SAMPLE_NONE;
    }
    return mp_sample_alloc_slow(tc, cls, n, s);
}
/* After a sampled allocation: its time into the thread's estimates. */
void mp_sample_alloc_done(mp_tcache_t *tc, unsigned cls, size_t n, const mp_sample_t *s,
                          bool reused) MP_HIDDEN;
/* Take back one counted allocation of class cls that handed nothing out. */
void mp_sample_undo(mp_tcache_t *tc, unsigned cls) MP_HIDDEN;
/* A profiled block of n bytes was made at site (credit) or freed (debit). */
void mp_sample_credit(uint32_t site, unsigned cls, size_t n) MP_HIDDEN;
void mp_sample_free(const mp_fallback_info_t *info) MP_HIDDEN;

/* Set class cls's countdown to `calls`, keeping its allocs as they were. */
void mp_sample_set_countdown(mp_tcache_t *tc, unsigned cls, int64_t calls) MP_HIDDEN;
/* A new countdown for class cls: geometric with mean mp_sample_weight. */
int64_t mp_sample_interval(mp_tcache_t *tc, unsigned cls) MP_HIDDEN;
/* 1 / P(a call is sampled): the mean calls between samples of class cls,
 * or for a fallback request of n bytes (cls 0); at least 1. */
double mp_sample_weight(unsigned cls, size_t n) MP_HIDDEN;

/* Allocations of class cls by caches that used tc: kept as a countdown on the
 * fast path, so one decrement both counts and samples.  Another thread reads
 * the pair under the cache's sequence count (the owner changes both only on
 * the slow path); the retries are bounded, so a dump in a signal handler that
 * interrupted the owner mid-reset cannot spin forever. */
static inline MP_RACY_READER uint64_t mp_sample_allocs(const mp_tcache_t *tc, unsigned cls)
{
    const mp_sampler_t *sm = &tc->sampler;
    uint64_t allocs = 0;
    for (int tries = 0; tries < 4096; tries++) {
        uint32_t s1 = atomic_load_explicit((_Atomic uint32_t *)&sm->count_seq, memory_order_acquire);
        int64_t left = __atomic_load_n(&tc->bins[cls].countdown, __ATOMIC_RELAXED);
        allocs = __atomic_load_n(&sm->alloc_base[cls], __ATOMIC_RELAXED) - (uint64_t)left;
        atomic_thread_fence(memory_order_acquire);
        if (!(s1 & 1) &&
            s1 == atomic_load_explicit((_Atomic uint32_t *)&sm->count_seq, memory_order_relaxed))
            break;
    }
    return allocs;
}

/* The class's allocs as its owner sees them (owner thread only). */
static inline uint64_t mp_sample_own_allocs(const mp_tcache_t *tc, unsigned cls)
{
    return tc->sampler.alloc_base[cls] - (uint64_t)tc->bins[cls].countdown;
}

#endif
