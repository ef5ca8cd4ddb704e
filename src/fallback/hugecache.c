/* Freed huge fallback blocks (MP_HUGE_MIN, 4 MiB, and more), kept whole for
 * the next huge request.
 *
 * Handed back to jemalloc, a freed huge block is a dirty extent: our arena
 * keeps its pages for its decay (about 10 s), and a freed 20 MiB extent
 * cannot serve a 24 MiB request, so a program cycling through big buffers of
 * varying sizes piles dirty extents up.  Purging them at once, jemalloc's own
 * default for huge extents, costs a page fault per page on every reuse.  So
 * a few such blocks stay here, still allocated in jemalloc, pages and all
 * (docs/ARCHITECTURE.md, "Huge blocks", has the rules and
 * docs/PERFORMANCE.md the measurements behind them):
 *
 * - the biggest freed blocks stay (four); one that does not goes to jemalloc;
 * - a request takes the smallest cached block that fits; one more than twice
 *   too big is cut to size in place, its tail left dirty in jemalloc;
 * - when none fits, the biggest grows in place (xallocx into the free
 *   address space after it).  If it cannot grow, every cached block goes
 *   back before a new block is made, so they never add up with it;
 * - a block left here MPOOL_DECAY_MS goes back (release); malloc_trim(0)
 *   sends every one back at once;
 * - when the pools grow, cached pages are shed as fast (from a block's end);
 * - a smaller fallback request that jemalloc must serve yields it the
 *   smallest cached block, pages and all (yield).
 *
 * "Goes back" means its pages are released (madvise) and it is freed to
 * jemalloc: the extent jemalloc keeps costs address space, not memory.
 * What a take leaves dirty in jemalloc, or a give-up that wants the arena
 * purged, it reports to its caller (fallback.c), which owns the arena.
 *
 * The lock guards the slot table only: it is never held across a call into
 * jemalloc or the kernel.  Take, put and shed run inside fallback.c's signal
 * guard (jemalloc.h), as every jemalloc call does; release takes its own. */
#include "fallback/hugecache.h"
#include "base/options.h"
#include "fallback/jemalloc.h"
#include "platform/os.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 4

typedef struct slot {
    void *p;         /* NULL: empty */
    size_t usable;   /* jemalloc's usable size */
    size_t resident; /* the prefix that may hold data; past it the block was
                      * shed (mp_huge_shed) and reads zero */
    uint64_t since;  /* when it was cached (CLOCK_MONOTONIC_COARSE, ns) */
} slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t slots[SLOTS];
static _Atomic size_t cached_bytes; /* the resident prefixes of the cached blocks */

static void give_back(slot_t s)
{
    mp_os_release_within(s.p, s.resident);
    dallocx(s.p, MALLOCX_TCACHE_NONE);
}

static void take_slot(int i, slot_t *out)
{
    *out = slots[i];
    slots[i] = (slot_t){ 0 };
    atomic_fetch_sub_explicit(&cached_bytes, out->resident, memory_order_relaxed);
}

/* Put s in slot i (empty), under the lock. */
static void fill_slot(int i, slot_t s)
{
    slots[i] = s;
    atomic_fetch_add_explicit(&cached_bytes, s.resident, memory_order_relaxed);
}

/* Zero the first n bytes of a reused block: only its resident prefix can
 * hold data (past it, mp_huge_shed left zeros). */
static void zero_prefix(slot_t s, size_t n)
{
    memset(s.p, 0, s.resident < n ? s.resident : n);
}

void *mp_huge_take(size_t n, size_t align, int flags, bool zero, size_t *usable,
                   mp_huge_effects_t *fx)
{
    if (atomic_load_explicit(&cached_bytes, memory_order_relaxed) == 0)
        return NULL;
    slot_t s = { 0 };
    pthread_mutex_lock(&lock);
    int fit = -1, biggest = -1;
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p == NULL || ((uintptr_t)slots[i].p & (align - 1)))
            continue;
        if (slots[i].usable >= n) {
            if (fit < 0 || slots[i].usable < slots[fit].usable)
                fit = i;
        } else if (biggest < 0 || slots[i].usable > slots[biggest].usable) {
            biggest = i;
        }
    }
    if (fit >= 0 || biggest >= 0)
        take_slot(fit >= 0 ? fit : biggest, &s);
    pthread_mutex_unlock(&lock);
    if (s.p == NULL)
        return NULL;

    if (s.usable >= n) {
        if (s.usable / 2 > n) {
            size_t cut = xallocx(s.p, n, 0, flags);
            if (s.resident > cut) { /* the tail is jemalloc's now, dirty */
                fx->dirtied += s.resident - cut;
                s.resident = cut;
            }
            s.usable = cut;
        }
        if (zero)
            zero_prefix(s, n);
        *usable = s.usable;
        return s.p;
    }
    /* with MALLOCX_ZERO, jemalloc zeroes what it adds (jemalloc(3)) */
    size_t grown = xallocx(s.p, n, 0, flags | (zero ? MALLOCX_ZERO : 0));
    if (grown >= n) {
        if (zero)
            zero_prefix(s, n);
        *usable = grown;
        return s.p;
    }
    /* None fits and none can grow: the cache no longer fits the program's
     * sizes.  All of it goes back, and the tails cut off earlier, before the
     * new block is made, so they never add up with it. */
    s.usable = grown;
    give_back(s);
    mp_huge_release(true);
    fx->gave_up = true;
    return NULL;
}

