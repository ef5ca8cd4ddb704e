/* The region: one large reservation made at start, carved from the bottom up
 * into spans.  Because every pooled block lies inside it, free() learns who
 * owns a pointer from one subtraction and compare, and its class from one
 * pagemap load -- without reading the block or its neighbours.
 *
 * The region and the pagemap are reserved with MAP_NORESERVE: they cost
 * address space, not memory, until touched.  A 4 KiB page of pagemap maps
 * 64 MiB of heap.  The region is never unmapped, so a racy read of a stale
 * block (the lock-free stack does that) never faults. */
#include "internal.h"

#include <string.h>

mp_region_t mp_region;

static _Alignas(MP_CACHELINE) _Atomic size_t next_page; /* first never-carved page */
static size_t region_pages;

bool mp_segment_init(void)
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
char *mp_segment_alloc_span(unsigned cls)
{
    size_t n = mp_classes[cls].span_pages;
    size_t first = atomic_load_explicit(&next_page, memory_order_relaxed);
    do { /* a CAS, not add-then-undo: an undo could hand a page out twice */
        if (first + n > region_pages)
            return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&next_page, &first, first + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    for (size_t i = 0; i < n; i++)
        mp_region.pagemap[first + i] = (uint32_t)(i << 8) | cls;
    return (char *)(mp_region.base + (first << MP_PAGE_SHIFT));
}

size_t mp_segment_mapped_bytes(void)
{
    return atomic_load_explicit(&next_page, memory_order_relaxed) << MP_PAGE_SHIFT;
}
