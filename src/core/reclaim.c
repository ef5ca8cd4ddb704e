/* Giving memory back to the OS.
 *
 * Free blocks end up on their class's global stack.  A pass over a class
 * takes the whole stack at once, counts the free blocks of each span, and
 * gives back the spans whose every block is there: their memory is released
 * (madvise), their addresses go to region.c's free-span lists, reusable by
 * any class with spans of that length.  The other blocks go back on the
 * stack in batches.
 *
 * Decay: a span is released only when it is wholly free at two passes of its
 * class in a row, so memory a program is still churning through stays; the
 * passes run at most every MPOOL_DECAY_MS / 4, so a span freed for good is
 * released within MPOOL_DECAY_MS / 2 or so, and one reused within that
 * time is not.  The passes are driven by the
 * allocator's own slow paths (refill and flush, every batch of 16-128
 * blocks) and, when memory waits for them while the program calls neither
 * malloc nor free, by the background thread (core/background.c): a slow
 * path that flushed a megabyte since the last pass, or a pass that left
 * spans waiting, huge blocks cached or jemalloc's pages dirty, hands it the
 * decay task, which runs the passes until nothing waits.  The same pass
 * purges our jemalloc arena once no block was freed into it for
 * MPOOL_DECAY_MS (jemalloc's own decay runs only inside its calls).
 *
 * A pass walks every free block of its class, so a class whose stack is
 * busy (more than BUSY_POPS batches taken from it since its last pass: its
 * free blocks are being reused) is skipped, up to BUSY_SKIPS passes in a
 * row.  A stack that only grows (the program is freeing) is looked at: a
 * program that frees and reallocates a large heap over and over (CPython
 * does) does not pay a walk of it every few hundred milliseconds, and its
 * idle spans still go back within a second or two.
 *
 * One pass runs at a time (an atomic flag; a tick that finds it taken does
 * nothing), in whichever thread's slow path found it due.  Nothing here
 * blocks the fast paths: other threads that find a stack empty while its
 * blocks are being counted take fresh blocks.
 *
 * Per-span state lives in two arrays indexed by the span's first page,
 * tables of the region (mapped as it grows) touched only where spans
 * exist.  Entries carry the number of the pass that wrote them, so nothing
 * needs resetting between passes. */
#define _GNU_SOURCE
#include "core/reclaim.h"
#include "base/probes.h"
#include "base/options.h"
#include "core/background.h"
#include "core/gstack.h"
#include "core/init.h"
#include "core/region.h"
#include "core/sampled.h"
#include "core/tcache.h"
#include "fallback/fallback.h"
#include "platform/os.h"


enum {
    KEEP = 0xfffffffeu,     /* decided this pass: the span stays */
    RELEASING = 0xffffffffu /* decided this pass: the span goes */
};

static uint64_t *span_count; /* per span: pass id << 32 | free blocks seen, or a decision */
static uint32_t *span_idle;  /* per span: id of the last pass that saw it wholly free */
static char **releasing;     /* spans to release after the walk */

static _Atomic int running;           /* a pass is under way */
static _Atomic uint64_t next_due_ns;  /* no tick before this */
static uint32_t pass_id = 1;          /* under `running`; ids are never 0 */
static uint32_t last_pass[MP_NUM_CLASSES]; /* id of each class's previous pass */
static uint32_t backoff[MP_NUM_CLASSES];   /* passes to skip: long stacks with nothing to give */
static uint32_t skip[MP_NUM_CLASSES];
static uint64_t pops_seen[MP_NUM_CLASSES];  /* the stack's pops at its last pass */
static uint32_t busy_skips[MP_NUM_CLASSES]; /* passes skipped in a row for being busy */
static size_t waiting_spans; /* under `running`: spans the passes left to release at the next */
static uint32_t class_waiting[MP_NUM_CLASSES]; /* of them, each class's at its last pass */

enum { BUSY_POPS = 32, BUSY_SKIPS = 7 };

_Atomic uint64_t mp_reclaim_passes, mp_reclaim_released_bytes;

