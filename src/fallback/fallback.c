/* The fallback's face: requests above the largest class go to jemalloc
 * through its non-standard API (mallocx/dallocx/sallocx/xallocx), so libmpool
 * keeps the standard names for itself and a program that links jemalloc on
 * its own still works.  The blocks come from an arena of our own (arena.c);
 * freed huge blocks are kept whole for reuse (hugecache.c).  Neither calls
 * back into this file.
 *
 * Every live fallback block is recorded in a registry (a sharded open-
 * addressing hash set keyed by address).  free() of a pointer outside the
 * region asks the registry, so a double free of a fallback block, a pointer
 * into its middle, or a pointer nobody allocated is reported instead of being
 * handed to jemalloc, which would crash or corrupt silently.
 *
 * Locks: one mutex per shard, held only around the table, never across a call
 * into jemalloc; taken around fork() by the atfork handlers.
 *
 * Signals: jemalloc's own fork handler takes every jemalloc mutex.  If a
 * signal handler forks while the interrupted code is inside jemalloc holding
 * one, that handler waits forever; and our atfork handlers take no lock in a
 * single-threaded process, so a fork that interrupted a registry update would
 * hand the child a half-rehashed table.  glibc promises fork() from a signal
 * handler works in a single-threaded process, so there each fallback
 * operation runs with signals blocked (two syscalls per operation, in
 * single-threaded programs only). */
#define _GNU_SOURCE
#include "fallback/fallback.h"
#include "fallback/arena.h"
#include "fallback/hugecache.h"
#include "fallback/jemalloc.h"
#include "platform/os.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define SHARDS 16
#define EMPTY ((uintptr_t)0)
#define TOMB ((uintptr_t)1)

typedef struct entry {
    uintptr_t ptr;        /* EMPTY, TOMB, or a live block */
    mp_fallback_info_t info; /* what free, realloc and the stats need */
} entry_t;

typedef struct shard {
    _Alignas(MP_CACHELINE) pthread_mutex_t lock;
    entry_t *slots; /* cap entries, mapped with mp_os_map */
    size_t cap;     /* a power of two, or 0 before the first insert */
    size_t used;    /* live entries */
    size_t tombs;   /* deleted entries still occupying slots */
} shard_t;

static shard_t shards[SHARDS] = {
#define S PTHREAD_MUTEX_INITIALIZER
    [0 ... SHARDS - 1] = { .lock = S },
#undef S
};

static uint64_t hash_ptr(uintptr_t p)
{
    return (p >> 4) * 0x9E3779B97F4A7C15ull;
}

static shard_t *shard_of(uint64_t h)
{
    return &shards[h >> 60];
}

/* Index of p's slot, or of the first usable slot for inserting it. */
static size_t probe(const shard_t *s, uintptr_t p, uint64_t h, bool for_insert)
{
    size_t mask = s->cap - 1, i = (size_t)h & mask, first_tomb = SIZE_MAX;
    for (;; i = (i + 1) & mask) {
        uintptr_t q = s->slots[i].ptr;
        if (q == p)
            return i;
        if (q == EMPTY)
            return for_insert && first_tomb != SIZE_MAX ? first_tomb : i;
        if (q == TOMB && first_tomb == SIZE_MAX)
            first_tomb = i;
    }
}

static bool rehash(shard_t *s, size_t cap)
{
    entry_t *slots = mp_os_map(cap * sizeof(entry_t));
    if (slots == NULL)
        return false;
    entry_t *old = s->slots;
    size_t old_cap = s->cap;
    s->slots = slots;
    s->cap = cap;
    s->tombs = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].ptr > TOMB) {
            size_t j = probe(s, old[i].ptr, hash_ptr(old[i].ptr), true);
            s->slots[j] = old[i];
        }
    }
    mp_os_unmap(old, old_cap * sizeof(entry_t));
    return true;
}

