/* The region: a range of address space claimed at start, mapped as the
 * pools grow and carved from the bottom up into spans.  Because every pooled
 * block lies inside it, free() learns who owns a pointer from one
 * subtraction and compare against the mapped size, and its class from one
 * pagemap load -- without reading the block or its neighbours.
 *
 * Address space on demand.  At start nothing is reserved but a claim: a
 * window of MP_REGION_MAX (1 TiB) bytes of region, after TABLE_SLOTS slots
 * for per-page tables (the pagemap here, the span tables of reclaim.c),
 * placed at a random address in a part of the address space that the
 * kernel's own placement (top-down from the stack) and the executable
 * leave empty.  The first steps are mapped at once; later ones are mapped
 * at the end of the region (a hint, checked) when a span needs them,
 * each as big as the region is (4 MiB, then doubling, up to 256 MiB a
 * step), the tables' matching pages first.  So a process's VSZ grows with
 * its heap, and a step the address-space limit (RLIMIT_AS) refuses is
 * tried smaller, down to the one span asked for; when even that is
 * refused, the span is made of free spans, cut or joined (span_from_free),
 * or refused (and its request fails with ENOMEM, core/alloc.c).  If something else was mapped where the
 * region would grow (a program's own fixed mapping), the region stops
 * there for good and further requests go to the fallback.
 *
 * Everything is mapped with MAP_NORESERVE: address space, not memory,
 * until touched.  Nothing is ever unmapped, so a racy read of a stale block
 * (the lock-free stack does that) never faults. */
#include "core/region.h"
#include "base/fmt.h"
#include "base/report.h"
#include "core/gstack.h"
#include "platform/os.h"

#include <errno.h>
#include <string.h>

mp_region_t mp_region;

#define MAX_PAGES (MP_REGION_MAX >> MP_PAGE_SHIFT)
#define TABLE_SLOTS 8                     /* per-page tables the window has room for */
#define TABLE_MAX_PER_PAGE 8              /* bytes per page in one table, at most */
#define TABLE_SLOT_BYTES (MAX_PAGES * TABLE_MAX_PER_PAGE)
#define FIRST_STEP_PAGES 64               /* 4 MiB */
#define MAX_STEP_PAGES 4096               /* 256 MiB */
/* Under an address-space limit, the pools leave this much of it for thread
 * stacks and the fallback's big blocks. */
#define LIMIT_HEADROOM ((size_t)32 << 20)

/* A per-page table: slot i of the window, mapped as far as the region is. */
typedef struct table {
    void **where;    /* the owner's pointer, set when the window is claimed */
    size_t per_page; /* bytes per region page */
    size_t mapped;   /* bytes mapped from the slot's start */
} table_t;

static table_t tables[TABLE_SLOTS];
static unsigned ntables;
static uintptr_t window;                  /* the first slot; 0 until claimed */

static _Alignas(MP_CACHELINE) _Atomic size_t next_page; /* first never-carved page */
static _Atomic size_t mapped_pages;       /* pages of the region mapped */
static _Atomic int growing;               /* a thread is mapping more */
static MP_TLS volatile int growing_here;  /* ... and it is this one */
static MP_TLS bool fork_held;             /* fork_prepare took the flag */
static _Atomic bool stuck;                /* something else sits where the region would grow */
static _Atomic bool limited;              /* the last growth was refused for the limit */
static uint8_t *free_mark;                /* a table: pages of free spans (span_from_free) */

/* Spans given back to the OS (reclaim.c), by length in pages: their memory
 * is released, their address range is reused first by the next span of that
 * length, whatever its class.  Each is a one-block "batch": the stack's link
 * is in the span's second word, the only one written after the release. */
static mp_gstack_t free_spans[MP_SPAN_PAGES_MAX + 1];
static _Atomic size_t free_span_pages; /* pages on free_spans */

void mp_region_table(void **where, size_t per_page)
{
    if (ntables == TABLE_SLOTS || per_page > TABLE_MAX_PER_PAGE)
        mp_report_fatal("mp_region_table: no slot for another table (TABLE_SLOTS)");
    tables[ntables++] = (table_t){ where, per_page, 0 };
}

static uintptr_t slot_base(unsigned i)
{
    return window + (uintptr_t)i * TABLE_SLOT_BYTES;
}

/* Map the region (and the tables' matching pages) up to `pages`; false when
 * the kernel refuses: the limit (errno ENOMEM, try smaller) or another
 * mapping in the way (stuck for good). */
