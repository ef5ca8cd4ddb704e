/* Per-thread caches.  A thread's cache pointer starts at mp_tcache_empty, a
 * constant cache whose bins are all empty (malloc misses) and all full (free
 * misses), so the fast paths never ask "am I initialised?": the first miss
 * lands in the slow path, which sets up the real cache.
 *
 * Caches are never unmapped: a thread that exits hands its blocks back to the
 * global stacks and its cache to a free list for the next thread.  Counters
 * live in the cache and are cumulative across the threads that used it, so the
 * totals are a plain sum over every cache ever made (counters.c), with no folding
 * at thread exit and nothing to lose in a race. */
#define _GNU_SOURCE
#include "core/tcache.h"
#include "base/probes.h"
#include "core/alloc.h"
#include "base/options.h"
#include "core/counters.h"
#include "core/gstack.h"
#include "core/init.h"
#include "core/limit.h"
#include "core/reclaim.h"
#include "core/background.h"
#include "fallback/fallback.h"
#include "core/region.h"
#include "core/sample.h"
#include "platform/os.h"

#include <pthread.h>
#include <string.h>

const mp_tcache_t mp_tcache_empty; /* all zero: heads NULL, gates closed */
MP_TLS mp_tcache_t *mp_tls_cache = (mp_tcache_t *)&mp_tcache_empty;

enum { THREAD_NEW = 0, THREAD_ACTIVE = 1, THREAD_EXITED = 2 };
static MP_TLS int thread_state;

mp_gstack_t mp_class_stacks[MP_NUM_CLASSES]; /* batches of freed blocks */
static mp_gstack_t leftover_stacks[MP_NUM_CLASSES]; /* unused tails of spans */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER; /* guards free_caches */
static mp_tcache_t *free_caches;      /* caches of exited threads, for reuse */
static char *chunk_next;              /* caches not yet handed out, under cache_lock */
static unsigned chunk_left;
static mp_tcache_t *_Atomic all_caches; /* every cache ever made; push-only */

mp_tcache_t *mp_tcache_all(void)
{
    return atomic_load_explicit(&all_caches, memory_order_acquire);
}

static void retire_orphans(void);

static mp_tcache_t *take_parked(void)
{
    pthread_mutex_lock(&cache_lock);
    mp_tcache_t *tc = free_caches;
    if (tc)
        free_caches = tc->free_next;
    pthread_mutex_unlock(&cache_lock);
    return tc;
}

static mp_tcache_t *cache_acquire(void)
{
    mp_tcache_t *tc = take_parked();
    if (tc == NULL) {
        retire_orphans();
        tc = take_parked();
    }
    if (tc)
        return tc;
    /* Caches are carved from a chunk mapped for 16 at once: one mmap serves
     * many threads, and a cache's pages are touched only when a thread
     * takes it (a single-threaded program holds one, not 16). */
    enum { PER_CHUNK = 16 };
    size_t sz = (sizeof(mp_tcache_t) + MP_CACHELINE - 1) & ~(size_t)(MP_CACHELINE - 1);
    pthread_mutex_lock(&cache_lock);
    if (chunk_left == 0 && (chunk_next = mp_os_map(sz * PER_CHUNK)) != NULL)
        chunk_left = PER_CHUNK;
    if (chunk_left > 0) {
        tc = (mp_tcache_t *)chunk_next;
        chunk_next += sz;
        chunk_left--;
    }
    pthread_mutex_unlock(&cache_lock);
    if (tc == NULL)
        return NULL;
    mp_tcache_t *head = atomic_load_explicit(&all_caches, memory_order_relaxed);
    do
        tc->all_next = head;
    while (!atomic_compare_exchange_weak_explicit(&all_caches, &head, tc, memory_order_release,
                                                  memory_order_relaxed));
    return tc;
}

/* Blocks of 32 bytes and more have a third word for the stack's link, so
 * the second keeps the double-free mark on the stack too (tcache.h). */
void mp_tcache_init(void)
{
    for (unsigned c = 1; c < mp_num_classes; c++)
        mp_gstack_init(&mp_class_stacks[c], mp_classes[c].size >= 3 * sizeof(uintptr_t));
}

/* The calling thread owns tc: what retire_orphans asks the kernel about. */
static void set_owner(mp_tcache_t *tc)
{
    tc->owner_pid = mp_os_getpid();
    tc->owner_tid = mp_os_gettid();
    if (tc->owner_tid != tc->owner_pid && !mp_background_is_self())
        mp_fallback_guard_signals(false); /* a program thread besides main: see there */
}

