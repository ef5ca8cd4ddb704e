/* The memory cap (mpool_set_limit, MPOOL_LIMIT).
 *
 * What counts: every block the program holds through libmpool -- pooled
 * blocks at their class size, fallback blocks at jemalloc's usable size,
 * fixed-pool slabs and buffers (which are such blocks).  Not counted: free
 * blocks in caches, span tails never handed out, libmpool's own metadata.
 * So freeing makes room at once.
 *
 * While a cap is set the fast paths are closed in every thread cache (the
 * gate: flush_at 0, which malloc's and free's fast paths both test), and the slow
 * paths count held bytes exactly with one atomic add per call.  Without a
 * cap nothing here runs.  The counters-off build cannot start the count (it
 * keeps no free counts) and refuses a cap with ENOTSUP. */
#include "core/limit.h"
#include "core/counters.h"
#include "core/init.h"
#include "core/tcache.h"

#include <errno.h>

_Atomic size_t mp_limit_bytes;  /* 0: no cap */
static _Atomic int64_t held;    /* bytes held, tracked while a cap is set */

/* Check, then add, in one CAS: adding first and taking back a refusal
 * would let a huge request that is about to fail make every other thread's
 * ordinary one fail meanwhile (tests/stress/too_large, MPOOL_LIMIT). */
bool mp_limit_reserve(size_t bytes)
{
    size_t cap = atomic_load_explicit(&mp_limit_bytes, memory_order_relaxed);
    if (cap > (size_t)INT64_MAX) /* held is signed: a cap past it is no cap */
        cap = (size_t)INT64_MAX;
    if (bytes > (size_t)INT64_MAX)
        return false;
    int64_t now = atomic_load_explicit(&held, memory_order_relaxed);
    do {
        if (cap && (now > (int64_t)cap || (int64_t)bytes > (int64_t)cap - now))
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&held, &now, now + (int64_t)bytes,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* Count bytes already handed out (jemalloc's rounding): never refused. */
void mp_limit_charge(size_t bytes)
{
    atomic_fetch_add_explicit(&held, (int64_t)bytes, memory_order_relaxed);
}

void mp_limit_release(size_t bytes)
{
    atomic_fetch_sub_explicit(&held, (int64_t)bytes, memory_order_relaxed);
}

size_t mp_limit_held(void)
{
    int64_t h = atomic_load_explicit(&held, memory_order_relaxed);
    return h > 0 ? (size_t)h : 0;
}

int mp_limit_set(size_t bytes)
{
    if (!MP_COUNTERS && bytes) { /* no free counts: nothing to start the held bytes from */
        errno = ENOTSUP;
        return -1;
    }
    mp_init();
    size_t was = atomic_exchange(&mp_limit_bytes, bytes);
    mp_tcache_set_gates();
    if (bytes && !was) {
        /* start from what is held now, gates closed: every later allocation
         * is charged, every block freed later was counted here or charged */
        mp_totals_t t;
        mp_counters_collect(&t);
        atomic_store(&held, (int64_t)t.active_bytes);
    }
    return 0;
}
