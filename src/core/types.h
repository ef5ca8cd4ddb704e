/* The core's limits and types, in one place: what a size class, the region,
 * a free block, a global stack, a bin and a thread cache are.  Each module's
 * functions are declared in its own header beside its .c file.
 *
 * Glossary
 *   region   the virtual reservation made at start; every pooled block lives
 *            inside it, so "is p ours?" is one subtraction and compare.
 *   page     64 KiB unit of the region; the pagemap has one entry per page.
 *   span     a run of pages carved into equal blocks of one size class.
 *   class    a block size (16 B .. MPOOL_MAX_CLASS); class 0 is the sentinel
 *            "no class" whose bin is always empty and full.  Above 64 KiB a
 *            class is a whole number of pages and its span is one block.
 *   bin      a thread's cache for one class: a LIFO free list, bounded.
 *   batch    a NULL-terminated list of blocks moved between a bin and the
 *            class's global stack in one CAS.
 *   gstack   the lock-free global stack of batches, one per class.
 *   gate     a bin's flush limit doubles as the gate of both fast paths: 0
 *            closes them (a memory cap, MPOOL_DEBUG, MPOOL_SAFELINK), any
 *            other value is the count at which the bin flushes.
 *   fallback requests above the largest class, served by jemalloc
 *            (fallback/).
 */
#ifndef MPOOL_TYPES_H
#define MPOOL_TYPES_H

#include "base/base.h"

#include <sys/types.h>

/* ---- limits ------------------------------------------------------------ */
#define MP_PAGE_SHIFT 16                          /* 64 KiB pages */
#define MP_PAGE_SIZE ((size_t)1 << MP_PAGE_SHIFT)
#define MP_LOOKUP_MAX 1024                        /* sizes resolved by table */
#define MP_CLASS_LIMIT ((size_t)1 << 20)          /* ceiling for MPOOL_MAX_CLASS */
#define MP_NUM_CLASSES 60                         /* 0 (sentinel) + 8 + 9*4 to 64 KiB + 15 pages */
#define MP_CLASS_PAGE 44                          /* the 64 KiB class; then one class a page */
#define MP_MAX_REQUEST ((size_t)PTRDIFF_MAX)      /* larger requests: ENOMEM */
#define MP_REGION_MAX ((size_t)1 << 40)           /* 1 TiB of address space, claimed */
/* Target bytes per batch (the unit between a bin and a global stack): half
 * as much above 512 bytes, where a batch of rarely used classes otherwise
 * sits in every bin (docs/PERFORMANCE.md, "Batches of 16 KiB above 512 bytes").  -D for
 * experiments. */
#ifndef MP_BATCH_BYTES
#define MP_BATCH_BYTES (32 * 1024)
#endif
#ifndef MP_BATCH_BYTES_LARGE
#define MP_BATCH_BYTES_LARGE (16 * 1024)
#endif
#define MP_BATCH_SMALL_MAX 512
#define MP_BATCH_MAX 128
#define MP_LINK_PTR_MASK (((uintptr_t)1 << 48) - 1)
#define MP_RECENT 256                             /* recent sizes per thread: uint8_t index */
#define MP_SPAN_PAGES_MAX 16                      /* longest span (sizeclass.c) */
#define MP_PUBLISH_BYTES (256 * 1024)             /* a thread publishes active bytes past this */

/* ---- a size class (sizeclass.c) ------------------------------------------ */
typedef struct mp_class_info {
    uint32_t size;        /* block size in bytes, multiple of 16 */
    uint32_t span_pages;  /* pages per span */
    uint32_t span_blocks; /* blocks carved from one span */
    uint32_t batch;       /* blocks moved per refill / flush */
    uint32_t cache_limit; /* a bin flushes when it reaches this many blocks */
    uint32_t span_bytes;  /* span_blocks * size: offsets at or past this are no block */
    uint32_t shift;       /* trailing zero bits of size, for the divisibility test */
    uint64_t inv;         /* inverse of (size >> shift) modulo 2^64 */
    uint64_t lim;         /* UINT64_MAX / size: offsets whose product is <= lim divide */
} mp_class_info_t;

/* ---- the region (region.c) ----------------------------------------------- */
typedef struct mp_region {
    uintptr_t base;      /* first byte of the region; 0 before init */
    size_t size;         /* bytes mapped so far (it grows); 0 before init, so every free misses */
    uint32_t *pagemap;   /* per page: (page index in span << 8) | class; 0 = no span;
                          * a span of profiled blocks (core/sampled.c): class 0, and
                          * MP_PAGEMAP_SAMPLED | class << 24 | page index << 8 */
} mp_region_t;
#define MP_PAGEMAP_SAMPLED 0x80000000u

/* Where a pointer lives.  MP_PTR_POOL comes with a class; the others are
 * exclusive. */
