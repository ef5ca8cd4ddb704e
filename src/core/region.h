/* The region: spans are carved from it, and the pagemap says what each of
 * its pages holds, so "whose pointer is this?" is answered without a lock. */
#ifndef MPOOL_REGION_H
#define MPOOL_REGION_H

#include "core/sizeclass.h"

extern mp_region_t mp_region MP_HIDDEN;

/* A table of per_page bytes (at most 8) for each page of the region, mapped
 * as the region grows; *where is set when the region is claimed (NULL if it
 * cannot be).  Before mp_region_init. */
void mp_region_table(void **where, size_t per_page) MP_HIDDEN;
bool mp_region_init(void) MP_HIDDEN; /* claims the address space: false if it cannot */
char *mp_region_alloc_span(unsigned cls) MP_HIDDEN;  /* NULL when no pages can be had */
/* A span of cls for profiled blocks (core/sampled.c): its pagemap entries
 * send every free of it to the slow path. */
char *mp_region_alloc_sampled_span(unsigned cls) MP_HIDDEN;
size_t mp_region_mapped_bytes(void) MP_HIDDEN;   /* carved, less released spans */
size_t mp_region_released_bytes(void) MP_HIDDEN; /* on the free-span lists */
/* The region could not grow for the address-space limit (RLIMIT_AS), not
 * for good: a pooled request it cannot serve fails with ENOMEM. */
bool mp_region_limited(void) MP_HIDDEN;
void mp_region_fork_prepare(void) MP_HIDDEN;
void mp_region_fork_parent(void) MP_HIDDEN;
void mp_region_fork_child(void) MP_HIDDEN;
void mp_region_release_span(char *span, unsigned pages) MP_HIDDEN; /* wholly free */
/* A free medium block's span of `pages` pages, made the block of the smaller
 * medium class cls; the pages past it are released. */
char *mp_region_cut_span(char *span, unsigned pages, unsigned cls) MP_HIDDEN;

/* The mapped size: it grows (region.c) while other threads read it.  A plain
 * read, which the free fast path's compare takes as its operand (an atomic
 * one costs a load of its own); an aligned word on x86-64, so never torn.
 * ThreadSanitizer builds read it atomically, as it is. */
static inline __attribute__((always_inline)) size_t mp_region_size(void)
{
#if defined(__SANITIZE_THREAD__)
    return __atomic_load_n(&mp_region.size, __ATOMIC_RELAXED);
#else
    return mp_region.size;
#endif
}

/* The region page p lies in (p inside the region). */
static inline size_t mp_region_page_of(const void *p)
{
    return ((uintptr_t)p - mp_region.base) >> MP_PAGE_SHIFT;
}

/* What the pagemap says of the region offset off (< mp_region.size): the
 * class of the span there (0: none) and off's offset inside that span.  The
 * free fast path and mp_region_classify both start here. */
static inline __attribute__((always_inline)) unsigned mp_region_lookup(uintptr_t off,
                                                                        uintptr_t *in_span)
{
    size_t page = off >> MP_PAGE_SHIFT;
    uint32_t e = mp_region.pagemap[page];
    *in_span = off - ((uintptr_t)(page - (e >> 8)) << MP_PAGE_SHIFT);
    return e & 0xff;
}

/* Is in_span the start of a block of class c?  (Past the span's last block,
 * or between blocks: no.) */
static inline __attribute__((always_inline)) bool mp_region_block_start(unsigned c, uintptr_t in_span)
{
    const mp_class_info_t *ci = &mp_classes[c];
    return in_span < ci->span_bytes && mp_class_divides(ci, in_span);
}

/* The first page of the span of profiled blocks that holds page. */
static inline size_t mp_region_sampled_span_page(size_t page)
{
    return page - ((mp_region.pagemap[page] >> 8) & 0xffff);
}

/* Where p lives; for MP_PTR_POOL, *cls is its class. */
static inline mp_ptr_kind_t mp_region_classify(const void *p, unsigned *cls)
{
    uintptr_t off = (uintptr_t)p - mp_region.base;
    if (off >= mp_region_size())
        return MP_PTR_OUTSIDE;
    uintptr_t in_span;
    unsigned c = mp_region_lookup(off, &in_span);
    if (c == 0) {
        size_t page = off >> MP_PAGE_SHIFT;
        uint32_t e = mp_region.pagemap[page];
        if (!(e & MP_PAGEMAP_SAMPLED))
            return MP_PTR_UNMAPPED;
        c = (e >> 24) & 0x7f;
        in_span = off - ((uintptr_t)mp_region_sampled_span_page(page) << MP_PAGE_SHIFT);
        if (!mp_region_block_start(c, in_span))
            return MP_PTR_INTERIOR;
        *cls = c;
        return MP_PTR_SAMPLED;
    }
    if (!mp_region_block_start(c, in_span))
        return MP_PTR_INTERIOR; /* between blocks, or in the span's unused tail */
    *cls = c;
    return MP_PTR_POOL;
}

/* One line on stderr naming func, p and what is wrong with it, then abort(). */
__attribute__((noreturn)) void mp_report_bad_pointer(const char *func, const void *p,
                                                     mp_ptr_kind_t kind) MP_COLD MP_HIDDEN;

#endif