static bool registry_insert(uintptr_t p, const mp_fallback_info_t *info)
{
    uint64_t h = hash_ptr(p);
    shard_t *s = shard_of(h);
    bool ok = true;
    pthread_mutex_lock(&s->lock);
    if ((s->used + s->tombs + 1) * 4 > s->cap * 3) {
        size_t cap = s->cap ? s->cap : 256;
        while ((s->used + 1) * 2 > cap)
            cap *= 2;
        ok = rehash(s, cap);
    }
    if (ok) {
        size_t i = probe(s, p, h, true);
        if (s->slots[i].ptr == TOMB)
            s->tombs--;
        s->slots[i] = (entry_t){ p, *info };
        s->used++;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* Remove (when remove is true) or just find p; false if p is not live. */
static bool registry_take(uintptr_t p, mp_fallback_info_t *info, bool remove)
{
    uint64_t h = hash_ptr(p);
    shard_t *s = shard_of(h);
    bool found = false;
    pthread_mutex_lock(&s->lock);
    if (s->cap) {
        size_t i = probe(s, p, h, false);
        if (s->slots[i].ptr == p) {
            found = true;
            if (info)
                *info = s->slots[i].info;
            if (remove) {
                s->slots[i].ptr = TOMB;
                s->used--;
                s->tombs++;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* Replace what the registry knows of the live block p. */
static void registry_update(uintptr_t p, const mp_fallback_info_t *info)
{
    uint64_t h = hash_ptr(p);
    shard_t *s = shard_of(h);
    pthread_mutex_lock(&s->lock);
    size_t i = probe(s, p, h, false);
    if (s->slots[i].ptr == p)
        s->slots[i].info = *info;
    pthread_mutex_unlock(&s->lock);
}

/* ---- the face ------------------------------------------------------------ */

/* An allocation failed for want of memory or address space (RLIMIT_AS):
 * from then on freed blocks go back to the kernel at once. */
static _Atomic bool tight;

void *mp_fallback_alloc(size_t n, size_t align, bool zero, uint32_t site, uint32_t cls,
                        mp_fallback_info_t *info)
{
    /* jemalloc's smallest classes are 8-aligned: ask for 16 always */
    int flags = mp_arena_flags() | MALLOCX_ALIGN(align > MP_MIN_ALIGN ? align : MP_MIN_ALIGN);
    if (zero)
        flags |= MALLOCX_ZERO;
    signal_guard_t g; /* the whole operation: jemalloc's locks and the registry's table */
    guard_begin(&g);
    size_t usable = 0;
    void *p = NULL;
    if (n >= MP_HUGE_MIN && align <= mp_os_page_size()) {
        mp_huge_effects_t fx = { 0, false };
        p = mp_huge_take(n, align > MP_MIN_ALIGN ? align : MP_MIN_ALIGN, flags & ~MALLOCX_ZERO,
                         zero, &usable, &fx);
        mp_arena_note_dirty(fx.dirtied);
        if (fx.gave_up) /* and the tails cut off earlier, before a new block is made */
            mp_arena_purge();
    }
    /* A smaller request goes to jemalloc, which may need new memory: the
     * smallest cached block becomes jemalloc's dirty pages first, for it to
     * reuse rather than shed: docs/PERFORMANCE.md has why). */
    if (p == NULL && n < MP_HUGE_MIN)
        mp_arena_note_dirty(mp_huge_yield(n));
    size_t as_limit;
    if (p == NULL && (p = mallocx(n ? n : 1, flags)) == NULL && mp_je_depth == 1 &&
        (as_limit = mp_os_address_space_limit()) != SIZE_MAX && n < as_limit) {
        /* The address-space limit ran out (a request past the limit itself,
         * or without one, is only too big): from now on hold no free memory
         * of ours, and try once more without it. */
        atomic_store_explicit(&tight, true, memory_order_relaxed);
        mp_huge_release(true);
        mp_arena_purge();
        p = mallocx(n ? n : 1, flags);
    }
    if (p)
        usable = sallocx(p, 0);
    if (p) {
        uint32_t born_us = site != MP_NO_SITE ? (uint32_t)(mp_os_now_ns() / 1000u) : 0;
        *info = (mp_fallback_info_t){ usable, n, n, site, cls, born_us };
        if (!registry_insert((uintptr_t)p, info)) {
            dallocx(p, MALLOCX_TCACHE_NONE);
            p = NULL;
        }
    }
    guard_end(&g);
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

/* Free the live block p into the huge-block cache when keep says so and it
 * is big enough, else to jemalloc; false if p is not live.  Once memory ran
 * short, its pages go back at once. */
static bool large_free(void *p, mp_fallback_info_t *info, bool keep)
{
    bool short_of_memory = atomic_load_explicit(&tight, memory_order_relaxed);
    keep = keep && !short_of_memory;
    signal_guard_t g;
    guard_begin(&g);
    bool live = registry_take((uintptr_t)p, info, true);
    if (live) {
        size_t usable = info->usable;
        void *left = keep ? mp_huge_put(p, usable, &usable) : p;
        if (left)
            dallocx(left, MALLOCX_TCACHE_NONE);
        if (left && keep) /* its pages are dirty in jemalloc now */
            mp_arena_note_dirty(usable);
        if (short_of_memory)
            mp_arena_purge(); /* its address space too (opt.retain off: arena.c) */
    }
    guard_end(&g);
    return live;
}

bool mp_fallback_can_give_back(void)
{
    return !mp_je_depth && mp_arena_ready(); /* jemalloc may allocate: never from inside it */
}

size_t mp_fallback_dirty_bytes(void)
{
    return mp_arena_dirty_bytes();
}

uint64_t mp_fallback_purges(void)
{
    return mp_arena_purges();
}

_Atomic bool mp_je_guard_always;
static _Atomic bool guard_given_up; /* the program made a thread: off for good */

void mp_fallback_guard_signals(bool on)
{
    if (!on)
        atomic_store(&guard_given_up, true);
    atomic_store(&mp_je_guard_always, on && !atomic_load(&guard_given_up));
}

size_t mp_fallback_cached_bytes(void)
{
    return mp_huge_cached_bytes();
}

void mp_fallback_give_back(size_t shed, bool purge)
{
    signal_guard_t g;
    guard_begin(&g);
    mp_huge_shed(shed);
    if (purge)
        mp_arena_purge();
    guard_end(&g);
}

size_t mp_fallback_release_cached(bool all)
{
    if (!all && mp_je_depth)
        return 0; /* a tick from inside a jemalloc call, which may allocate */
    return mp_huge_release(all);
}

/* Resize in place when jemalloc can, else move: allocate, copy, free.  On
 * failure p is untouched and still registered. */
void *mp_fallback_realloc(void *p, size_t n, const mp_fallback_info_t *old,
                          mp_fallback_info_t *now)
{
    int flags = mp_arena_flags();
    signal_guard_t g;
    guard_begin(&g);
    size_t nu = xallocx(p, n, 0, flags);
    if (nu >= n) {
        *now = *old;
        now->usable = nu;
        now->requested = n;
        registry_update((uintptr_t)p, now);
    }
    guard_end(&g);
    if (nu >= n)
        return p;
    void *q = mp_fallback_alloc(n, 0, false, old->site, old->cls, now);
    if (q == NULL)
        return NULL;
    if (old->site != MP_NO_SITE) {
        now->sampled = old->sampled; /* the site keeps what it was credited */
        guard_begin(&g);
        registry_update((uintptr_t)q, now);
        guard_end(&g);
    }
    memcpy(q, p, old->usable < n ? old->usable : n);
    /* The old extent's contents are garbage now, and a block that grew out
     * of it is rarely followed by one of its size: give its pages back
     * rather than leave them dirty in jemalloc for its decay (~10 s), where
     * a growing buffer's every step would pile up. */
    bool released = old->usable >= MP_HUGE_MIN;
    if (released)
        mp_os_release_within(p, old->usable);
    mp_fallback_info_t gone;
    large_free(p, &gone, !released); /* a cached block without its pages would save nothing */
    return q;
}

bool mp_fallback_lookup(const void *p, mp_fallback_info_t *info)
{
    signal_guard_t g;
    guard_begin(&g);
    bool live = registry_take((uintptr_t)p, info, false);
    guard_end(&g);
    return live;
}

bool mp_fallback_free(void *p, mp_fallback_info_t *info)
{
    return large_free(p, info, true);
}

/* fork(): the shards' locks, then the huge cache's, then jemalloc's. */
void mp_fallback_fork_prepare(void)
{
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_lock(&shards[i].lock);
    mp_arena_fork_wait();
    mp_huge_fork_prepare();
    mp_arena_fork_prepare();
}

void mp_fallback_fork_parent(void)
{
    mp_arena_fork_parent();
    mp_huge_fork_parent();
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_unlock(&shards[i].lock);
}

void mp_fallback_fork_child(void)
{
    mp_arena_fork_child();
    mp_huge_fork_child();
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    for (int i = 0; i < SHARDS; i++)
        shards[i].lock = fresh;
}