/* The span tables grow with the region (mp_region_table); before it is
 * claimed. */
void mp_reclaim_init(void)
{
    mp_region_table((void **)&span_count, sizeof *span_count);
    mp_region_table((void **)&span_idle, sizeof *span_idle);
    mp_region_table((void **)&releasing, sizeof *releasing);
}

static size_t span_of(const void *block)
{
    size_t page = mp_region_page_of(block);
    return page - (mp_region.pagemap[page] >> 8);
}

/* What the pass decides for the span of one free block (see the header). */
static uint32_t decide(size_t span, unsigned cls, bool all, uint32_t id, size_t *nrel)
{
    uint32_t seen = (uint32_t)span_count[span];
    if (seen == KEEP || seen == RELEASING)
        return seen;
    uint32_t verdict = KEEP;
    if (seen == mp_classes[cls].span_blocks) {
        if (all || (last_pass[cls] != 0 && span_idle[span] == last_pass[cls])) {
            verdict = RELEASING;
            releasing[(*nrel)++] = (char *)(mp_region.base + (span << MP_PAGE_SHIFT));
        } else {
            span_idle[span] = id; /* wholly free now: released if it still is next time */
            waiting_spans++;
        }
    }
    span_count[span] = (uint64_t)id << 32 | verdict;
    return verdict;
}

/* One pass over class cls; returns the bytes released.  all: release every
 * wholly free span, without waiting for a second pass. */
static size_t reclaim_class(unsigned cls, bool all)
{
    mp_gstack_t *st = &mp_class_stacks[cls];
    uint32_t id = ++pass_id;
    mp_block_t *list = mp_gstack_take_all(st);
    if (list == NULL) {
        last_pass[cls] = id; /* a look that saw nothing free: the next starts afresh */
        class_waiting[cls] = 0;
        return 0;
    }
    const mp_class_info_t *ci = &mp_classes[cls];
    unsigned n;
    size_t waiting_before = waiting_spans;

    /* count each span's free blocks; with safe-linking, check each link
     * before following it (a batch's head of 16-byte blocks has no mark) */
    size_t blocks = 0;
    bool check = MP_CHECKS && mp_link_mask != 0;
    for (mp_block_t *batch = list; batch; batch = mp_gstack_next_batch(st, batch, &n)) {
        for (mp_block_t *b = batch; b; b = b->next, blocks++) {
            if (check && (b != batch || st->link_in_third_word))
                mp_check_link(NULL, b);
            size_t s = span_of(b);
            uint64_t e = span_count[s];
            span_count[s] = (e >> 32 == id ? e : (uint64_t)id << 32) + 1;
        }
    }

    /* keep the blocks of spans that stay, in batches, on the stack again */
    size_t nrel = 0;
    mp_block_t *out = NULL;
    unsigned out_n = 0;
    for (mp_block_t *batch = list, *next_batch; batch; batch = next_batch) {
        next_batch = mp_gstack_next_batch(st, batch, &n);
        for (mp_block_t *b = batch, *next; b; b = next) {
            next = b->next;
            if (decide(span_of(b), cls, all, id, &nrel) == RELEASING)
                continue;
            mp_block_set_next(b, out); /* and its mark, which may cover the link */
            out = b;
            if (++out_n == ci->batch) {
                mp_gstack_push(st, out, out_n);
                out = NULL;
                out_n = 0;
            }
        }
    }
    if (out)
        mp_gstack_push(st, out, out_n);
    last_pass[cls] = id;

    /* only now: the walk above read links inside these spans */
    for (size_t i = 0; i < nrel; i++)
        mp_region_release_span(releasing[i], ci->span_pages);
    size_t released = nrel * ((size_t)ci->span_pages << MP_PAGE_SHIFT);

    class_waiting[cls] = (uint32_t)(waiting_spans - waiting_before);

    /* a long stack with no span to give, now or at the next pass: fragmented,
     * not idle; look less often */
    if (!all && blocks >= 65536 && nrel == 0 && class_waiting[cls] == 0)
        backoff[cls] = backoff[cls] ? (backoff[cls] < 32 ? backoff[cls] * 2 : 32) : 1;
    else
        backoff[cls] = 0;
    skip[cls] = backoff[cls];
    return released;
}

