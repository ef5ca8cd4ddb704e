/* Our jemalloc arena (private to fallback/): made on first use, purged on
 * request, and the estimate of the dirty pages it holds. */
#ifndef MPOOL_ARENA_H
#define MPOOL_ARENA_H

#include "base/base.h"

int mp_arena_flags(void) MP_HIDDEN;  /* MALLOCX_ARENA(ours) | MALLOCX_TCACHE_NONE; starts jemalloc */
bool mp_arena_ready(void) MP_HIDDEN; /* jemalloc has started */
void mp_arena_purge(void) MP_HIDDEN; /* release our arena's dirty pages now (inside the guard) */
void mp_arena_note_dirty(size_t bytes) MP_HIDDEN; /* left dirty in jemalloc: purge it in time */
size_t mp_arena_dirty_bytes(void) MP_HIDDEN;
uint64_t mp_arena_purges(void) MP_HIDDEN;
/* fork(), in fallback.c's order: wait (before the huge cache's lock),
 * prepare (jemalloc's locks, last); parent and child first. */
void mp_arena_fork_wait(void) MP_HIDDEN;
void mp_arena_fork_prepare(void) MP_HIDDEN;
void mp_arena_fork_parent(void) MP_HIDDEN;
void mp_arena_fork_child(void) MP_HIDDEN;

#endif