static bool map_to(size_t pages)
{
    size_t os_page = mp_os_page_size();
    for (unsigned i = 0; i < ntables; i++) {
        table_t *t = &tables[i];
        size_t want = (pages * t->per_page + os_page - 1) & ~(os_page - 1);
        if (want <= t->mapped)
            continue;
        int err = mp_os_map_fixed((void *)(slot_base(i) + t->mapped), want - t->mapped);
        if (err) {
            if (err != ENOMEM)
                atomic_store(&stuck, true);
            return false;
        }
        t->mapped = want;
    }
    size_t have = atomic_load_explicit(&mapped_pages, memory_order_relaxed);
    if (pages <= have)
        return true;
    int err = mp_os_map_fixed((void *)(mp_region.base + (have << MP_PAGE_SHIFT)),
                              (pages - have) << MP_PAGE_SHIFT);
    if (err) {
        if (err != ENOMEM)
            atomic_store(&stuck, true);
        return false;
    }
    /* The size first: a span carved from the new pages (whoever learns of
     * them through mapped_pages) must be inside free()'s bound. */
    __atomic_store_n(&mp_region.size, pages << MP_PAGE_SHIFT, __ATOMIC_RELEASE);
    atomic_store_explicit(&mapped_pages, pages, memory_order_release);
    return true;
}

/* Map at least `need` pages: one step more than the region has (it doubles,
 * up to MAX_STEP_PAGES), or less when the address-space limit refuses it.
 * One thread maps at a time; the others wait for it.  A signal handler that
 * allocates while this thread maps gets no new pages (the fallback serves
 * it).  false: the pages cannot be had. */
/* Take the growing flag (false: this thread holds it already, a signal
 * handler's allocation in the middle of a growth).  The thread's marker is
 * set before the flag and cleared after it, so a handler never finds the
 * flag taken by its own thread without the marker saying so. */
static bool grow_begin(void)
{
    for (;;) {
        if (growing_here)
            return false;
        growing_here = 1;
        atomic_signal_fence(memory_order_seq_cst);
        int idle = 0;
        if (atomic_compare_exchange_strong(&growing, &idle, 1))
            return true;
        growing_here = 0;
        atomic_signal_fence(memory_order_seq_cst);
        mp_os_yield();
    }
}

static void grow_end(void)
{
    atomic_store(&growing, 0);
    atomic_signal_fence(memory_order_seq_cst);
    growing_here = 0;
}

static bool grow(size_t need)
{
    if (atomic_load_explicit(&mapped_pages, memory_order_acquire) >= need)
        return true;
    if (atomic_load(&stuck) || !grow_begin())
        return false;
    size_t have = atomic_load_explicit(&mapped_pages, memory_order_relaxed);
    bool ok = have >= need;
    if (!ok) {
        size_t step = have < FIRST_STEP_PAGES ? FIRST_STEP_PAGES : have < MAX_STEP_PAGES ? have : MAX_STEP_PAGES;
        size_t target = have + step > MAX_PAGES ? MAX_PAGES : have + step;
        if (target < need)
            target = need;
        /* under RLIMIT_AS: no further than the limit less the headroom (the
         * tables' pages, a 2700th of the region's, are in the headroom) */
        size_t room = mp_os_address_space_room();
        if (room != SIZE_MAX) {
            size_t pages = room > LIMIT_HEADROOM ? (room - LIMIT_HEADROOM) >> MP_PAGE_SHIFT : 0;
            if (target > have + pages)
                target = have + pages;
        }
        if (target >= need)
            while (!(ok = map_to(target)) && !atomic_load(&stuck) && target > need)
                target = need + (target - need) / 2; /* the limit: smaller */
        atomic_store(&limited, !ok && !atomic_load(&stuck));
    } else {
        atomic_store(&limited, false);
    }
    grow_end();
    return ok;
}

bool mp_region_limited(void)
{
    return atomic_load(&limited);
}

/* Claim the window at w: its first step mapped there, or nothing. */
static bool claim_at(uintptr_t w)
{
    window = w;
    mp_region.base = w + TABLE_SLOTS * TABLE_SLOT_BYTES;
    for (unsigned i = 0; i < ntables; i++)
        *tables[i].where = (void *)slot_base(i);
    if (map_to(FIRST_STEP_PAGES))
        return true;
    for (unsigned i = 0; i < ntables; i++) { /* what was mapped of the tables */
        mp_os_unmap((void *)slot_base(i), tables[i].mapped);
        tables[i].mapped = 0;
        *tables[i].where = NULL;
    }
    atomic_store(&stuck, false);
    atomic_store(&limited, false);
    window = 0;
    mp_region.base = 0;
    return false;
}

