/* Profiled blocks served by the pools (sampled.c). */
#ifndef MPOOL_SAMPLED_H
#define MPOOL_SAMPLED_H

#include "core/types.h"

/* What a live profiled block remembers. */
typedef struct mp_sampled_block {
    uint32_t site;      /* profile/sites.h site (MP_NO_SITE if none was had) */
    uint32_t born_us;   /* when made (CLOCK_MONOTONIC, us, wrapping) */
    uint32_t requested; /* the size asked for (<= the largest class) */
    uint32_t live;      /* 1 from its allocation to its free */
} mp_sampled_block_t;

void mp_sampled_init(void) MP_HIDDEN; /* before mp_region_init: its tables */
/* A block of cls remembering *what (*reused: freed before); NULL if no
 * span can be had. */
void *mp_sampled_alloc(unsigned cls, const mp_sampled_block_t *what, bool *reused) MP_HIDDEN;
/* p, the start of a block of cls in a span of profiled blocks: what it
 * remembers; false if it is not live (freed before, or never made). */
bool mp_sampled_lookup(const void *p, unsigned cls, mp_sampled_block_t *out) MP_HIDDEN;
bool mp_sampled_free(void *p, unsigned cls, mp_sampled_block_t *out) MP_HIDDEN;
/* Release the emptied medium spans kept for reuse (malloc_trim); bytes. */
size_t mp_sampled_release_kept(void) MP_HIDDEN;
void mp_sampled_fork_prepare(void) MP_HIDDEN;
void mp_sampled_fork_parent(void) MP_HIDDEN;
void mp_sampled_fork_child(void) MP_HIDDEN;

#endif
