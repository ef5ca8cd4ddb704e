/* Guarded slots (MPOOL_GUARD_SAMPLE): a sampled allocation of up to a page
 * gets a page of its own between two inaccessible pages, placed so that an
 * overflow (or, for some blocks, an underflow) faults at once; when freed,
 * the page becomes inaccessible and waits in a quarantine, so a use after
 * free faults too.  The rest of the page holds a pattern checked at free,
 * which finds the writes that stay inside the page.  The fault handler
 * (guard/fault.c) and the report (guard/report.c) name the kind of bug and
 * the block's allocation and free stacks.
 *
 * No locks: the slots' free queue is lock-free and each slot's state
 * changes by compare-and-swap, so a signal handler or a fork child can
 * allocate and free guarded blocks at any moment. */
#ifndef MPOOL_GUARD_H
#define MPOOL_GUARD_H

#include "guard/slot.h"


/* The guarded area, [mp_guard_area.base, + size): 0 and 0 until the first
 * guarded allocation, so that a free's one compare misses. */
typedef struct mp_guard_area {
    uintptr_t base;
    size_t size;
} mp_guard_area_t;
extern mp_guard_area_t mp_guard_area MP_HIDDEN;

static inline bool mp_guard_owns(const void *p)
{
    return (uintptr_t)p - __atomic_load_n(&mp_guard_area.base, __ATOMIC_ACQUIRE) <
           __atomic_load_n(&mp_guard_area.size, __ATOMIC_RELAXED);
}

/* Can a request of n bytes aligned to align get a slot? */
static inline bool mp_guard_fits(size_t n, size_t align)
{
    return n <= MP_GUARD_PAGE && align <= MP_GUARD_PAGE;
}

/* A guarded block of n bytes (zeroed), remembering site (profile/sites.h,
 * or MP_NO_SITE), the caller's tag (its size class) and stack; NULL when
 * no slot is free, or the request does not fit one. */
void *mp_guard_alloc(size_t n, size_t align, uint32_t site, uint32_t tag) MP_HIDDEN;

/* What a live guarded block is. */
typedef struct mp_guard_block {
    size_t size;     /* bytes asked for: all the program may use */
    uint32_t site;   /* its profiled site, or MP_NO_SITE */
    uint32_t tag;    /* the caller's, from mp_guard_alloc */
    uint32_t born_us;
} mp_guard_block_t;

/* p (mp_guard_owns) as a live block into *out; anything else is reported
 * as func's misuse (double or invalid free, use after free) and aborts. */
void mp_guard_lookup(const void *p, const char *func, mp_guard_block_t *out) MP_HIDDEN;
/* Free p (mp_guard_owns), first checking the pattern around it; *out says
 * what it was.  Misuse is reported and aborts. */
void mp_guard_free(void *p, mp_guard_block_t *out) MP_HIDDEN;

/* ---- for the fault handler ---- */

/* The slot whose data page or neighbouring guard page holds addr, judged by
 * nearness to its block; NULL if none was ever used there. */
const mp_guard_slot_t *mp_guard_slot_near(uintptr_t addr) MP_HIDDEN;
/* Is addr in an inaccessible page of the area? */
bool mp_guard_in_data_page(uintptr_t addr, const mp_guard_slot_t *slot) MP_HIDDEN;

void mp_guard_read_stats(mp_guard_stats_t *out) MP_HIDDEN;

/* Report a bug (guard/report.h), counted among the faults; with the
 * caller's stack as r->here when here is true.  Never returns. */
struct mp_guard_report;
__attribute__((noreturn)) void mp_guard_report_bug(struct mp_guard_report *r, bool here) MP_HIDDEN;

#endif
