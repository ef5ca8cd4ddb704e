/* Counters: kept per thread cache with plain adds on the fast path, summed
 * over every cache ever made when someone asks.  Reads race with the owners'
 * writes; each counter is a naturally aligned 64-bit word, so a read sees an
 * old or a new value, never a torn one, and totals are a consistent-enough
 * snapshot for reporting. */
#include "internal.h"

#include <string.h>

mp_shared_counters_t mp_shared;

void mp_stats_collect(mp_totals_t *t)
{
    memset(t, 0, sizeof *t);
    for (mp_tcache_t *tc = mp_tcache_all(); tc; tc = tc->all_next) {
        for (unsigned c = 1; c < mp_num_classes; c++) {
            const mp_bin_t *b = &tc->bins[c];
            uint64_t a = __atomic_load_n(&b->allocs, __ATOMIC_RELAXED);
            uint64_t f = __atomic_load_n(&b->frees, __ATOMIC_RELAXED);
            uint64_t fr = __atomic_load_n(&tc->bump[c].fresh, __ATOMIC_RELAXED);
            t->class_allocs[c] += a;
            t->class_frees[c] += f;
            t->class_fresh[c] += fr;
        }
        t->fallback_allocs += __atomic_load_n(&tc->fallback_allocs, __ATOMIC_RELAXED);
        t->fallback_frees += __atomic_load_n(&tc->fallback_frees, __ATOMIC_RELAXED);
        t->fallback_bytes += __atomic_load_n(&tc->fallback_bytes_in, __ATOMIC_RELAXED) -
                             __atomic_load_n(&tc->fallback_bytes_out, __ATOMIC_RELAXED);
    }
    for (unsigned c = 1; c < mp_num_classes; c++)
        t->class_frees[c] += atomic_load_explicit(&mp_shared.class_frees[c], memory_order_relaxed);
    t->fallback_allocs += atomic_load_explicit(&mp_shared.fallback_allocs, memory_order_relaxed);
    t->fallback_frees += atomic_load_explicit(&mp_shared.fallback_frees, memory_order_relaxed);
    t->fallback_bytes += atomic_load_explicit(&mp_shared.fallback_bytes_in, memory_order_relaxed) -
                         atomic_load_explicit(&mp_shared.fallback_bytes_out, memory_order_relaxed);

    for (unsigned c = 1; c < mp_num_classes; c++) {
        t->allocs += t->class_allocs[c];
        t->frees += t->class_frees[c];
        t->reuses += t->class_allocs[c] - t->class_fresh[c];
        t->active_bytes += (t->class_allocs[c] - t->class_frees[c]) * mp_classes[c].size;
    }
    t->allocs += t->fallback_allocs;
    t->frees += t->fallback_frees;
    t->active_blocks = t->allocs - t->frees;
    t->active_bytes += t->fallback_bytes;
    t->mapped_bytes = mp_segment_mapped_bytes();
    t->threads_started = atomic_load_explicit(&mp_threads_started, memory_order_relaxed);
    t->threads_exited = atomic_load_explicit(&mp_threads_exited, memory_order_relaxed);
}
