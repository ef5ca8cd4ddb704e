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
 * at the end of the region (MAP_FIXED_NOREPLACE) when a span needs them,
 * each as big as the region is (4 MiB, then doubling, up to 256 MiB a
 * step), the tables' matching pages first.  So a process's VSZ grows with
 * its heap, and a step the address-space limit (RLIMIT_AS) refuses is
 * tried smaller, down to the one span asked for; when even that is
 * refused, the span is refused (and its request goes to the fallback,
 * which fails with ENOMEM in turn).  If something else was mapped where the
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
#define TABLE_SLOTS 4                     /* per-page tables the window has room for */
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
static MP_TLS int growing_here;           /* ... and it is this one */
static _Atomic bool stuck;                /* something else sits where the region would grow */
static _Atomic bool limited;              /* the last growth was refused for the limit */

/* Spans given back to the OS (reclaim.c), by length in pages: their memory
 * is released, their address range is reused first by the next span of that
 * length, whatever its class.  Each is a one-block "batch": the stack's link
 * is in the span's second word, the only one written after the release. */
static mp_gstack_t free_spans[MP_SPAN_PAGES_MAX + 1];
static _Atomic size_t free_span_pages; /* pages on free_spans */

void mp_region_table(void **where, size_t per_page)
{
    if (ntables < TABLE_SLOTS && per_page <= TABLE_MAX_PER_PAGE)
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
    int err = mp_os_map_fixed((void *)(mp_region.base + (have << MP_PAGE_SHIFT)),
                              (pages - have) << MP_PAGE_SHIFT);
    if (err) {
        if (err != ENOMEM)
            atomic_store(&stuck, true);
        return false;
    }
    atomic_store_explicit(&mapped_pages, pages, memory_order_release);
    /* last: free() takes a pointer past the old size for a foreign one */
    __atomic_store_n(&mp_region.size, pages << MP_PAGE_SHIFT, __ATOMIC_RELEASE);
    return true;
}

/* Map at least `need` pages: one step more than the region has (it doubles,
 * up to MAX_STEP_PAGES), or less when the address-space limit refuses it.
 * One thread maps at a time; the others wait for it.  A signal handler that
 * allocates while this thread maps gets no new pages (the fallback serves
 * it).  false: the pages cannot be had. */
static bool grow(size_t need)
{
    for (;;) {
        if (atomic_load_explicit(&mapped_pages, memory_order_acquire) >= need)
            return true;
        if (growing_here || atomic_load(&stuck))
            return false;
        int idle = 0;
        if (atomic_compare_exchange_weak(&growing, &idle, 1))
            break;
        mp_os_yield();
    }
    growing_here = 1;
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
    growing_here = 0;
    atomic_store(&growing, 0);
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
    atomic_store(&growing, 0);
    growing_here = 0;
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
        if (first + n > atomic_load_explicit(&mapped_pages, memory_order_acquire) && !grow(first + n))
            return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&next_page, &first, first + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    map_span(first, n, cls);
    return (char *)(mp_region.base + (first << MP_PAGE_SHIFT));
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

size_t mp_region_reserved_bytes(void)
{
    return atomic_load_explicit(&mapped_pages, memory_order_relaxed) << MP_PAGE_SHIFT;
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
    }
    return "invalid pointer";
}

void mp_report_bad_pointer(const char *func, const void *p, mp_ptr_kind_t kind)
{
    char line[256];
    mp_fmt(line, sizeof line, "%s(): invalid pointer %p (%s)", func, p, kind_text(kind));
    mp_report_abort(line);
}
