/* libmpool internals: types, limits and the prototypes of every src/ file,
 * grouped under the file that defines them.
 *
 * Glossary
 *   region   one large virtual reservation made at start; every pooled block
 *            lives inside it, so "is p ours?" is one subtraction and compare.
 *   page     64 KiB unit of the region; the pagemap has one entry per page.
 *   span     a run of pages carved into equal blocks of one size class.
 *   class    a block size (16 B .. MPOOL_MAX_CLASS); class 0 is the sentinel
 *            "no class" whose bin is always empty and full.
 *   bin      a thread's cache for one class: a LIFO free list, bounded.
 *   batch    a NULL-terminated list of blocks moved between a bin and the
 *            class's global stack in one CAS.
 *   gstack   the lock-free global stack of batches, one per class.
 *   fallback requests above the largest class, served by jemalloc.
 */
#ifndef MPOOL_INTERNAL_H
#define MPOOL_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MP_HIDDEN __attribute__((visibility("hidden")))
#define MP_EXPORT __attribute__((visibility("default")))
#define MP_LIKELY(x) __builtin_expect(!!(x), 1)
#define MP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MP_NOINLINE __attribute__((noinline))
#define MP_COLD __attribute__((cold, noinline))
#define MP_TLS __thread __attribute__((tls_model("initial-exec")))
#define MP_CACHELINE 64

/* Functions that read other threads' counters without synchronising, on
 * purpose (each counter is an aligned word its owner alone writes; a read
 * sees an old or a new value).  ThreadSanitizer is told so, not silenced
 * wholesale. */
#if defined(__GNUC__) && !defined(__clang__)
#define MP_RACY_READER __attribute__((no_sanitize_thread))
#else
#define MP_RACY_READER __attribute__((no_sanitize("thread")))
#endif

/* Counters on the fast path: 1 (default), or 0 in the build that measures
 * their cost (meson -Dstats=false).  A plain `if`, so both builds type-check. */
#ifndef MP_STATS
#define MP_STATS 1
#endif

/* The fast paths' misuse checks (interior pointers, double frees): 1
 * (default), or 0 in the build that measures their cost (meson
 * -Dchecks=false), which keeps no free marks, so it does not look for them
 * on the slow paths either (the slow paths' pointer checks stay). */
#ifndef MP_CHECKS
#define MP_CHECKS 1
#endif

/* ---- limits ------------------------------------------------------------ */
#define MP_PAGE_SHIFT 16                          /* 64 KiB pages */
#define MP_PAGE_SIZE ((size_t)1 << MP_PAGE_SHIFT)
#define MP_MIN_ALIGN 16                           /* every block is 16-aligned */
#define MP_LOOKUP_MAX 1024                        /* sizes resolved by table */
#define MP_CLASS_LIMIT ((size_t)1 << 20)          /* ceiling for MPOOL_MAX_CLASS */
#define MP_NUM_CLASSES 61                         /* 0 (sentinel) + 8 + 13*4 */
#define MP_MAX_REQUEST ((size_t)PTRDIFF_MAX)      /* larger requests: ENOMEM */
#define MP_REGION_MAX ((size_t)1 << 40)           /* 1 TiB of address space */
#define MP_REGION_MIN ((size_t)1 << 30)
/* Target bytes per batch (the unit between a bin and a global stack): half
 * as much above 512 bytes, where a batch of rarely used classes otherwise
 * sits in every bin (PERFORMANCE.md, "batch size").  -D for experiments. */
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
#define MP_TIME_SAMPLE (256 * 1024)               /* mean bytes between timed calls */
#define MP_SPAN_PAGES_MAX 16                      /* longest span (sizeclass.c) */
#define MP_PUBLISH_BYTES (256 * 1024)             /* a thread publishes active bytes past this */

/* ---- sizeclass.c ------------------------------------------------------- */
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

extern mp_class_info_t mp_classes[MP_NUM_CLASSES] MP_HIDDEN;
extern uint8_t mp_lookup_class[MP_LOOKUP_MAX / 16 + 1] MP_HIDDEN;
extern size_t mp_max_class_size MP_HIDDEN; /* 0 until init: all sizes miss */
extern unsigned mp_num_classes MP_HIDDEN;  /* classes in use, 1..mp_num_classes-1 */