typedef enum mp_ptr_kind {
    MP_PTR_POOL,     /* the start of a block of a class */
    MP_PTR_INTERIOR, /* inside a span but not at a block boundary */
    MP_PTR_UNMAPPED, /* inside the region, but in no span */
    MP_PTR_OUTSIDE,  /* outside the region: fallback, bootstrap or foreign */
    MP_PTR_SAMPLED,  /* the start of a block of a span of profiled blocks (with its class) */
} mp_ptr_kind_t;

/* ---- free blocks and the global stacks (gstack.c) ------------------------- */
typedef struct mp_block {
    struct mp_block *next; /* next block of the same list or batch */
    uintptr_t link;        /* a free block's mark (tcache.h); on a batch's first block
                            * of a stack that keeps it here: next batch | count << 48 */
} mp_block_t;

typedef struct mp_gstack {
    _Alignas(MP_CACHELINE) volatile unsigned __int128 head; /* low: top, high: tag */
    bool link_in_third_word; /* the batch link is not in mp_block_t.link but after it */
    _Atomic uint64_t pops;   /* batches popped, roughly (a lossy count: reclaim.c) */
    char pad[MP_CACHELINE - sizeof(unsigned __int128) - 2 * sizeof(uint64_t)];
} mp_gstack_t;

/* ---- thread caches (tcache.c) --------------------------------------------- */
typedef struct mp_bin {
    mp_block_t *head;  /* LIFO free list of blocks freed earlier; owner thread only */
    uint32_t count;    /* blocks on head */
    uint32_t flush_at; /* the gate: flush at this count; 0 closes both fast paths
                        * (the empty cache, a memory cap, MPOOL_DEBUG,
                        * MPOOL_SAFELINK) */
    int64_t countdown; /* allocations until the next slow-path one (sample.c); the
                        * class's allocs are sampler.alloc_base - countdown */
    uint64_t frees;    /* frees into this class (counters, owner only) */
} mp_bin_t;

typedef struct mp_bump {
    char *next;     /* next never-used block of the thread's current span */
    char *end;      /* end of the span's usable blocks */
    uint64_t fresh; /* blocks handed out for the first time (counters) */
} mp_bump_t;

/* A thread's sampling state (sample.c): the other half of each countdown,
 * its random numbers and what the timed calls measured. */
typedef struct mp_sampler {
    uint64_t alloc_base[MP_NUM_CLASSES]; /* allocs + countdown, per class (owner only) */
    _Atomic uint32_t count_seq;     /* odd while the owner resets a countdown */
    uint64_t rng;                   /* sampling intervals (xorshift state) */
    uint64_t time_next;             /* bit c: time class c's next allocation (it
                                     * follows a profiled one, which is not typical) */
    double alloc_ns;                /* estimated time allocating fresh blocks */
    double reuse_ns;                /* estimated time reusing freed blocks */
} mp_sampler_t;

/* A thread's own counters: one field per PER_THREAD row of counters.def,
 * added to by the owner alone (mp_count, counters.h). */
#define MP_THREAD_FIELD_PER_THREAD(id) uint64_t id;
#define MP_THREAD_FIELD_GLOBAL(id)
#define MP_THREAD_FIELD_DERIVED(id)
typedef struct mp_thread_counters {
#define MP_COUNTER(id, kind, section, key, label, metric) MP_THREAD_FIELD_##kind(id)
#include "core/counters.def"
#undef MP_COUNTER
} mp_thread_counters_t;

typedef struct mp_tcache {
    mp_bin_t bins[MP_NUM_CLASSES];  /* hot: the fast path touches one entry */
    uint32_t recent[MP_RECENT];     /* last requested sizes, clipped to 32 bits */
    uint8_t recent_pos;             /* next slot of recent[]; wraps at 256 by itself */
    mp_bump_t bump[MP_NUM_CLASSES]; /* cold: only refill uses it */
    mp_sampler_t sampler;
    uint64_t allocs_at_flush[MP_NUM_CLASSES]; /* the class's allocs at its last flush */
    int64_t pending;                /* bytes taken in (refills) less given back (flushes)
                                     * not yet published (counters.c) */
    uint32_t reclaim_skip;          /* refills and flushes until the next reclaim tick */
    size_t flushed_bytes;           /* given to the global stacks since the last tick */
    mp_thread_counters_t counters;  /* counters.def's PER_THREAD rows */
    _Atomic int in_use;             /* 1 while a live thread owns this cache (2: retiring) */
    pid_t owner_pid, owner_tid;     /* the owner's process and thread ids */
    struct mp_tcache *all_next;     /* every cache ever made, never unlinked */
    struct mp_tcache *free_next;    /* recycled caches, under the cache mutex */
} mp_tcache_t;

#endif
