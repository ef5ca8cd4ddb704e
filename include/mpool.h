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
#include <sys/types.h>

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

/* Give memory back to the OS now: the calling thread's cached blocks go to
 * the shared pools, and every span whose blocks are all free is released
 * (without waiting for MPOOL_DECAY_MS).  Returns the bytes released. */
size_t mpool_trim(void);

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

/* ---- fixed-size pools ------------------------------------------------------ */
/* Bounded pools of equal blocks, optionally preallocated.  get and put are
 * lock-free; only a get that must wait for a put sleeps (futex).  Every call
 * is safe from any thread.  Blocks are 16-byte aligned. */
typedef struct mpool_fixed mpool_fixed_t;

struct mpool_fixed_config {
    size_t block_size;                     /* bytes per block, > 0 */
    size_t capacity;                       /* most blocks that exist at once; 0 = unbounded */
    size_t prealloc;                       /* blocks made by create, <= capacity */
    void (*init)(void *block, void *arg);  /* once per block, when it is made; may be NULL */
    void (*reset)(void *block, void *arg); /* on every put, before reuse; may be NULL */
    void *arg;
};

/* NULL + EINVAL (bad config) or ENOMEM. */
mpool_fixed_t *mpool_fixed_create(const struct mpool_fixed_config *cfg);
/* Waits while the pool is exhausted; NULL + ENOMEM if a block cannot be made. */
void *mpool_fixed_get(mpool_fixed_t *p);
/* As get, but NULL + ETIMEDOUT after ms milliseconds (ms <= 0: do not wait). */
void *mpool_fixed_get_timeout(mpool_fixed_t *p, long ms);
/* NULL + EAGAIN at once when exhausted. */
void *mpool_fixed_try_get(mpool_fixed_t *p);
/* A block not from p, or put twice, is misuse: a message and abort(). */
void mpool_fixed_put(mpool_fixed_t *p, void *block);
size_t mpool_fixed_capacity(const mpool_fixed_t *p);  /* 0 = unbounded */
/* Blocks a get could have now, made or not; SIZE_MAX for an unbounded pool. */
size_t mpool_fixed_available(const mpool_fixed_t *p);
/* Frees every block, handed out or not.  No call on p may be running. */
void mpool_fixed_destroy(mpool_fixed_t *p);

/* ---- reference-counted buffers ------------------------------------------------ */
/* The last release returns the memory.  retain and release are safe from any
 * thread; a release of a buffer that is no longer live is misuse (abort). */
typedef struct mpool_buf mpool_buf_t;

mpool_buf_t *mpool_buf_new(size_t len);  /* refcount 1; NULL + ENOMEM */
void *mpool_buf_data(const mpool_buf_t *b); /* len bytes, 16-byte aligned */
size_t mpool_buf_len(const mpool_buf_t *b);
mpool_buf_t *mpool_buf_retain(mpool_buf_t *b); /* returns b */
void mpool_buf_release(mpool_buf_t *b);
unsigned mpool_buf_refcount(const mpool_buf_t *b);

/* ---- chained buffers -------------------------------------------------------- */
/* A byte stream stored in blocks drawn from a fixed pool (block_size > 16).
 * One writer and one reader may use a chain at the same time. */
typedef struct mpool_chain mpool_chain_t;

/* max_len 0 = unlimited.  NULL + EINVAL (blocks too small) or ENOMEM. */
mpool_chain_t *mpool_chain_new(mpool_fixed_t *blocks, size_t max_len);
/* Appends all n bytes, waiting for blocks while the pool is exhausted.
 * Returns n; or -1 + EFBIG with nothing written if max_len would be passed;
 * or -1 + ENOMEM if a block could not be made (what fitted stays written). */
ssize_t mpool_chain_write(mpool_chain_t *c, const void *src, size_t n);
/* Up to n bytes; 0 when empty; never waits.  Drained blocks go back to the pool. */
ssize_t mpool_chain_read(mpool_chain_t *c, void *dst, size_t n);
size_t mpool_chain_len(const mpool_chain_t *c);
void mpool_chain_free(mpool_chain_t *c); /* gives every block back */

/* ---- memory cap ------------------------------------------------------------------ */
/* Cap the bytes the process holds through libmpool (see docs/API.md for what
 * counts); every allocation that would pass it fails with NULL + ENOMEM, and
 * freeing makes room again.  0 lifts the cap.  Also MPOOL_LIMIT=64M at start.
 * Returns 0. */
int mpool_set_limit(size_t bytes);
size_t mpool_get_limit(void);  /* 0 = none */
size_t mpool_held_bytes(void); /* what the cap compares against */

#ifdef __cplusplus
}
#endif

#endif
