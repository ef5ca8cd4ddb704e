/* The fallback: requests above the largest class go to jemalloc through its
 * non-standard API (mallocx/dallocx/sallocx/xallocx), so libmpool keeps the
 * standard names for itself and a program that links jemalloc on its own
 * still works.  The blocks come from an arena of our own, so the program's
 * use of jemalloc and ours do not share state.
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
#include "internal.h"

#include <errno.h>
#include "je.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/single_threaded.h>

#define SHARDS 16
#define EMPTY ((uintptr_t)0)
#define TOMB ((uintptr_t)1)

typedef struct entry {
    uintptr_t ptr;        /* EMPTY, TOMB, or a live block */
    mp_large_info_t info; /* what free, realloc and the stats need */
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

static bool registry_insert(uintptr_t p, const mp_large_info_t *info)
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
static bool registry_take(uintptr_t p, mp_large_info_t *info, bool remove)
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
static void registry_update(uintptr_t p, const mp_large_info_t *info)
{
    uint64_t h = hash_ptr(p);
    shard_t *s = shard_of(h);
    pthread_mutex_lock(&s->lock);
    size_t i = probe(s, p, h, false);
    if (s->slots[i].ptr == p)
        s->slots[i].info = *info;
    pthread_mutex_unlock(&s->lock);
}

/* ---- our jemalloc arena ---------------------------------------------------- */

static _Atomic int arena_state; /* 0 none, 1 being made, 2 ready */
MP_TLS int mp_je_depth;
static int arena_flags;         /* MALLOCX_ARENA(ours) | MALLOCX_TCACHE_NONE */
static char purge_name[32];     /* "arena.<ours>.purge", once ours exists */
/* Bytes freed to jemalloc since its last purge, an upper bound of its dirty
 * pages; and bytes the pools took since then. */
static _Atomic size_t freed_dirty, grown_clean;
#define PURGE_STEP ((size_t)1 << 20)
#define PURGE_MAX_WAIT ((size_t)8 << 20)
static MP_TLS int making_arena; /* jemalloc called back into us while we made it */

static int jemalloc_flags(void)
{
    if (MP_LIKELY(atomic_load_explicit(&arena_state, memory_order_acquire) == 2))
        return arena_flags;
    if (making_arena)
        return 0; /* recursion from inside arenas.create: the default arena */
    int expected = 0;
    if (atomic_compare_exchange_strong(&arena_state, &expected, 1)) {
        making_arena = 1;
        unsigned ind;
        size_t sz = sizeof ind;
        int flags = MALLOCX_TCACHE_NONE;
        signal_guard_t g;
        guard_begin(&g);
        int err = mallctl("arenas.create", &ind, &sz, NULL, 0);
        guard_end(&g);
        if (err == 0) {
            flags |= MALLOCX_ARENA(ind);
            /* jemalloc purges extents above its oversize threshold (8 MiB) at
             * once, in every arena: each 5-25 MiB malloc/free then costs a
             * page fault per page (PEERS.md; bench "large").  Ours keep the
             * arena's ordinary decay (dirty pages returned within ~10 s). */
            char name[64];
            size_t never = (size_t)1 << 62;
            mp_fmt(name, sizeof name, "arena.%u.oversize_threshold", ind);
            guard_begin(&g);
            mallctl(name, NULL, NULL, &never, sizeof never);
            guard_end(&g);
            mp_fmt(purge_name, sizeof purge_name, "arena.%u.purge", ind);
        }
        arena_flags = flags;
        making_arena = 0;
        atomic_store_explicit(&arena_state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&arena_state, memory_order_acquire) != 2)
            sched_yield();
    }
    return arena_flags;
}