void mp_sizeclass_init(size_t max_class) MP_HIDDEN;
unsigned mp_sizeclass_for_alignment(size_t n, size_t align) MP_HIDDEN;

/* size -> class in O(1): 16-byte steps to 128, then four classes per doubling.
 * Returns 0 for sizes above MPOOL_MAX_CLASS (and for every size before init). */
static inline unsigned mp_size_class(size_t n)
{
    if (MP_LIKELY(n <= MP_LOOKUP_MAX))
        return mp_lookup_class[(n + 15) >> 4];
    if (n > mp_max_class_size)
        return 0;
    size_t m = n - 1;
    unsigned l = 63u - (unsigned)__builtin_clzl(m); /* floor(log2(n - 1)) >= 10 */
    return 9 + (l - 7) * 4 + (unsigned)((m >> (l - 2)) & 3);
}

/* Exact "offset is a multiple of the block size" without a division
 * (Granlund-Montgomery / Lemire): rotate (off * inv) right by shift. */
static inline bool mp_class_divides(const mp_class_info_t *ci, uintptr_t off)
{
    uint64_t x = (uint64_t)off * ci->inv;
    x = (x >> ci->shift) | (x << ((64 - ci->shift) & 63));
    return x <= ci->lim;
}

/* ---- os.c: the only code that talks to the kernel for memory ------------ */
void *mp_os_reserve(size_t size) MP_HIDDEN;   /* NULL on failure; lazily backed */
void *mp_os_map(size_t size) MP_HIDDEN;       /* zeroed, page-aligned; NULL on failure */
uint64_t mp_os_coarse_ns(void) MP_HIDDEN;      /* CLOCK_MONOTONIC_COARSE, in ns */
void mp_os_unmap(void *p, size_t size) MP_HIDDEN;
void mp_os_release(void *p, size_t size) MP_HIDDEN; /* back to the kernel; reads zero after */
void mp_os_release_within(void *p, size_t size) MP_HIDDEN; /* the whole pages inside */
void mp_os_write(int fd, const char *s, size_t n) MP_HIDDEN; /* write(2) all of it */
size_t mp_os_page_size(void) MP_HIDDEN;

/* ---- segment.c: the region, spans and the pointer -> owner map ---------- */
typedef struct mp_region {
    uintptr_t base;      /* first byte of the region; 0 before init */
    size_t size;         /* bytes reserved; 0 before init, so every free misses */
    uint32_t *pagemap;   /* per page: (page index in span << 8) | class; 0 = no span */
} mp_region_t;

extern mp_region_t mp_region MP_HIDDEN;

bool mp_segment_init(void) MP_HIDDEN;
char *mp_segment_alloc_span(unsigned cls) MP_HIDDEN;  /* NULL when the region is full */
size_t mp_segment_mapped_bytes(void) MP_HIDDEN;   /* carved, less released spans */
size_t mp_segment_released_bytes(void) MP_HIDDEN; /* on the free-span lists */
size_t mp_segment_pages(void) MP_HIDDEN;          /* pages in the region */
void mp_segment_release_span(char *span, unsigned pages) MP_HIDDEN; /* wholly free */

/* Where p lives.  MP_PTR_POOL sets *cls; the others are exclusive. */
typedef enum mp_ptr_kind {
    MP_PTR_POOL,     /* the start of a block of class *cls */
    MP_PTR_INTERIOR, /* inside a span but not at a block boundary */
    MP_PTR_UNMAPPED, /* inside the region, but in no span */
    MP_PTR_OUTSIDE,  /* outside the region: fallback, bootstrap or foreign */
} mp_ptr_kind_t;

/* The region page p lies in (p inside the region). */
static inline size_t mp_segment_page_of(const void *p)
{
    return ((uintptr_t)p - mp_region.base) >> MP_PAGE_SHIFT;
}

static inline mp_ptr_kind_t mp_segment_classify(const void *p, unsigned *cls)
{
    uintptr_t off = (uintptr_t)p - mp_region.base;
    if (off >= mp_region.size)
        return MP_PTR_OUTSIDE;
    size_t page = off >> MP_PAGE_SHIFT;
    uint32_t e = mp_region.pagemap[page];
    unsigned c = e & 0xff;
    if (c == 0)
        return MP_PTR_UNMAPPED;
    uintptr_t in_span = off - ((uintptr_t)(page - (e >> 8)) << MP_PAGE_SHIFT);
    if (in_span >= mp_classes[c].span_bytes || !mp_class_divides(&mp_classes[c], in_span))
        return MP_PTR_INTERIOR; /* between blocks, or in the span's unused tail */
    *cls = c;
    return MP_PTR_POOL;
}

