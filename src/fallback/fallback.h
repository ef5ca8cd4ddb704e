/* The fallback: what the size-class pools do not serve (requests above the
 * largest class, and profiled ones when the pools cannot) goes to jemalloc,
 * embedded, in an arena of our own.  This header is the layer's
 * one face; registry, arena and huge-block cache are its private parts. */
#ifndef MPOOL_FALLBACK_H
#define MPOOL_FALLBACK_H

#include "base/base.h"

/* What the registry knows of a live fallback block.  Sampled (profiled) pool
 * requests are fallback blocks too, tagged with their class and site. */
typedef struct mp_fallback_info {
    size_t usable;    /* jemalloc's usable size */
    size_t requested; /* the size asked for */
    size_t sampled;   /* the size the site was credited for (kept by realloc) */
    uint32_t site;    /* profile/sites.h site, or MP_NO_SITE when not profiled */
    uint32_t cls;     /* pool class the request belongs to; 0 = a true fallback */
    uint32_t born_us; /* profiled blocks: when made (CLOCK_MONOTONIC, us, wrapping) */
} mp_fallback_info_t;

/* NULL + ENOMEM on failure; else *info describes the new block. */
void *mp_fallback_alloc(size_t n, size_t align, bool zero, uint32_t site, uint32_t cls,
                        mp_fallback_info_t *info) MP_HIDDEN;
/* Resize, in place when jemalloc can.  NULL + ENOMEM with p intact.
 * Precondition: p is live and *old is what mp_fallback_lookup said of it. */
void *mp_fallback_realloc(void *p, size_t n, const mp_fallback_info_t *old,
                          mp_fallback_info_t *now) MP_HIDDEN;
bool mp_fallback_lookup(const void *p, mp_fallback_info_t *info) MP_HIDDEN; /* false: not live */
bool mp_fallback_free(void *p, mp_fallback_info_t *info) MP_HIDDEN;         /* false: not live */

/* Free memory the fallback holds, for the core's reclaim policy to give
 * back (core/reclaim.c decides when). */
bool mp_fallback_can_give_back(void) MP_HIDDEN; /* started, and this thread is not inside it */
size_t mp_fallback_dirty_bytes(void) MP_HIDDEN;  /* freed to jemalloc since its last purge: an upper bound */
uint64_t mp_fallback_purges(void) MP_HIDDEN;     /* purges so far */
size_t mp_fallback_cached_bytes(void) MP_HIDDEN; /* freed huge blocks kept whole for reuse */
/* Release up to shed bytes of cached huge blocks' pages, and with purge, all
 * of our arena's dirty pages. */
void mp_fallback_give_back(size_t shed, bool purge) MP_HIDDEN;
/* Release the cached huge blocks kept MPOOL_DECAY_MS, or all; bytes released. */
size_t mp_fallback_release_cached(bool all) MP_HIDDEN;

/* Keep blocking signals around the fallback's locks although the process
 * has more than one thread: while the only other thread is the core's own
 * background thread (on), until the program makes one (off, for good). */
void mp_fallback_guard_signals(bool on) MP_HIDDEN;

void mp_fallback_fork_prepare(void) MP_HIDDEN;
void mp_fallback_fork_parent(void) MP_HIDDEN;
void mp_fallback_fork_child(void) MP_HIDDEN;

#endif