/* all: every wholly free span; look_all: no class skipped for its back-off
 * (the background thread's passes after fresh frees: a backed-off class
 * may have had spans freed whole since, and no slow path will look). */
static size_t reclaim_all_classes(bool all, bool look_all)
{
    size_t released = 0;
    waiting_spans = 0;
    for (unsigned c = 1; c < mp_num_classes; c++) {
        waiting_spans += class_waiting[c]; /* a class skipped keeps what it had */
        if (look_all)
            skip[c] = 0;
        if (!all && skip[c]) {
            skip[c]--;
            continue;
        }
        uint64_t pops = mp_gstack_pops(&mp_class_stacks[c]);
        uint64_t drawn = pops - pops_seen[c];
        pops_seen[c] = pops;
        if (!all && drawn > BUSY_POPS && busy_skips[c] < BUSY_SKIPS) {
            busy_skips[c]++;
            waiting_spans++; /* not looked at: its free spans, if any, wait for a pass */
            continue;
        }
        busy_skips[c] = 0;
        waiting_spans -= class_waiting[c];
        released += reclaim_class(c, all);
    }
    atomic_fetch_add_explicit(&mp_reclaim_passes, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mp_reclaim_released_bytes, released, memory_order_relaxed);
    MP_PROBE(reclaim_pass, released, (int)all);
    return released;
}

/* One pass at a time.  A thread that is already in one (its signal handler
 * allocated) must not start another inside it, nor wait for itself. */
static MP_TLS volatile int pass_here;
/* Passes that released every wholly free span (malloc_trim's, and those
 * for space), ended so far: mp_reclaim_for_space need not run another. */
static _Atomic uint64_t full_passes_done;

/* The thread's marker is set before the flag is taken and cleared after it
 * is released, so a signal handler never finds the flag taken by its own
 * thread without the marker saying so. */
static bool pass_begin(bool wait)
{
    for (;;) {
        if (pass_here)
            return false;
        pass_here = 1;
        atomic_signal_fence(memory_order_seq_cst);
        if (!atomic_exchange_explicit(&running, 1, memory_order_acquire))
            return true;
        pass_here = 0;
        atomic_signal_fence(memory_order_seq_cst);
        if (!wait)
            return false;
        mp_os_yield(); /* another thread's pass: short, and never waits on us */
    }
}

