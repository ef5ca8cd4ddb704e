/* Giving memory back to the OS: wholly free spans (reclaim.c), and the
 * fallback's free memory when the pools grow. */
#ifndef MPOOL_RECLAIM_H
#define MPOOL_RECLAIM_H

#include "core/types.h"

void mp_reclaim_init(void) MP_HIDDEN; /* before mp_region_init: its tables */
/* From slow paths: a pass when one is due; flushed: bytes this thread gave
 * to the global stacks since its last tick (enough of them wake the
 * background thread's decay); allocating: an allocation's slow path, where
 * the background thread may be started. */
void mp_reclaim_tick(size_t flushed, bool allocating) MP_HIDDEN;
/* From refill and flush: every 8th of them ticks (a clock read each). */
static inline void mp_reclaim_tick_batch(mp_tcache_t *tc, bool allocating)
{
    if (MP_UNLIKELY(tc->reclaim_skip == 0)) {
        tc->reclaim_skip = 8;
        mp_reclaim_tick(tc->flushed_bytes, allocating);
        tc->flushed_bytes = 0;
    }
    tc->reclaim_skip--;
}
/* A big fallback block was made (an allocation): the background thread
 * may be worth starting. */
void mp_reclaim_big_alloc(void) MP_HIDDEN;
/* A fallback block was freed: its memory may wait for the decay. */
void mp_reclaim_fallback_freed(void) MP_HIDDEN;
/* The pools took `bytes` of new memory (a new span): the fallback's free
 * memory goes first, as fast (reclaim.c, "pools grew"). */
void mp_reclaim_pools_grew(size_t bytes) MP_HIDDEN;
/* The region cannot grow for the address-space limit: give back what is
 * free now; true when a pass ended (spans may be free to take). */
bool mp_reclaim_for_space(void) MP_HIDDEN;
/* A pass now, waiting for one under way; bytes released (with those the
 * pass waited for released).  all: every wholly free span (malloc_trim);
 * else only those already free at the last pass. */
size_t mp_reclaim_pass(bool all) MP_HIDDEN;
void mp_reclaim_fork_child(void) MP_HIDDEN;
extern _Atomic uint64_t mp_reclaim_passes MP_HIDDEN, mp_reclaim_released_bytes MP_HIDDEN;

#endif