/* ---- gstack.c: lock-free stack of batches -------------------------------- */
typedef struct mp_block {
    struct mp_block *next; /* next block of the same list or batch */
    uintptr_t link;        /* a free block's mark (below); on a batch's first block
                            * of a stack that keeps it here: next batch | count << 48 */
} mp_block_t;

typedef struct mp_gstack {
    _Alignas(MP_CACHELINE) volatile unsigned __int128 head; /* low: top, high: tag */
    bool link_in_third_word; /* the batch link is not in mp_block_t.link but after it */
    _Atomic uint64_t pops;   /* batches popped, roughly (a lossy count: reclaim.c) */
    char pad[MP_CACHELINE - sizeof(unsigned __int128) - 2 * sizeof(uint64_t)];
} mp_gstack_t;

void mp_gstack_init(mp_gstack_t *s, bool link_in_third_word) MP_HIDDEN; /* default: false */
void mp_gstack_push(mp_gstack_t *s, mp_block_t *first, unsigned count) MP_HIDDEN;
mp_block_t *mp_gstack_pop(mp_gstack_t *s, unsigned *count) MP_HIDDEN;
void mp_gstack_reset(mp_gstack_t *s) MP_HIDDEN;
mp_block_t *mp_gstack_take_all(mp_gstack_t *s) MP_HIDDEN; /* every batch, as one list */
static inline uint64_t mp_gstack_pops(mp_gstack_t *s) /* batches popped so far, roughly */
{
    return atomic_load_explicit(&s->pops, memory_order_relaxed);
}
/* The batch after `batch` in a taken list (NULL at the end); *count: batch's blocks. */
mp_block_t *mp_gstack_next_batch(const mp_gstack_t *s, mp_block_t *batch, unsigned *count) MP_HIDDEN;
extern void (*mp_gstack_pop_window_hook)(void) MP_HIDDEN; /* tests only */

/* A free block carries a mark in its second word: its own address xor the
 * secret.  free() finding the mark already there has met a double free; a
 * live block holds program data there, which matches with probability
 * 2^-64.  Blocks of 32 bytes and more keep the mark on a global stack too
 * (the stack's link goes in their third word); a 16-byte block at the head
 * of a batch has the link there instead, and a double free of exactly that
 * block goes unseen. */
extern uintptr_t mp_secret MP_HIDDEN; /* random per process, low 4 bits 0; init.c */

static inline uintptr_t mp_free_mark(const void *p)
{
    return (uintptr_t)p ^ mp_secret;
}

/* ---- tcache.c: per-thread caches ------------------------------------------ */
typedef struct mp_bin {
    mp_block_t *head;  /* LIFO free list of blocks freed earlier; owner thread only */
    uint32_t count;    /* blocks on head */
    uint32_t limit;    /* flush at this count; 0 in the empty cache, so free misses */
    int64_t countdown; /* allocations until the next slow-path one (sampling, the cap
                        * gate); the class's allocs are alloc_base - countdown */
    uint64_t frees;    /* frees into this class (stats, owner only) */
} mp_bin_t;

typedef struct mp_bump {
    char *next;     /* next never-used block of the thread's current span */
    char *end;      /* end of the span's usable blocks */
    uint64_t fresh; /* blocks handed out for the first time (stats) */
} mp_bump_t;