void *mp_large_alloc(size_t n, size_t align, bool zero, uint32_t site, uint32_t cls,
                     mp_large_info_t *info)
{
    /* jemalloc's smallest classes are 8-aligned: ask for 16 always */
    int flags = jemalloc_flags() | MALLOCX_ALIGN(align > MP_MIN_ALIGN ? align : MP_MIN_ALIGN);
    if (zero)
        flags |= MALLOCX_ZERO;
    signal_guard_t g; /* the whole operation: jemalloc's locks and the registry's table */
    guard_begin(&g);
    size_t usable = 0;
    void *p = NULL;
    if (n >= MP_HUGE_MIN && align <= mp_os_page_size())
        p = mp_huge_take(n, align > MP_MIN_ALIGN ? align : MP_MIN_ALIGN, flags & ~MALLOCX_ZERO,
                         zero, &usable);
    /* A smaller request goes to jemalloc, which may need new memory: the
     * smallest cached block becomes jemalloc's dirty pages first, for it to
     * reuse (shedding the pages instead cost `realloc` 1.5x its time). */
    if (p == NULL && n < MP_HUGE_MIN)
        mp_large_note_dirty(mp_huge_yield(n));
    if (p == NULL && (p = mallocx(n ? n : 1, flags)) != NULL)
        usable = sallocx(p, 0);
    if (p) {
        *info = (mp_large_info_t){ usable, n, n, site, cls };
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
 * is big enough, else to jemalloc; false if p is not live. */
static bool large_free(void *p, mp_large_info_t *info, bool keep)
{
    signal_guard_t g;
    guard_begin(&g);
    bool live = registry_take((uintptr_t)p, info, true);
    if (live) {
        size_t usable = info->usable;
        void *left = keep ? mp_huge_put(p, usable, &usable) : p;
        if (left)
            dallocx(left, MALLOCX_TCACHE_NONE);
        if (left && keep) /* its pages are dirty in jemalloc now */
            atomic_fetch_add_explicit(&freed_dirty, usable, memory_order_relaxed);
    }
    guard_end(&g);
    return live;
}

/* The pools took `bytes` of new memory.  Free memory the fallback holds goes
 * first, as fast: the huge cache's pages at once, and jemalloc's dirty pages
 * (all of them: a purge is one call) once the pools have grown by as much
 * as may be dirty, or by 8 MiB.  Without this the two sides each keep their
 * own free memory (sqlite: the sorter's buffers, freed, beside the pools
 * growing for the UPDATE that follows: 79 MiB peak; 66 with it).  The wait
 * makes a program that churns fallback blocks re-fault them about as often
 * as its pools grow, no more (bench "realloc": 1.45x its time when every
 * megabyte of growth purged; sqlite kept 7 MiB more with no 8 MiB cap).
 * Never from inside a call into jemalloc (which may allocate). */
void mp_large_pools_grew(size_t bytes)
{
    if (mp_je_depth || atomic_load_explicit(&arena_state, memory_order_acquire) != 2)
        return;
    size_t grown = atomic_fetch_add_explicit(&grown_clean, bytes, memory_order_relaxed) + bytes;
    size_t dirty = atomic_load_explicit(&freed_dirty, memory_order_relaxed);
    bool purge = dirty >= PURGE_STEP && grown >= (dirty < PURGE_MAX_WAIT ? dirty : PURGE_MAX_WAIT);
    if (!purge && mp_huge_cached_bytes() == 0)
        return;
    signal_guard_t g;
    guard_begin(&g);
    mp_huge_shed(bytes);
    if (purge)
        mp_large_purge();
    guard_end(&g);
}

/* Resize in place when jemalloc can, else move: allocate, copy, free.  On
 * failure p is untouched and still registered. */
void *mp_large_realloc(void *p, size_t n, const mp_large_info_t *old, mp_large_info_t *now)
{
    int flags = jemalloc_flags();
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
    void *q = mp_large_alloc(n, 0, false, old->site, old->cls, now);
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
     * a growing buffer's every step would pile up (sqlite's sorter). */
    bool released = old->usable >= MP_HUGE_MIN;
    if (released)
        mp_os_release_within(p, old->usable);
    mp_large_info_t gone;
    large_free(p, &gone, !released); /* a cached block without its pages would save nothing */
    return q;
}

void mp_large_purge(void)
{
    /* reset first: what another thread frees meanwhile is counted, not lost */
    atomic_store_explicit(&freed_dirty, 0, memory_order_relaxed);
    atomic_store_explicit(&grown_clean, 0, memory_order_relaxed);
    if (purge_name[0])
        mallctl(purge_name, NULL, NULL, NULL, 0);
}

void mp_large_note_dirty(size_t bytes)
{
    atomic_fetch_add_explicit(&freed_dirty, bytes, memory_order_relaxed);
}

bool mp_large_lookup(const void *p, mp_large_info_t *info)
{
    signal_guard_t g;
    guard_begin(&g);
    bool live = registry_take((uintptr_t)p, info, false);
    guard_end(&g);
    return live;
}

bool mp_large_free(void *p, mp_large_info_t *info)
{
    return large_free(p, info, true);
}

/* jemalloc's fork handlers.  The embedded jemalloc's call to pthread_atfork
 * lands here (scripts/embed-jemalloc renames it), so its handlers run inside
 * ours, in the order init.c sets: after the stdio list lock, never before
 * it (see init.c).  Unset until jemalloc has started. */
static void (*_Atomic je_prepare)(void), (*_Atomic je_parent)(void), (*_Atomic je_child)(void);

#if MP_EMBEDDED_JEMALLOC
MP_HIDDEN int mp_je_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    atomic_store(&je_parent, parent);
    atomic_store(&je_child, child);
    atomic_store(&je_prepare, prepare); /* last: prepare set means all are */
    return 0;
}
#endif

static bool je_locked; /* the prepare handler ran jemalloc's */

void mp_large_fork_prepare(void)
{
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_lock(&shards[i].lock);
    /* Another thread may be starting jemalloc (our arena, state 1): its
     * fork handlers are not ours yet, and its locks may be held.  It needs
     * none of our locks to finish, so wait for it (unless this thread is
     * the one: a fork from a signal handler that interrupted it). */
    while (!making_arena && atomic_load_explicit(&arena_state, memory_order_acquire) == 1)
        sched_yield();
    mp_huge_fork_prepare();
    void (*prepare)(void) = atomic_load(&je_prepare);
    je_locked = prepare != NULL;
    if (prepare)
        prepare();
}

void mp_large_fork_parent(void)
{
    if (je_locked)
        atomic_load(&je_parent)();
    mp_huge_fork_parent();
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_unlock(&shards[i].lock);
}

void mp_large_fork_child(void)
{
    if (je_locked)
        atomic_load(&je_child)();
    je_locked = false;
    mp_huge_fork_child();
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    for (int i = 0; i < SHARDS; i++)
        shards[i].lock = fresh;
    /* an arena being made by a thread that does not exist in the child */
    int making = 1;
    atomic_compare_exchange_strong(&arena_state, &making, 0);
    making_arena = 0;
}