/* Open (flush at the class's limit) or close (0) every gate of tc. */
static void set_cache_gates(mp_tcache_t *tc, bool open)
{
    for (unsigned c = 1; c < mp_num_classes; c++)
        __atomic_store_n(&tc->bins[c].flush_at, open ? mp_classes[c].cache_limit : 0,
                         __ATOMIC_RELAXED);
}

mp_tcache_t *mp_tcache_for_thread(void)
{
    if (!mp_init() || thread_state == THREAD_EXITED)
        return NULL;
    mp_tcache_t *tc = cache_acquire();
    if (tc == NULL)
        return NULL;
    for (unsigned c = 1; c < mp_num_classes; c++)
        if (tc->bins[c].countdown <= 0) /* a new cache */
            mp_sample_set_countdown(tc, c, mp_sample_interval(tc, c));
    set_owner(tc);
    /* In use first, then the gates: a thread that changes them meanwhile
     * sees this cache, or this thread sees its change. */
    atomic_store_explicit(&tc->in_use, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    set_cache_gates(tc, mp_tcache_gates_open());
    mp_tls_cache = tc;
    thread_state = THREAD_ACTIVE;
    mp_count_shared(threads_started, 1);
    /* May allocate (keys past the first 32): the cache is already in place. */
    pthread_setspecific((pthread_key_t)mp_thread_key, tc);
    return tc;
}

/* Change an open bin's flush limit.  By CAS: another thread may close the
 * gate (flush_at 0, mp_tcache_set_gates) at any time, and that must win. */
static void set_flush_limit(mp_bin_t *bin, uint32_t limit)
{
    uint32_t was = __atomic_load_n(&bin->flush_at, __ATOMIC_RELAXED);
    if (was != 0 && was != limit)
        __atomic_compare_exchange_n(&bin->flush_at, &was, limit, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
}

/* The longest tail a cut releases, in pages: short tails are reused by the
 * next spans of their length (a page's is every small class's up to 8 KiB),
 * where long ones, each next to a live block, would wait for a medium
 * class of exactly their length while the region grows past them. */
#define MAX_CUT_PAGES 2

/* A medium class with no free block: a free block of the smallest larger
 * medium class (at most MAX_CUT_PAGES larger) that has one, cut to size.
 * Its head's pages are resident already, where a new span's would fault in
 * as the program writes them, and the tail goes back to the OS; so the free
 * blocks of one class serve the requests of the others instead of waiting
 * for the decay while new spans are carved beside them.  NULL if none. */
static mp_block_t *medium_from_larger(unsigned cls)
{
    if (MP_UNLIKELY(mp_opt.debug)) /* its check of a reused block wants the trailer of its own size */
        return NULL;
    for (unsigned c = cls + 1; c < mp_num_classes && c <= cls + MAX_CUT_PAGES; c++) {
        unsigned n;
        mp_block_t *b = mp_gstack_pop(&mp_class_stacks[c], &n);
        if (b) {
            mp_check_link("malloc", b);
            b->next = NULL;
            b->link = 0; /* handed out: no longer free */
            size_t tail = mp_classes[c].size - mp_classes[cls].size; /* a medium block is its span */
            atomic_fetch_add_explicit(&mp_reclaim_released_bytes, tail, memory_order_relaxed);
            return (mp_block_t *)mp_region_cut_span((char *)b, mp_classes[c].span_pages, cls);
        }
    }
    return NULL;
}

/* The bin is empty: take a batch from the global stack, else a never-used
 * block from the thread's span, else a new span.  Returns one block (not
 * counted); the rest of a batch goes onto the bin.  NULL: region exhausted. */
void *mp_tcache_refill(mp_tcache_t *tc, unsigned cls)
{
    mp_bin_t *bin = &tc->bins[cls];
    unsigned n;
    mp_reclaim_tick_batch(tc, true);
    set_flush_limit(bin, mp_classes[cls].cache_limit); /* allocating again: a full-size bin */
    mp_block_t *batch = mp_gstack_pop(&mp_class_stacks[cls], &n);
    if (batch) {
        if (mp_class_stacks[cls].link_in_third_word) /* else the stack's link is on its mark */
            mp_check_link("malloc", batch);
        bin->head = batch->next;
        bin->count = n - 1;
        batch->link = 0; /* handed out: no longer free */
        MP_PROBE(refill, mp_classes[cls].size, n);
        if (MP_COUNTERS)
            mp_counters_held(tc, (int64_t)n * mp_classes[cls].size);
        return batch;
    }
    if (mp_class_is_medium(cls) && (batch = medium_from_larger(cls)) != NULL) {
        MP_PROBE(refill, mp_classes[cls].size, 1);
        if (MP_COUNTERS)
            mp_counters_held(tc, mp_classes[cls].size);
        return batch; /* not fresh: calloc zeroes it */
    }
    mp_bump_t *bump = &tc->bump[cls];
    if (bump->next == bump->end) {
        mp_block_t *tail = mp_gstack_pop(&leftover_stacks[cls], &n);
        if (tail) {
            bump->next = (char *)tail;
            bump->end = (char *)tail->next; /* a leftover's first word is its end */
        } else {
            char *span = mp_region_alloc_span(cls);
            if (span == NULL)
                return NULL;
            bump->next = span;
            bump->end = span + (size_t)mp_classes[cls].span_blocks * mp_classes[cls].size;
            mp_reclaim_pools_grew((size_t)mp_classes[cls].span_pages << MP_PAGE_SHIFT);
        }
    }
    void *p = bump->next;
    bump->next += mp_classes[cls].size;
    bump->fresh++;
    MP_PROBE(refill, mp_classes[cls].size, 1);
    if (MP_COUNTERS)
        mp_counters_held(tc, mp_classes[cls].size);
    return p;
}

/* The bin is full: keep the most recently freed half (warm in this CPU's
 * cache) and push the rest to the global stack as one batch.  A thread that
 * has not allocated from the class since its last flush (a consumer that
 * frees what others allocate) keeps none: what it kept would only wait. */
void mp_tcache_flush(mp_tcache_t *tc, unsigned cls)
{
    mp_bin_t *bin = &tc->bins[cls];
    uint64_t allocs = mp_sample_own_allocs(tc, cls);
    bool freeing_only = MP_COUNTERS && allocs == tc->allocs_at_flush[cls]; /* counted: MP_COUNTERS */
    tc->allocs_at_flush[cls] = allocs;
    unsigned keep = !freeing_only && bin->count > mp_classes[cls].batch
                        ? bin->count - mp_classes[cls].batch : 0;
    if (freeing_only)
        set_flush_limit(bin, mp_classes[cls].batch);
    mp_block_t *rest = bin->head;
    if (keep) {
        mp_block_t *last = bin->head;
        for (unsigned i = 1; i < keep; i++) {
            mp_check_link("free", last);
            last = last->next;
        }
        mp_check_link("free", last);
        rest = last->next;
        mp_block_set_next(last, NULL);
    } else {
        bin->head = NULL;
    }
    mp_gstack_push(&mp_class_stacks[cls], rest, bin->count - keep);
    MP_PROBE(flush, mp_classes[cls].size, bin->count - keep);
    tc->flushed_bytes += (size_t)(bin->count - keep) * mp_classes[cls].size;
    if (MP_COUNTERS)
        mp_counters_held(tc, -(int64_t)(bin->count - keep) * mp_classes[cls].size);
    bin->count = keep;
    mp_reclaim_tick_batch(tc, false);
}

/* A free from a thread without a cache (exiting, or bootstrapping). */
void mp_tcache_free_uncached(void *p, unsigned cls)
{
    mp_block_t *b = p; /* a batch of one */
    mp_block_set_next(b, NULL);
    mp_gstack_push(&mp_class_stacks[cls], b, 1);
}

bool mp_tcache_calls_unwatched(void)
{
    return !mp_limit_on() && !mp_opt.debug &&
           !atomic_load_explicit(&mp_perturb_byte, memory_order_relaxed);
}

/* The fast paths are open unless a memory cap is set, MPOOL_DEBUG or
 * safe-linking (freelink.h) is on or mallopt(M_PERTURB) fills blocks: each
 * needs every call on the slow paths (safe-linking alone: on the lane). */
bool mp_tcache_gates_open(void)
{
    return !mp_link_mask && mp_tcache_calls_unwatched();
}

/* Open or close the fast paths of every cache (see above).  Closed: every
 * bin's flush_at is 0, which both fast paths test, so malloc and free in every
 * thread take the slow path from the next call on.  The store races only
 * with the owner's reads of flush_at. */
/* Two threads may set gates at once (a cap, mallopt(M_PERTURB)): whichever
 * stores last must store what holds now, so the stores are redone until
 * the answer did not change under them. */
void mp_tcache_set_gates(void)
{
    bool open = mp_tcache_gates_open();
    for (;;) {
        for (mp_tcache_t *tc = mp_tcache_all(); tc; tc = tc->all_next)
            if (atomic_load_explicit(&tc->in_use, memory_order_seq_cst))
                set_cache_gates(tc, open);
        atomic_thread_fence(memory_order_seq_cst);
        bool now = mp_tcache_gates_open();
        if (now == open)
            return;
        open = now;
    }
}

/* Hand every block in tc's bins to the global stacks, where any thread can
 * reuse them (thread exit, malloc_trim). */
void mp_tcache_give_back(mp_tcache_t *tc)
{
    for (unsigned c = 1; c < mp_num_classes; c++) {
        mp_bin_t *bin = &tc->bins[c];
        if (bin->head) {
            mp_gstack_push(&mp_class_stacks[c], bin->head, bin->count);
            if (MP_COUNTERS)
                mp_counters_held(tc, -(int64_t)bin->count * mp_classes[c].size);
        }
        bin->head = NULL;
        bin->count = 0;
    }
}

/* pthread key destructor: give every cached block and span tail back, then
 * park the cache for reuse.  Later frees on this thread go straight to the
 * global stacks (mp_tcache_free_uncached). */
static void retire(mp_tcache_t *tc)
{
    mp_tcache_give_back(tc);
    if (MP_COUNTERS) { /* publish what this thread had not yet */
        mp_counters_add_active(tc->pending);
        tc->pending = 0;
    }
    for (unsigned c = 1; c < mp_num_classes; c++) {
        mp_bump_t *bump = &tc->bump[c];
        if (bump->next != bump->end) {
            mp_block_t *tail = (mp_block_t *)bump->next;
            tail->next = (mp_block_t *)bump->end;
            mp_gstack_push(&leftover_stacks[c], tail, 1);
        }
        bump->next = bump->end = NULL;
    }
    atomic_store_explicit(&tc->in_use, 0, memory_order_relaxed);
    mp_count_shared(threads_exited, 1);
    pthread_mutex_lock(&cache_lock);
    tc->free_next = free_caches;
    free_caches = tc;
    pthread_mutex_unlock(&cache_lock);
}

void mp_tcache_thread_exit(void *arg)
{
    mp_background_program_thread_exit(); /* the last program thread: ours goes first */
    mp_tls_cache = (mp_tcache_t *)&mp_tcache_empty;
    thread_state = THREAD_EXITED;
    retire(arg);
}

/* Caches whose thread is gone without running our key's destructor: a
 * thread whose first allocation came in the last round of pthread key
 * destructors made its cache after glibc's last look at our key.  Found by
 * asking the kernel whether the owner's thread id still exists (ESRCH: the
 * thread has exited, and its cache is no one's), when no parked cache is
 * left; each is retired as its thread would have.  Caches inherited across
 * fork() are left alone (their owners' ids mean nothing here, and their
 * bins may be mid-update). */
static void retire_orphans(void)
{
    pid_t pid = mp_os_getpid();
    for (mp_tcache_t *tc = mp_tcache_all(); tc; tc = tc->all_next) {
        if (atomic_load_explicit(&tc->in_use, memory_order_acquire) != 1 || tc->owner_pid != pid)
            continue; /* parked, being retired, or inherited across fork() (pid 0) */
        if (!mp_os_thread_gone(pid, tc->owner_tid))
            continue;
        int one = 1; /* 2: being retired by this thread, no other */
        if (atomic_compare_exchange_strong(&tc->in_use, &one, 2))
            retire(tc);
    }
}

void mp_tcache_fork_prepare(void)
{
    pthread_mutex_lock(&cache_lock);
}

void mp_tcache_fork_parent(void)
{
    pthread_mutex_unlock(&cache_lock);
}

/* In the child only the forking thread exists.  Other threads' caches stay
 * marked in use: their blocks are live memory the child inherited, and their
 * counters still describe it. */
void mp_tcache_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    cache_lock = fresh;
    /* The forking thread's cache is the child's now; the others' owners do
     * not exist here and never will, and their pid may come back (a later
     * descendant can get it): mark them inherited (pid 0), so
     * retire_orphans never takes them for its own process's. */
    mp_tcache_t *self = mp_tls_cache;
    for (mp_tcache_t *tc = mp_tcache_all(); tc; tc = tc->all_next)
        if (tc != self)
            tc->owner_pid = 0;
    if (self != &mp_tcache_empty)
        set_owner(self);
}
