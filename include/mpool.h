/* libmpool: a fast, observable malloc replacement for Linux/x86-64.
 *
 * Three ways in:
 *   LD_PRELOAD=/path/libmpool.so ./app    every malloc/new in the program
 *   cc app.c -lmpool                      linked as the program's allocator
 *   #include <mpool.h>                    the explicit API below
 */
#ifndef MPOOL_H
#define MPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPOOL_VERSION_MAJOR 0
#define MPOOL_VERSION_MINOR 1
#define MPOOL_VERSION_PATCH 0

/* "0.1.0": the version of the library actually loaded. */
const char *mpool_version(void);

/* ---- prefixed allocation: mpool without interposing --------------------- */
/* Same contract as the standard functions (errno ENOMEM on failure). */
void *mpool_malloc(size_t n);
void mpool_free(void *p);
void *mpool_calloc(size_t k, size_t n);
void *mpool_realloc(void *p, size_t n);
void *mpool_aligned_alloc(size_t align, size_t n);
size_t mpool_usable_size(const void *p);

/* ---- counters ------------------------------------------------------------- */
struct mpool_stats {
    uint64_t allocs;          /* allocation calls served, pooled and fallback */
    uint64_t frees;           /* free calls of live blocks */
    uint64_t reuses;          /* allocations served by a block freed earlier */
    uint64_t active_blocks;   /* allocs - frees */
    uint64_t active_bytes;    /* usable bytes of the active blocks */
    uint64_t mapped_bytes;    /* bytes of the pool region carved into spans */
    uint64_t fallback_allocs; /* allocations served by jemalloc (oversized) */
    uint64_t fallback_frees;
    uint64_t fallback_active_bytes;
    uint64_t threads_live;    /* threads holding a cache now */
    uint64_t threads_exited;  /* threads that held a cache and exited */
};

/* Fill *out with a snapshot of the process-wide counters.  0, or -1 with
 * errno EINVAL when out is NULL. */
int mpool_stats_get(struct mpool_stats *out);

#ifdef __cplusplus
}
#endif

#endif
