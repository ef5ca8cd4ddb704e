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
    uint64_t peak_active_bytes; /* highest active_bytes seen (see docs/STATS.md) */
    uint64_t alloc_ns;        /* estimated time spent handing out fresh blocks */
    uint64_t reuse_ns;        /* estimated time spent reusing freed blocks */
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

/* Write the stats dump (MPOOL_STATS_FORMAT, reason "request") to path, or to
 * the MPOOL_STATS path when path is NULL; "-" is stderr, %p the pid.  The
 * file appears whole or not at all.  0, or -1 with errno (EINVAL: path NULL
 * and MPOOL_STATS unset; otherwise as open(2), write(2) and rename(2)). */
int mpool_stats_dump(const char *path);

/* The JSON dump in buf: at most cap bytes written, NUL-terminated when it
 * fits (cap > length).  Returns the length of the whole dump, so a caller can
 * size a buffer with mpool_stats_json(NULL, 0) + 1. */
size_t mpool_stats_json(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