typedef struct mp_tcache {
    mp_bin_t bins[MP_NUM_CLASSES];  /* hot: the fast path touches one entry */
    uint32_t recent[MP_RECENT];     /* last requested sizes, clipped to 32 bits */
    uint8_t recent_pos;             /* next slot of recent[]; wraps at 256 by itself */
    mp_bump_t bump[MP_NUM_CLASSES]; /* cold: only refill uses it */
    uint64_t alloc_base[MP_NUM_CLASSES]; /* allocs + countdown, per class (owner only) */
    uint64_t allocs_at_flush[MP_NUM_CLASSES]; /* the class's allocs at its last flush */
    _Atomic uint32_t count_seq;     /* odd while the owner resets a countdown */
    int64_t pending;                /* bytes taken in (refills) less given back (flushes)
                                     * not yet published to mp_shared */
    uint64_t rng;                   /* sampling intervals (xorshift state) */
    uint32_t reclaim_skip;          /* refills and flushes until the next reclaim tick */
    uint64_t time_next;             /* bit c: time class c's next allocation (it
                                     * follows a profiled one, which is not typical) */
    double alloc_ns;                /* estimated time allocating fresh blocks */
    double reuse_ns;                /* estimated time reusing freed blocks */
    uint64_t fallback_allocs;       /* jemalloc-path allocations by this thread */
    uint64_t fallback_frees;        /* jemalloc-path frees by this thread */
    uint64_t fallback_bytes_in;     /* usable bytes allocated on the fallback */
    uint64_t fallback_bytes_out;    /* usable bytes freed on the fallback */
    _Atomic int in_use;             /* 1 while a live thread owns this cache (2: retiring) */
    pid_t owner_pid, owner_tid;     /* the owner's process and thread ids */
    struct mp_tcache *all_next;     /* every cache ever made, never unlinked */
    struct mp_tcache *free_next;    /* recycled caches, under the cache mutex */
} mp_tcache_t;

extern const mp_tcache_t mp_tcache_empty MP_HIDDEN;
extern MP_TLS mp_tcache_t *mp_tls_cache MP_HIDDEN;

void mp_tcache_init(void) MP_HIDDEN; /* at start, after the size classes */
mp_tcache_t *mp_tcache_for_thread(void) MP_HIDDEN; /* NULL while bootstrapping or exiting */
void *mp_tcache_refill(mp_tcache_t *tc, unsigned cls) MP_HIDDEN;
void mp_tcache_flush(mp_tcache_t *tc, unsigned cls) MP_HIDDEN;
void mp_tcache_free_uncached(void *p, unsigned cls) MP_HIDDEN;
void mp_tcache_thread_exit(void *tc) MP_HIDDEN;
void mp_tcache_give_back(mp_tcache_t *tc) MP_HIDDEN;
bool mp_tcache_gates_open(void) MP_HIDDEN; /* no cap, no MPOOL_DEBUG */
void mp_tcache_set_gates(void) MP_HIDDEN;  /* open or close every cache's fast paths to match */
void mp_tcache_set_countdown(mp_tcache_t *tc, unsigned cls, int64_t calls) MP_HIDDEN;
void mp_tcache_uncount(mp_tcache_t *tc, unsigned cls) MP_HIDDEN;
int64_t mp_tcache_interval(mp_tcache_t *tc, unsigned cls) MP_HIDDEN; /* the next one, >= 1 */
double mp_tcache_uniform(mp_tcache_t *tc) MP_HIDDEN; /* in (0, 1), owner only */

/* Allocations of class cls by caches that used tc: kept as a countdown on the
 * fast path, so one decrement both counts and samples.  Another thread reads
 * the pair under the cache's sequence count (the owner changes both only on
 * the slow path); the retries are bounded, so a dump in a signal handler that
 * interrupted the owner mid-reset cannot spin forever. */
static inline MP_RACY_READER uint64_t mp_bin_allocs(const mp_tcache_t *tc, unsigned cls)
{
    uint64_t allocs = 0;
    for (int tries = 0; tries < 4096; tries++) {
        uint32_t s1 = atomic_load_explicit((_Atomic uint32_t *)&tc->count_seq, memory_order_acquire);
        int64_t left = __atomic_load_n(&tc->bins[cls].countdown, __ATOMIC_RELAXED);
        allocs = __atomic_load_n(&tc->alloc_base[cls], __ATOMIC_RELAXED) - (uint64_t)left;
        atomic_thread_fence(memory_order_acquire);
        if (!(s1 & 1) &&
            s1 == atomic_load_explicit((_Atomic uint32_t *)&tc->count_seq, memory_order_relaxed))
            break;
    }
    return allocs;
}
void mp_tcache_fork_prepare(void) MP_HIDDEN;
void mp_tcache_fork_parent(void) MP_HIDDEN;
void mp_tcache_fork_child(void) MP_HIDDEN;
mp_tcache_t *mp_tcache_all(void) MP_HIDDEN;         /* head of the every-cache list */
extern mp_gstack_t mp_class_stacks[MP_NUM_CLASSES] MP_HIDDEN;

