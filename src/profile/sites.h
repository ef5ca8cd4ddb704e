/* Allocation sites (MPOOL_PROF): the call stacks of sampled allocations,
 * grouped into sites that count the estimated live bytes and blocks made
 * there.  Knows nothing of the heap: the sampling module (core/sample.c)
 * decides what is sampled and with what weight. */
#ifndef MPOOL_SITES_H
#define MPOOL_SITES_H

#include "base/base.h"

#define MP_SITE_DEPTH 32
typedef struct mp_leak {
    double bytes;  /* estimated live bytes allocated at this site */
    double blocks; /* estimated live blocks */
    unsigned depth;
    const char *frames[MP_SITE_DEPTH]; /* "func+0x1c (module+0x1234)" */
} mp_leak_t;

/* Allocations on this thread are not sampled now: it is unwinding a stack
 * (no recursion), or making pool slabs (api/pools.c: a sampled slab would
 * come from the fallback). */
extern MP_TLS int mp_tls_unsampled MP_HIDDEN;
uint32_t mp_site_capture(void) MP_HIDDEN; /* site of the current call, or MP_NO_SITE */
/* A sampled allocation of the site, weighted (bytes and blocks it stands
 * for); and its free, with what it was credited and how long it lived
 * (below MP_SITE_TEMP_US it also counts as temporary). */
#define MP_SITE_TEMP_US 1000
void mp_site_credit(uint32_t site, double bytes, double blocks) MP_HIDDEN;
void mp_site_debit(uint32_t site, double bytes, double blocks, uint64_t lived_us) MP_HIDDEN;

/* A view of a site: estimated bytes and blocks, and the sampled
 * allocations the estimate rests on (its error shrinks as 1/sqrt of them). */
typedef struct mp_site_view {
    double bytes, blocks;
    uint64_t samples;
} mp_site_view_t;

typedef struct mp_site_figures {
    mp_site_view_t inuse; /* live now */
    mp_site_view_t alloc; /* allocated since start */
    mp_site_view_t peak;  /* live when the live total was at its highest */
    mp_site_view_t temp;  /* allocated and freed within MP_SITE_TEMP_US: temporary */
    unsigned depth;
    void *const *pcs;           /* return addresses, innermost first */
    const char *const *frames;  /* their text */
} mp_site_figures_t;

typedef struct mp_site_peak {
    double live;        /* estimated live bytes of all sites now */
    double peak;        /* the highest it has been */
    double copied;      /* the total the peak view was taken at (within 1/64 of peak) */
    uint64_t copied_ns; /* when (CLOCK_MONOTONIC) */
} mp_site_peak_t;

/* An estimate as a whole count (a live figure that drifted below 0: 0). */
static inline uint64_t mp_site_whole(double v)
{
    return v > 0 ? (uint64_t)(v + 0.5) : 0;
}

unsigned mp_site_count(void) MP_HIDDEN; /* sites so far: numbers 0 .. count-1 */
void mp_site_read(uint32_t site, mp_site_figures_t *out) MP_HIDDEN; /* site < count */
void mp_site_peak(mp_site_peak_t *out) MP_HIDDEN;
/* A site's first frames (innermost first), at most cap; 0 for MP_NO_SITE. */
unsigned mp_site_frames(uint32_t site, const char **frames, unsigned cap) MP_HIDDEN;
unsigned mp_site_leaks(mp_leak_t *out, unsigned cap) MP_HIDDEN; /* largest first */
void mp_site_fork_prepare(void) MP_HIDDEN;
void mp_site_fork_parent(void) MP_HIDDEN;
void mp_site_fork_child(void) MP_HIDDEN;

#endif
