/* The fast paths, inlined into every exported entry point.
 *
 * malloc: size -> class (a table load for <= 1 KiB), pop the thread's bin.
 *   One unlikely branch (the bin is empty) leads to mp_malloc_generic.
 * free: one subtraction and compare says "ours", one pagemap load gives the
 *   class, a multiply checks p is a block start, the free mark says it is not
 *   free already, push onto the bin.  One unlikely branch (foreign pointer,
 *   bad pointer, double free, bin full, no cache) leads to mp_free_generic.
 * No atomics, no locks, no initialisation test: before init, and on a thread
 * without a cache, every bin is empty and full, so both paths miss.
 * Each bin counts its allocations down (one decrement): the count is the
 * class's allocs (alloc_base - countdown), and reaching 0 sends the call to
 * the slow path, to be sampled (sample.h).  A bin's flush limit of 0 (the
 * gate: a memory cap, MPOOL_DEBUG, MPOOL_SAFELINK) closes both paths, and the
 * slow paths count; with safe-linking alone, a checked copy of both, the lane
 * (mp_malloc_body, mp_free_body), serves their misses.
 * Counters (MP_COUNTERS): per-class frees and the last MP_RECENT sizes.
 * Budget: 31 instructions for malloc and 45 for free, checks included (see
 * docs/PERFORMANCE.md for the counted disassembly). */
#ifndef MPOOL_ALLOC_H
#define MPOOL_ALLOC_H

#include "core/region.h"
#include "core/tcache.h"

void *mp_malloc_generic(size_t n) MP_HIDDEN; /* a fast-path miss: the lane, or the slow path */
void mp_free_generic(void *p) MP_HIDDEN;
void *mp_malloc_slow(size_t n) MP_HIDDEN;     /* the slow paths proper */
void mp_free_slow(void *p) MP_HIDDEN;
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

/* mallopt(M_PERTURB): malloc fills a new block's n bytes with the low
 * byte's complement and free fills a freed pooled block with the byte, as
 * glibc does (not the fallback's, as glibc does not fill what it unmaps);
 * 0 (the default) turns it off.  While on, the fast paths are closed. */
extern _Atomic int mp_perturb_byte MP_HIDDEN;
void mp_set_perturb(int value) MP_HIDDEN;

/* --*counter <= 0, as one read-modify-write and a branch on its flags (the
 * compiler spells it load, sub, store, test, branch). */
static inline __attribute__((always_inline)) bool mp_count_down(int64_t *counter)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __asm__ goto("subq $1, %0\n\tjle %l[ran_out]" : "+m"(*counter) : : "cc" : ran_out);
    return false;
ran_out:
    return true;
#else
    return --*counter <= 0;
#endif
}

/* The bodies of both fast paths.  lane false: the fast paths proper,
 * behind the gate (flush_at).  lane true: the safe-linked lane
 * (MPOOL_SAFELINK, tcache.h), which mp_malloc_generic and mp_free_generic
 * enter while safe-linking alone closes the gate: the same pop and push, but
 * the pop checks the mark before it follows the link, the push writes the
 * mark over the link, a bin flushes at its class's limit, and a miss goes to
 * the slow paths proper (mp_malloc_slow, mp_free_slow).  The fast paths
 * proper are the same instructions as without the lane. */
static inline __attribute__((always_inline)) void *mp_malloc_body(size_t n, bool lane)
{
    mp_tcache_t *tc = mp_tls_cache;
    mp_bin_t *bin = &tc->bins[mp_size_class(n)];
    mp_block_t *b = bin->head;
    /* flush_at 0: the gate is closed (a memory cap, MPOOL_DEBUG, safe-linking,
     * or this is the empty cache); any thread may close it, and it takes
     * effect at once */
    if (MP_LIKELY(b != NULL && (lane || __atomic_load_n(&bin->flush_at, __ATOMIC_RELAXED) != 0))) {
        /* counts the allocation; at 0 the call is sampled */
        if (MP_COUNTERS && MP_UNLIKELY(mp_count_down(&bin->countdown)))
            return lane ? mp_malloc_slow(n) : mp_malloc_generic(n);
        mp_block_t *next = b->next;
        if (lane && MP_CHECKS && MP_UNLIKELY(b->link != (mp_free_mark(b) ^ (uintptr_t)next)))
            mp_report_bad_link("malloc", b); /* a write after free: not followed */
        bin->head = next;
        /* The next call reads that block's link, often a cache miss.  Never
         * NULL: a prefetch of an unmapped address costs a page walk
         * (docs/PERFORMANCE.md, "The fast path"). */
        __builtin_prefetch(next ? (void *)next : (void *)b);
        bin->count--;
        if (MP_CHECKS)
            b->link = 0; /* no longer free: clear the mark (same line as next) */
        if (MP_COUNTERS)
            tc->recent[tc->recent_pos++] = (uint32_t)n; /* n <= 1 MiB here */
        return b;
    }
    return lane ? mp_malloc_slow(n) : mp_malloc_generic(n);
}

/* lane: the caller has made sure this thread has a cache (not the empty one,
 * which is read-only). */
static inline __attribute__((always_inline)) void mp_free_body(void *p, bool lane)
{
    uintptr_t off = (uintptr_t)p - mp_region.base;
    if (MP_LIKELY(off < mp_region_size())) {
        uintptr_t in_span;
        unsigned c = mp_region_lookup(off, &in_span); /* 0 (no span) has an always-full bin */
        mp_bin_t *bin = &mp_tls_cache->bins[c];
        mp_block_t *b = p;
        if (MP_LIKELY(bin->count < (lane ? mp_classes[c].cache_limit /* 0 for class 0 */
                                         : __atomic_load_n(&bin->flush_at, __ATOMIC_RELAXED)) &&
                      (!MP_CHECKS || (mp_region_block_start(c, in_span) &&
                                      b->link != (mp_free_mark(p) ^
                                                  (lane ? (uintptr_t)b->next : 0)))))) {
            if (lane) {
                mp_block_t *head = bin->head;
                if (MP_CHECKS)
                    b->link = mp_free_mark(p) ^ (uintptr_t)head;
                b->next = head;
            } else {
                if (MP_CHECKS)
                    b->link = mp_free_mark(p);
                b->next = bin->head;
            }
            bin->head = b;
            bin->count++;
            if (MP_COUNTERS)
                bin->frees++;
            return;
        }
    }
    if (lane)
        mp_free_slow(p);
    else
        mp_free_generic(p);
}

static inline __attribute__((always_inline)) void *mp_malloc(size_t n)
{
    return mp_malloc_body(n, false);
}

static inline __attribute__((always_inline)) void mp_free(void *p)
{
    mp_free_body(p, false);
}

#endif