/* ---- large.c: the jemalloc fallback ----------------------------------------- */
/* What the registry knows of a live fallback block.  Sampled (profiled) pool
 * requests are fallback blocks too, tagged with their class and site. */
#define MP_NO_SITE UINT32_MAX
typedef struct mp_large_info {
    size_t usable;    /* jemalloc's usable size */
    size_t requested; /* the size asked for */
    size_t sampled;   /* the size the site was credited for (kept by realloc) */
    uint32_t site;    /* trace.c site, or MP_NO_SITE when not profiled */
    uint32_t cls;     /* pool class the request belongs to; 0 = a true fallback */
} mp_large_info_t;

/* NULL + ENOMEM on failure; else *info describes the new block. */
void *mp_large_alloc(size_t n, size_t align, bool zero, uint32_t site, uint32_t cls,
                     mp_large_info_t *info) MP_HIDDEN;
/* Resize, in place when jemalloc can.  NULL + ENOMEM with p intact.
 * Precondition: p is live and *old is what mp_large_lookup said of it. */
void *mp_large_realloc(void *p, size_t n, const mp_large_info_t *old, mp_large_info_t *now) MP_HIDDEN;
bool mp_large_lookup(const void *p, mp_large_info_t *info) MP_HIDDEN; /* false: not live */
void mp_large_purge(void) MP_HIDDEN; /* release our arena's dirty pages now (inside the guard) */
void mp_large_note_dirty(size_t bytes) MP_HIDDEN; /* left dirty in jemalloc: purge it in time */
void mp_large_pools_grew(size_t bytes) MP_HIDDEN; /* yield as much free fallback memory */
bool mp_large_free(void *p, mp_large_info_t *info) MP_HIDDEN;         /* false: not live */
void mp_large_fork_prepare(void) MP_HIDDEN;
void mp_large_fork_parent(void) MP_HIDDEN;
void mp_large_fork_child(void) MP_HIDDEN;

/* ---- hugecache.c: freed huge fallback blocks kept for reuse ----------------- */
#define MP_HUGE_MIN ((size_t)4 << 20) /* below this, jemalloc's own decay serves */
/* A cached block for n bytes (p & (align - 1) == 0), grown or cut in place,
 * its first n bytes zeroed if asked; NULL if none fits.  Inside large.c's
 * signal guard. */
void *mp_huge_take(size_t n, size_t align, int flags, bool zero, size_t *usable) MP_HIDDEN;
/* Keep the freed block p if it is among the biggest; returns the block that
 * is not kept (p, an evicted one, or NULL) for the caller to free, and its
 * usable size in *left_usable.  Inside the guard. */
void *mp_huge_put(void *p, size_t usable, size_t *left_usable) MP_HIDDEN;
size_t mp_huge_release(bool all) MP_HIDDEN; /* the expired blocks, or all: bytes */
size_t mp_huge_shed(size_t bytes) MP_HIDDEN;  /* release up to bytes of cached pages */
/* Before jemalloc serves n (< MP_HUGE_MIN): the smallest cached block goes to
 * it, dirty (returns its resident bytes), or released if jemalloc would not
 * split it for n (returns 0). */
size_t mp_huge_yield(size_t n) MP_HIDDEN;
size_t mp_huge_cached_bytes(void) MP_HIDDEN;
void mp_huge_fork_prepare(void) MP_HIDDEN;
void mp_huge_fork_parent(void) MP_HIDDEN;
void mp_huge_fork_child(void) MP_HIDDEN;

/* ---- limit.c: the memory cap ------------------------------------------------ */
extern _Atomic size_t mp_limit_bytes MP_HIDDEN; /* 0: no cap */
bool mp_limit_reserve(size_t bytes) MP_HIDDEN;  /* false: the cap would be passed */
void mp_limit_charge(size_t bytes) MP_HIDDEN;   /* count, even past the cap */
void mp_limit_release(size_t bytes) MP_HIDDEN;
size_t mp_limit_held(void) MP_HIDDEN;
int mp_limit_set(size_t bytes) MP_HIDDEN;
static inline bool mp_limit_on(void)
{
    return atomic_load_explicit(&mp_limit_bytes, memory_order_relaxed) != 0;
}