void *mp_huge_put(void *p, size_t usable, size_t *left_usable)
{
    *left_usable = usable;
    if (usable < MP_HUGE_MIN)
        return p;
    slot_t out = { p, usable, usable, mp_os_coarse_ns() }; /* what leaves: p, or an evicted one */
    pthread_mutex_lock(&lock);
    int smallest = -1;
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p == NULL) {
            smallest = i;
            break;
        }
        if (smallest < 0 || slots[i].usable < slots[smallest].usable)
            smallest = i;
    }
    if (slots[smallest].p == NULL || slots[smallest].usable < usable) {
        slot_t in = out;
        take_slot(smallest, &out);
        fill_slot(smallest, in);
    }
    pthread_mutex_unlock(&lock);
    *left_usable = out.usable;
    return out.p;
}

size_t mp_huge_release(bool all)
{
    if (atomic_load_explicit(&cached_bytes, memory_order_relaxed) == 0)
        return 0;
    uint64_t now = mp_os_coarse_ns(), age = (uint64_t)mp_opt.decay_ms * 1000000u;
    slot_t out[SLOTS];
    int n = 0;
    signal_guard_t g; /* before the lock: a handler that allocates must not meet it held */
    guard_begin(&g);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p && (all || (age && now - slots[i].since >= age)))
            take_slot(i, &out[n++]);
    }
    pthread_mutex_unlock(&lock);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        bytes += out[i].resident;
        give_back(out[i]);
    }
    guard_end(&g);
    return bytes;
}

/* Take out of the table the cached block that `before` ranks first (out of
 * other threads' reach while it is worked on); p NULL if there is none. */
static slot_t take_first(bool (*before)(const slot_t *a, const slot_t *b))
{
    slot_t s = { 0 };
    if (atomic_load_explicit(&cached_bytes, memory_order_relaxed) == 0)
        return s;
    pthread_mutex_lock(&lock);
    int first = -1;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p && (first < 0 || before(&slots[i], &slots[first])))
            first = i;
    if (first >= 0)
        take_slot(first, &s);
    pthread_mutex_unlock(&lock);
    return s;
}

static bool more_resident(const slot_t *a, const slot_t *b)
{
    return a->resident > b->resident;
}

static bool smaller(const slot_t *a, const slot_t *b)
{
    return a->usable < b->usable;
}

size_t mp_huge_shed(size_t bytes)
{
    slot_t s = take_first(more_resident);
    if (s.p == NULL)
        return 0;
    size_t cut = bytes < s.resident ? bytes : s.resident;
    /* Past the resident prefix a cached block reads zero (zero_prefix relies
     * on it); jemalloc's blocks start at a random offset in their first
     * page, so both ends of the range are usually partial pages. */
    mp_os_release_zeroed((char *)s.p + s.resident - cut, cut);
    s.resident -= cut;
    slot_t out = s;
    if (s.resident > 0) {
        pthread_mutex_lock(&lock);
        for (int i = 0; i < SLOTS; i++) {
            if (slots[i].p == NULL) {
                fill_slot(i, s);
                out.p = NULL;
                break;
            }
        }
        pthread_mutex_unlock(&lock);
    }
    if (out.p)
        give_back(out);
    return cut;
}

size_t mp_huge_yield(size_t n)
{
    slot_t s = take_first(smaller);
    if (s.p == NULL)
        return 0;
    /* jemalloc does not split a free extent more than 64 times the request
     * (opt.lg_extent_max_active_fit): such a block's pages would only wait */
    if (s.usable / 64 > n) {
        give_back(s);
        return 0;
    }
    dallocx(s.p, MALLOCX_TCACHE_NONE); /* pages and all: jemalloc reuses them */
    return s.resident;
}

size_t mp_huge_cached_bytes(void)
{
    return atomic_load_explicit(&cached_bytes, memory_order_relaxed);
}

void mp_huge_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void mp_huge_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void mp_huge_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    lock = fresh;
}