bool mp_region_init(void)
{
    mp_region_table((void **)&mp_region.pagemap, sizeof *mp_region.pagemap);
    mp_region_table((void **)&free_mark, sizeof *free_mark);
    /* Random places where nothing else lives: from 16 TiB up (above
     * AddressSanitizer's shadow, below where PIE executables load), then
     * from 64 GiB up (ThreadSanitizer keeps its application memory below
     * 512 GiB and turns other addresses away). */
    static const struct { uintptr_t from, span; } areas[] = {
        { (uintptr_t)16 << 40, (uintptr_t)48 << 40 },
        { (uintptr_t)64 << 30, (uintptr_t)128 << 30 },
    };
    bool claimed = false;
    for (unsigned a = 0; a < 2 && !claimed; a++)
        for (int tries = 0; tries < 4 && !claimed; tries++) {
            uintptr_t offset = (uintptr_t)(mp_os_random() % (areas[a].span >> MP_PAGE_SHIFT));
            claimed = claim_at(areas[a].from + (offset << MP_PAGE_SHIFT));
        }
    return claimed;
}

/* In the child of a fork() that interrupted a growth in another thread (or
 * in a signal handler on this one): it will not finish there. */
void mp_region_fork_child(void)
{
    if (fork_held) {
        fork_held = false;
        grow_end();
    } else if (!growing_here) { /* this thread's own growth goes on in the child */
        atomic_store(&growing, 0);
    }
}

/* Before fork() in a multithreaded process: no other thread is in the
 * middle of a growth, whose mappings the child would inherit without the
 * counts that say so.  (This thread's own, from a signal handler, finishes
 * after the fork, in both.) */
void mp_region_fork_prepare(void)
{
    if (!growing_here) {
        grow_begin();
        fork_held = true;
    }
}

void mp_region_fork_parent(void)
{
    if (fork_held) {
        fork_held = false;
        grow_end();
    }
}

/* Carve a new span for cls.  Lock-free: one CAS on the page cursor.  The
 * pagemap entries are written before the span's blocks are handed out, and
 * every other thread learns of a block only through the program's own
 * synchronisation, which orders those writes before its reads. */
static void map_span(size_t first, size_t n, unsigned cls)
{
    for (size_t i = 0; i < n; i++)
        mp_region.pagemap[first + i] = (uint32_t)(i << 8) | cls;
}

/* The region cannot grow (the address-space limit): make a span of n pages
 * out of free spans, a longer one cut, neighbours joined, which a span of
 * their own length alone could not serve (a heap freed in 1-page spans
 * asked for 3-page ones).  Every free span is taken off its stack and its
 * pages marked in free_mark; runs of marked pages give the span, and the
 * rest goes back in spans of up to MP_SPAN_PAGES_MAX.  Under the growing
 * flag: one at a time, and not while a fork copies the counts.  NULL: no
 * run is long enough. */
static char *span_from_free(size_t n)
{
    if (free_mark == NULL || !grow_begin())
        return NULL;
    size_t lo = SIZE_MAX, hi = 0;
    for (unsigned len = 1; len <= MP_SPAN_PAGES_MAX; len++) {
        mp_gstack_t *st = &free_spans[len];
        unsigned one;
        for (mp_block_t *s = mp_gstack_take_all(st), *next; s; s = next) {
            next = mp_gstack_next_batch(st, s, &one);
            memset(s, 0, 2 * sizeof(uintptr_t)); /* the stack's words: fresh blocks are zero */
            size_t page = mp_region_page_of(s);
            memset(&free_mark[page], 1, len);
            lo = page < lo ? page : lo;
            hi = page + len > hi ? page + len : hi;
            atomic_fetch_sub_explicit(&free_span_pages, len, memory_order_relaxed);
        }
    }
    char *found = NULL;
    for (size_t p = lo; p < hi;) {
        if (!free_mark[p]) {
            p++;
            continue;
        }
        size_t end = p;
        while (end < hi && free_mark[end])
            end++;
        memset(&free_mark[p], 0, end - p);
        if (found == NULL && end - p >= n) {
            found = (char *)(mp_region.base + (p << MP_PAGE_SHIFT));
            p += n;
        }
        for (; p < end; p += MP_SPAN_PAGES_MAX) { /* the rest, back on the stacks */
            size_t len = end - p < MP_SPAN_PAGES_MAX ? end - p : MP_SPAN_PAGES_MAX;
            atomic_fetch_add_explicit(&free_span_pages, len, memory_order_relaxed);
            mp_gstack_push(&free_spans[len], (mp_block_t *)(mp_region.base + (p << MP_PAGE_SHIFT)), 1);
        }
    }
    grow_end();
    return found;
}