/* ---- trace.c: sampled allocation sites (MPOOL_PROF) ------------------------ */
#define MP_TRACE_DEPTH 32
typedef struct mp_leak {
    double bytes;  /* estimated live bytes allocated at this site */
    double blocks; /* estimated live blocks */
    unsigned depth;
    const char *frames[MP_TRACE_DEPTH]; /* "func+0x1c (module+0x1234)" */
} mp_leak_t;
/* Allocations on this thread are not sampled now: it is unwinding a stack
 * (trace.c: no recursion), or making pool slabs (pools.c: a sampled slab
 * would come from the fallback). */
extern MP_TLS int mp_tls_unsampled MP_HIDDEN;
uint32_t mp_trace_capture(void) MP_HIDDEN;     /* site of the current call, or MP_NO_SITE */
void mp_trace_account(uint32_t site, double bytes, double blocks) MP_HIDDEN;
/* A site's first frames (innermost first), at most cap; 0 for MP_NO_SITE. */
unsigned mp_trace_site_frames(uint32_t site, const char **frames, unsigned cap) MP_HIDDEN;
unsigned mp_trace_leaks(mp_leak_t *out, unsigned cap) MP_HIDDEN; /* largest first */
/* 1 / P(a call is sampled): the mean calls between samples of class cls (> 0),
 * or for a fallback request of n bytes (cls 0); at least 1.  stats.c */
double mp_sample_weight(unsigned cls, size_t n) MP_HIDDEN;
void mp_trace_fork_prepare(void) MP_HIDDEN;
void mp_trace_fork_parent(void) MP_HIDDEN;
void mp_trace_fork_child(void) MP_HIDDEN;

/* ---- bootstrap.c: memory for allocations made during initialisation ------- */
void *mp_boot_alloc(size_t n, size_t align) MP_HIDDEN;
bool mp_boot_owns(const void *p, size_t *usable) MP_HIDDEN;

/* ---- init.c: start, threads, fork ------------------------------------------ */
enum { MP_INIT_NONE = 0, MP_INIT_RUNNING = 1, MP_INIT_DONE = 2 };
extern _Atomic int mp_init_state MP_HIDDEN;
extern MP_TLS int mp_tls_in_init MP_HIDDEN; /* this thread is running mp_init */
bool mp_init(void) MP_HIDDEN;               /* false while this thread is initialising */
extern unsigned long mp_thread_key MP_HIDDEN;

/* ---- options.c: the one table of MPOOL_* settings ----------------------- */
#include "options.h"

/* ---- report.c: fatal misuse reports and warnings ----------------------- */
__attribute__((noreturn)) void mp_report_bad_pointer(const char *func, const void *p,
                                                     mp_ptr_kind_t kind) MP_COLD MP_HIDDEN;
__attribute__((noreturn)) void mp_report_fatal(const char *msg) MP_COLD MP_HIDDEN;
void mp_warn(const char *msg) MP_HIDDEN;
bool mp_report_begin(void) MP_HIDDEN; /* false: another report is under way */

/* ---- fmt.c: formatting into fixed buffers (no stdio, no malloc) --------- */
#include "fmt.h"

/* ---- mathlib.c: log, log1p, exp and round without libm ------------------- */
double mp_log(double x) MP_HIDDEN;
double mp_log1p(double x) MP_HIDDEN;
double mp_exp(double x) MP_HIDDEN;
double mp_round(double x) MP_HIDDEN;

/* ---- reclaim.c: giving wholly free spans back to the OS --------------------- */
bool mp_reclaim_init(void) MP_HIDDEN;
void mp_reclaim_tick(void) MP_HIDDEN;   /* from slow paths: a pass when one is due */
/* From refill and flush: every 8th of them ticks (a clock read each). */
static inline void mp_reclaim_tick_batch(mp_tcache_t *tc)
{
    if (MP_UNLIKELY(tc->reclaim_skip == 0)) {
        tc->reclaim_skip = 8;
        mp_reclaim_tick();
    }
    tc->reclaim_skip--;
}
/* A pass now, waiting for one under way; bytes released.  all: every wholly
 * free span (malloc_trim); else only those already free at the last pass. */
size_t mp_reclaim_pass(bool all) MP_HIDDEN;
void mp_reclaim_fork_child(void) MP_HIDDEN;
extern _Atomic uint64_t mp_reclaim_passes MP_HIDDEN, mp_reclaim_released_bytes MP_HIDDEN;

