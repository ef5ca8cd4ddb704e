/* The region: one large reservation made at start, carved from the bottom up
 * into spans.  Because every pooled block lies inside it, free() learns who
 * owns a pointer from one subtraction and compare, and its class from one
 * pagemap load -- without reading the block or its neighbours.
 *
 * The region and the pagemap are reserved with MAP_NORESERVE: they cost
 * address space, not memory, until touched.  A 4 KiB page of pagemap maps
 * 64 MiB of heap.  The region is never unmapped, so a racy read of a stale
 * block (the lock-free stack does that) never faults. */
#include "core/region.h"
#include "base/fmt.h"
#include "base/report.h"
#include "core/gstack.h"
#include "platform/os.h"

#include <string.h>

mp_region_t mp_region;

static _Alignas(MP_CACHELINE) _Atomic size_t next_page; /* first never-carved page */
static size_t region_pages;

/* Spans given back to the OS (reclaim.c), by length in pages: their memory
 * is released, their address range is reused first by the next span of that
 * length, whatever its class.  Each is a one-block "batch": the stack's link
 * is in the span's second word, the only one written after the release. */
static mp_gstack_t free_spans[MP_SPAN_PAGES_MAX + 1];
static _Atomic size_t free_span_pages; /* pages on free_spans */

bool mp_region_init(void)
{
    for (size_t size = MP_REGION_MAX; size >= MP_REGION_MIN; size /= 2) {
        size_t pages = size >> MP_PAGE_SHIFT;
        char *raw = mp_os_reserve(size + MP_PAGE_SIZE); /* slack to align the base */
        if (raw == NULL)
            continue;
        uint32_t *map = mp_os_reserve(pages * sizeof(uint32_t));
        if (map == NULL) {
            mp_os_unmap(raw, size + MP_PAGE_SIZE);
            continue;
        }
        uintptr_t base = ((uintptr_t)raw + MP_PAGE_SIZE - 1) & ~(uintptr_t)(MP_PAGE_SIZE - 1);
        region_pages = pages;
        mp_region.pagemap = map;
        mp_region.base = base;
        /* size last: free() treats every pointer as foreign until it is set */
        __atomic_store_n(&mp_region.size, size, __ATOMIC_RELEASE);
        return true;
    }
    return false;
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
        if (first + n > region_pages)
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

size_t mp_region_pages(void)
{
    return region_pages;
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