char *mp_region_alloc_span(unsigned cls)
{
    size_t n = mp_classes[cls].span_pages;
    unsigned one;
    char *reused = (char *)mp_gstack_pop(&free_spans[n], &one);
    if (reused) {
        atomic_fetch_sub_explicit(&free_span_pages, n, memory_order_relaxed);
        map_span(mp_region_page_of(reused), n, cls);
        memset(reused, 0, 2 * sizeof(uintptr_t)); /* the free-span stack's words: fresh blocks are zero */
        return reused;
    }
    size_t first = atomic_load_explicit(&next_page, memory_order_relaxed);
    do { /* a CAS, not add-then-undo: an undo could hand a page out twice */
        if (first + n > MAX_PAGES || mp_region.base == 0)
            return NULL;
        if (first + n > atomic_load_explicit(&mapped_pages, memory_order_acquire) && !grow(first + n)) {
            char *joined = atomic_load(&limited) ? span_from_free(n) : NULL;
            if (joined)
                map_span(mp_region_page_of(joined), n, cls);
            return joined;
        }
    } while (!atomic_compare_exchange_weak_explicit(&next_page, &first, first + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    map_span(first, n, cls);
    return (char *)(mp_region.base + (first << MP_PAGE_SHIFT));
}

char *mp_region_alloc_sampled_span(unsigned cls)
{
    char *span = mp_region_alloc_span(cls);
    if (span == NULL)
        return NULL;
    size_t first = mp_region_page_of(span);
    for (size_t i = 0; i < mp_classes[cls].span_pages; i++) /* before any block is handed out */
        __atomic_store_n(&mp_region.pagemap[first + i],
                         MP_PAGEMAP_SAMPLED | (uint32_t)cls << 24 | (uint32_t)(i << 8),
                         __ATOMIC_RELAXED);
    return span;
}

/* A medium block's span of `pages` pages (wholly free, taken off its
 * stack), cut to the span of the smaller medium class cls: its head keeps
 * its pages, mapped for cls; the tail is released as a freed span is. */
char *mp_region_cut_span(char *span, unsigned pages, unsigned cls)
{
    size_t keep = mp_classes[cls].span_pages;
    map_span(mp_region_page_of(span), keep, cls);
    mp_region_release_span(span + (keep << MP_PAGE_SHIFT), pages - (unsigned)keep);
    return span;
}

/* Give a wholly free span's memory back to the OS and keep its addresses for
 * the next span of its length.  Its pagemap entries go first: from then on a
 * stale pointer into it is reported as "in no allocated span". */
void mp_region_release_span(char *span, unsigned pages)
{
    size_t first = mp_region_page_of(span);
    for (size_t i = 0; i < pages; i++)
        __atomic_store_n(&mp_region.pagemap[first + i], 0, __ATOMIC_RELAXED);
    mp_os_release(span, (size_t)pages << MP_PAGE_SHIFT);
    atomic_fetch_add_explicit(&free_span_pages, pages, memory_order_relaxed);
    mp_gstack_push(&free_spans[pages], (mp_block_t *)span, 1);
}

size_t mp_region_mapped_bytes(void)
{
    size_t carved = atomic_load_explicit(&next_page, memory_order_relaxed);
    size_t released = atomic_load_explicit(&free_span_pages, memory_order_relaxed);
    return (carved > released ? carved - released : 0) << MP_PAGE_SHIFT;
}

size_t mp_region_released_bytes(void)
{
    return atomic_load_explicit(&free_span_pages, memory_order_relaxed) << MP_PAGE_SHIFT;
}

/* ---- misuse ------------------------------------------------------------------ */

static const char *kind_text(mp_ptr_kind_t kind)
{
    switch (kind) {
    case MP_PTR_INTERIOR:
        return "interior pointer: not the start of an mpool block";
    case MP_PTR_UNMAPPED:
        return "inside mpool's region but in no allocated span";
    case MP_PTR_OUTSIDE:
        return "not allocated by mpool, or already freed";
    case MP_PTR_POOL:
        return "the block is already free: a double free or a use after free";
    case MP_PTR_SAMPLED:
        return "a profiled block that is not live: a double free or a use after free";
    }
    return "invalid pointer";
}

void mp_report_bad_pointer(const char *func, const void *p, mp_ptr_kind_t kind)
{
    char line[256];
    mp_fmt(line, sizeof line, "%s(): invalid pointer %p (%s)", func, p, kind_text(kind));
    mp_report_abort(line);
}