/* ---- debug.c: MPOOL_DEBUG canaries and free fill ----------------------- */
#define MP_DEBUG_TAIL 24      /* canary (>= 8) + trailer (16) after each request */
#define MP_DEBUG_MIN_BLOCK 48 /* free-list words (24), some fill, the trailer */
size_t mp_debug_size(size_t n) MP_HIDDEN; /* what to ask for to serve n */
void mp_debug_arm(void *p, size_t n, size_t usable, uint32_t site) MP_HIDDEN;
/* Check a live block's canary and trailer (abort naming func on damage);
 * returns the size requested. */
size_t mp_debug_check(const char *func, const void *p, size_t usable) MP_HIDDEN;
uint32_t mp_debug_site(const void *p, size_t usable) MP_HIDDEN; /* of a checked block */
void mp_debug_fill_freed(void *p, size_t usable) MP_HIDDEN;
void mp_debug_check_freed(const void *p, size_t usable) MP_HIDDEN; /* on reuse */

/* ---- stats.c: counters summed over every cache ----------------------------- */
/* Activity of threads without a cache (exiting or bootstrapping). */
typedef struct mp_shared_counters {
    _Atomic uint64_t class_frees[MP_NUM_CLASSES];
    _Atomic uint64_t fallback_allocs, fallback_frees;
    _Atomic uint64_t fallback_bytes_in, fallback_bytes_out;
    _Alignas(MP_CACHELINE) _Atomic int64_t active_bytes; /* folded at slow paths */
    _Atomic int64_t peak_active_bytes;                    /* max of active_bytes */
} mp_shared_counters_t;

typedef struct mp_totals {
    uint64_t allocs, frees, reuses, active_blocks, active_bytes, mapped_bytes;
    uint64_t released_bytes; /* given back to the OS so far, in total (reclaim.c) */
    uint64_t peak_active_bytes, alloc_ns, reuse_ns;
    uint64_t class_allocs[MP_NUM_CLASSES], class_frees[MP_NUM_CLASSES];
    uint64_t class_fresh[MP_NUM_CLASSES];
    uint64_t fallback_allocs, fallback_frees, fallback_bytes;
    uint64_t fallback_cached_bytes; /* freed huge blocks kept for reuse (hugecache.c) */
    uint64_t threads_started, threads_exited;
} mp_totals_t;

extern mp_shared_counters_t mp_shared MP_HIDDEN;
void mp_stats_add_active(int64_t delta) MP_HIDDEN; /* fold bytes; track the peak */
/* A thread took (+) or gave back (-) bytes from the shared pools. */
static inline void mp_stats_held(mp_tcache_t *tc, int64_t bytes)
{
    tc->pending += bytes;
    if (MP_UNLIKELY(tc->pending >= MP_PUBLISH_BYTES || tc->pending <= -MP_PUBLISH_BYTES)) {
        mp_stats_add_active(tc->pending);
        tc->pending = 0;
    }
}
unsigned mp_stats_recent(uint32_t *out, unsigned cap) MP_HIDDEN; /* newest last */
extern _Atomic uint64_t mp_threads_started MP_HIDDEN, mp_threads_exited MP_HIDDEN;
void mp_stats_collect(mp_totals_t *t) MP_HIDDEN;

/* ---- alloc.c: the malloc family (fast paths inline in alloc.h) ----------- */
void *mp_malloc_generic(size_t n) MP_HIDDEN;
void mp_free_generic(void *p) MP_HIDDEN;
void *mp_calloc(size_t k, size_t n) MP_HIDDEN;
void *mp_realloc(void *p, size_t n) MP_HIDDEN;
void *mp_reallocarray(void *p, size_t k, size_t n) MP_HIDDEN;
void *mp_memalign(size_t align, size_t n) MP_HIDDEN;
int mp_posix_memalign(void **out, size_t align, size_t n) MP_HIDDEN;
void *mp_aligned_alloc(size_t align, size_t n) MP_HIDDEN;
void *mp_valloc(size_t n) MP_HIDDEN;
void *mp_pvalloc(size_t n) MP_HIDDEN;
size_t mp_usable_size(const void *p) MP_HIDDEN;
void mp_free_sized(void *p, size_t n) MP_HIDDEN;

#endif