static void pass_end(bool full)
{
    if (full)
        atomic_fetch_add_explicit(&full_passes_done, 1, memory_order_relaxed);
    atomic_store_explicit(&running, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    pass_here = 0;
}

/* ---- the decay ---------------------------------------------------------------- */

#define WORTH_A_THREAD ((size_t)1 << 20) /* bytes flushed since a pass that wake the thread */

static _Atomic size_t freed_since_pass; /* flushed to the global stacks since the last pass */
static _Atomic bool memory_waits;       /* the last pass left something for the next */
static _Atomic bool decay_queued;       /* the background thread has the decay task */
static size_t dirty_seen;               /* under `running`: jemalloc's dirty estimate, */
static uint64_t dirty_since_ns;         /* unchanged since then */

static uint64_t decay_period_ns(void)
{
    return mp_opt.decay_ms * 250000u; /* a quarter of MPOOL_DECAY_MS */
}

/* Our jemalloc arena's dirty pages go back once nothing was freed into it
 * for MPOOL_DECAY_MS. */
static void purge_idle_fallback(uint64_t now)
{
    size_t dirty = mp_fallback_dirty_bytes();
    if (dirty != dirty_seen) {
        dirty_seen = dirty;
        dirty_since_ns = now;
    } else if (dirty && now - dirty_since_ns >= mp_opt.decay_ms * 1000000u &&
               mp_fallback_can_give_back()) {
        mp_fallback_give_back(0, true);
        dirty_seen = mp_fallback_dirty_bytes();
    }
}

/* A pass if one is due (under `running`). */
static void decay_pass(uint64_t now, bool background)
{
    if (now < atomic_load_explicit(&next_due_ns, memory_order_relaxed))
        return;
    atomic_store_explicit(&next_due_ns, now + decay_period_ns(), memory_order_relaxed);
    size_t freed = atomic_exchange(&freed_since_pass, 0);
    if (span_count != NULL)
        reclaim_all_classes(false, background && freed >= WORTH_A_THREAD);
    mp_fallback_release_cached(false); /* the huge cache has no pool tables to wait for */
    purge_idle_fallback(now);
    atomic_store(&memory_waits, waiting_spans || mp_fallback_cached_bytes() || dirty_seen);
}

static uint64_t decay_task(void);

static void queue_decay(void)
{
    if (!atomic_exchange(&decay_queued, true) && !mp_background_run(decay_task))
        atomic_store(&decay_queued, false); /* no thread: the slow paths' ticks go on */
}

/* The background thread's task: passes until nothing waits. */
static uint64_t decay_task(void)
{
    if (mp_opt.decay_ms == 0)
        return 0;
    uint64_t now = mp_os_coarse_ns(), due = atomic_load_explicit(&next_due_ns, memory_order_relaxed);
    if (now < due)
        return due - now; /* judged by a pass after the memory that woke it */
    if (!pass_begin(false))
        return decay_period_ns();
    decay_pass(now, true);
    pass_end(false);
    if (atomic_load(&memory_waits))
        return decay_period_ns();
    atomic_store(&decay_queued, false);
    if (atomic_load(&freed_since_pass) >= WORTH_A_THREAD && !atomic_exchange(&decay_queued, true))
        return decay_period_ns(); /* freed meanwhile: keep the task */
    return 0;
}

/* The heap holds enough that freed memory will wait for the decay: time
 * for the background thread, started here, on an allocation's slow path
 * (never a free's: core/background.c). */
#define HEAP_WORTH_A_THREAD ((size_t)16 << 20)

static void start_thread_if_worth_it(void)
{
    if (!mp_background_running() && mp_opt.background &&
        (mp_region_mapped_bytes() >= HEAP_WORTH_A_THREAD || mp_fallback_cached_bytes() ||
         mp_fallback_dirty_bytes() >= WORTH_A_THREAD))
        mp_background_start();
}

void mp_reclaim_tick(size_t flushed, bool allocating)
{
    if (allocating)
        mp_background_poke(); /* the series in a fork child too, whatever the decay */
    if (mp_opt.decay_ms == 0)
        return;
    if (allocating)
        start_thread_if_worth_it();
    if (flushed && atomic_fetch_add_explicit(&freed_since_pass, flushed, memory_order_relaxed) +
                           flushed >= WORTH_A_THREAD &&
        !atomic_load(&decay_queued))
        queue_decay();
    uint64_t now = mp_os_coarse_ns();
    if (now < atomic_load_explicit(&next_due_ns, memory_order_relaxed))
        return;
    if (!pass_begin(false))
        return;
    decay_pass(now, false);
    pass_end(false);
    if (atomic_load(&memory_waits) && !atomic_load(&decay_queued))
        queue_decay();
}

void mp_reclaim_big_alloc(void)
{
    if (mp_opt.decay_ms)
        start_thread_if_worth_it();
}

void mp_reclaim_fallback_freed(void)
{
    if (mp_opt.decay_ms && !atomic_load(&decay_queued) &&
        (mp_fallback_cached_bytes() || mp_fallback_dirty_bytes() >= WORTH_A_THREAD))
        queue_decay();
}

size_t mp_reclaim_pass(bool all)
{
    if (!mp_init())
        return 0;
    /* a pass this one waited for (the background thread's decay) may have
     * released what this one would have: it counts as this call's */
    uint64_t before = atomic_load_explicit(&mp_reclaim_released_bytes, memory_order_relaxed);
    if (!pass_begin(true))
        return 0;
    size_t waited = (size_t)(atomic_load_explicit(&mp_reclaim_released_bytes, memory_order_relaxed) - before);
    size_t released = span_count != NULL ? reclaim_all_classes(all, false) : 0;
    released += mp_fallback_release_cached(all);
    if (all)
        released += mp_sampled_release_kept();
    pass_end(all);
    return waited + released;
}

/* Address space ran short: the region cannot grow for the limit (RLIMIT_AS).
 * What is free goes back now, without waiting for the decay: every wholly
 * free span (whose addresses the next spans reuse, region.c) and the
 * fallback's free memory.  A pass that another thread ends meanwhile does
 * for this one (its blocks were off their stacks while it ran: the caller's
 * refill found them missing); one that this thread's signal handler
 * interrupted is not waited for.  The thread's cached blocks stay where they
 * are: a handler's allocation may have interrupted this very thread's bins.
 * true when a pass ended: spans may be free to take. */
bool mp_reclaim_for_space(void)
{
    uint64_t seen = atomic_load_explicit(&full_passes_done, memory_order_relaxed);
    if (!pass_begin(true))
        return false;
    if (atomic_load_explicit(&full_passes_done, memory_order_relaxed) != seen) {
        pass_end(false); /* another thread's full pass ended while this one waited */
        return true;
    }
    if (span_count != NULL)
        reclaim_all_classes(true, false);
    pass_end(true);
    if (mp_fallback_can_give_back()) {
        mp_fallback_release_cached(true);
        mp_fallback_give_back(0, true);
    }
    return true; /* this pass or another thread's may have released spans */
}

/* In the child of a fork() that interrupted a pass in another thread: that
 * pass's blocks are lost to the child (one class's free blocks at most), but
 * the passes themselves must go on.  (A pass that this thread's signal
 * handler interrupted goes on once the handler returns, and none starts
 * inside it: pass_here.) */
void mp_reclaim_fork_child(void)
{
    if (!pass_here) /* this thread's own pass goes on in the child */
        atomic_store_explicit(&running, 0, memory_order_relaxed);
}

/* ---- the pools grew ---------------------------------------------------------- */

/* A heap where any free page serves any size reuses a freed big buffer's
 * memory for small blocks; ours keeps the two apart.  So when the pools take
 * a new span, free memory the fallback holds goes first, as fast: the huge
 * cache's pages at once, and jemalloc's dirty pages (all of them: a purge is
 * one call) once the pools have grown by as much as may be dirty, or by
 * PURGE_MAX_WAIT.  The wait makes a program that churns fallback blocks
 * re-fault them about as often as its pools grow, no more
 * (docs/ARCHITECTURE.md, "Pools and fallback share free memory"). */
#define PURGE_STEP ((size_t)1 << 20)
#define PURGE_MAX_WAIT ((size_t)8 << 20)

static _Atomic size_t grown_clean;     /* bytes the pools took since the last purge */
static _Atomic uint64_t purges_seen;   /* the fallback's purges when grown_clean was reset */

void mp_reclaim_pools_grew(size_t bytes)
{
    if (!mp_fallback_can_give_back())
        return;
    uint64_t purges = mp_fallback_purges();
    if (purges != atomic_load_explicit(&purges_seen, memory_order_relaxed)) {
        atomic_store_explicit(&purges_seen, purges, memory_order_relaxed);
        atomic_store_explicit(&grown_clean, 0, memory_order_relaxed); /* purged since */
    }
    size_t grown = atomic_fetch_add_explicit(&grown_clean, bytes, memory_order_relaxed) + bytes;
    size_t dirty = mp_fallback_dirty_bytes();
    bool purge = dirty >= PURGE_STEP && grown >= (dirty < PURGE_MAX_WAIT ? dirty : PURGE_MAX_WAIT);
    if (!purge && mp_fallback_cached_bytes() == 0)
        return;
    mp_fallback_give_back(bytes, purge);
}
