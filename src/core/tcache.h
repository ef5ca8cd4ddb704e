/* Per-thread caches: the bins the fast paths pop and push, refilled from and
 * flushed to the global stacks. */
#ifndef MPOOL_TCACHE_H
#define MPOOL_TCACHE_H

#include "core/freelink.h"
#include "core/types.h"

extern const mp_tcache_t mp_tcache_empty MP_HIDDEN;
extern MP_TLS mp_tcache_t *mp_tls_cache MP_HIDDEN;
extern mp_gstack_t mp_class_stacks[MP_NUM_CLASSES] MP_HIDDEN;

void mp_tcache_init(void) MP_HIDDEN; /* at start, after the size classes */
mp_tcache_t *mp_tcache_for_thread(void) MP_HIDDEN; /* NULL while bootstrapping or exiting */
void *mp_tcache_refill(mp_tcache_t *tc, unsigned cls) MP_HIDDEN;
void mp_tcache_flush(mp_tcache_t *tc, unsigned cls) MP_HIDDEN;
void mp_tcache_free_uncached(void *p, unsigned cls) MP_HIDDEN;
void mp_tcache_thread_exit(void *tc) MP_HIDDEN;
void mp_tcache_give_back(mp_tcache_t *tc) MP_HIDDEN;
/* Nothing needs to see every call: no memory cap, no MPOOL_DEBUG, no
 * M_PERTURB fill (safe-linking aside). */
bool mp_tcache_calls_unwatched(void) MP_HIDDEN;
bool mp_tcache_gates_open(void) MP_HIDDEN; /* that, and no safe-linking */
void mp_tcache_set_gates(void) MP_HIDDEN;  /* open or close every cache's fast paths to match */
mp_tcache_t *mp_tcache_all(void) MP_HIDDEN; /* head of the every-cache list */
void mp_tcache_fork_prepare(void) MP_HIDDEN;
void mp_tcache_fork_parent(void) MP_HIDDEN;
void mp_tcache_fork_child(void) MP_HIDDEN;

#endif
