/* Guarded slots (guard.h).
 *
 * The area: a guard page, then for each slot a data page and a guard page,
 * all inaccessible until a slot is used.  Slot i's data page is page 2i+1.
 * Free slots wait in a bounded lock-free queue (Vyukov's), first the never
 * used ones in order, then the freed ones in the order they were freed, so
 * a freed page stays inaccessible while every other free slot is used
 * first: the quarantine.
 *
 * A block sits at the end of its page, 16-byte aligned (so a block whose
 * size is not a multiple of 16 ends a little before the page does); one
 * block in four sits at the start, to catch underflows as they happen.  The rest of the page holds a pattern,
 * checked when the block is freed. */
#define _GNU_SOURCE
#include "guard/guard.h"
#include "base/options.h"
#include "guard/report.h"
#include "platform/os.h"
#include "profile/sites.h"
#include "profile/stack.h"

#include <errno.h>
#include <string.h>

#define PATTERN 0xa7 /* the unused part of a slot's page */
#define START_EVERY 4 /* one block in this many at the start of its page */

mp_guard_area_t mp_guard_area;

typedef struct queue_cell {
    _Atomic size_t seq;
    uint32_t slot;
} queue_cell_t;

static mp_guard_slot_t *slots;
static uint32_t nslots;
static char *area; /* its first page: a guard page */
static queue_cell_t *cells;
static size_t cell_mask;
static _Atomic size_t enqueue_at, dequeue_at;
static _Atomic int ready; /* 0: not yet, 1: being made, 2: ready, 3: cannot be */
static _Atomic uint64_t guarded, live, no_slot, faults, placed;
static unsigned char pattern_page[MP_GUARD_PAGE]; /* PATTERN, to compare with */

static char *data_page(uint32_t i)
{
    return area + (size_t)(2 * i + 1) * MP_GUARD_PAGE;
}

/* ---- the free-slot queue: bounded, lock-free ---------------------------- */

/* false if full: it never is, as it holds every slot; or when a thread
 * this one interrupted is half-way through a dequeue of the same cell */
static bool enqueue(uint32_t slot)
{
    size_t pos = atomic_load_explicit(&enqueue_at, memory_order_relaxed);
    for (;;) {
        queue_cell_t *c = &cells[pos & cell_mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&enqueue_at, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false;
        } else {
            pos = atomic_load_explicit(&enqueue_at, memory_order_relaxed);
        }
    }
    cells[pos & cell_mask].slot = slot;
    atomic_store_explicit(&cells[pos & cell_mask].seq, pos + 1, memory_order_release);
    return true;
}

/* false if empty (or a thread this one interrupted is half-way through) */
static bool dequeue(uint32_t *slot)
{
    size_t pos = atomic_load_explicit(&dequeue_at, memory_order_relaxed);
    for (;;) {
        queue_cell_t *c = &cells[pos & cell_mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&dequeue_at, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false;
        } else {
            pos = atomic_load_explicit(&dequeue_at, memory_order_relaxed);
        }
    }
    *slot = cells[pos & cell_mask].slot;
    atomic_store_explicit(&cells[pos & cell_mask].seq, pos + cell_mask + 1, memory_order_release);
    return true;
}

/* ---- the area, made by the first guarded allocation --------------------- */

static bool make_area(void)
{
    uint32_t n = (uint32_t)mp_opt.guard_slots;
    size_t cap = 1;
    while (cap < n)
        cap <<= 1;
    size_t area_bytes = (size_t)(2 * n + 1) * MP_GUARD_PAGE;
    char *a = mp_os_reserve_inaccessible(area_bytes);
    mp_guard_slot_t *s = mp_os_map(n * sizeof *s);
    queue_cell_t *q = mp_os_map(cap * sizeof *q);
    if (!a || !s || !q) {
        if (a)
            mp_os_unmap(a, area_bytes);
        if (s)
            mp_os_unmap(s, n * sizeof *s);
        if (q)
            mp_os_unmap(q, cap * sizeof *q);
        return false;
    }
    memset(pattern_page, PATTERN, sizeof pattern_page);
    atomic_store_explicit(&placed, mp_os_random(), memory_order_relaxed); /* which blocks start a page: not the same ones every run */
    area = a;
    slots = s;
    cells = q;
    cell_mask = cap - 1;
    nslots = n;
    for (size_t i = 0; i < cap; i++)
        atomic_store_explicit(&q[i].seq, i, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        enqueue(i);
    __atomic_store_n(&mp_guard_area.size, area_bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&mp_guard_area.base, (uintptr_t)a, __ATOMIC_RELEASE);
    return true;
}

/* The area exists: made by this call if need be; a call racing the maker
 * goes unguarded. */
static bool area_ready(void)
{
    int r = atomic_load_explicit(&ready, memory_order_acquire);
    if (MP_LIKELY(r == 2))
        return true;
    if (r != 0)
        return false;
    if (!atomic_compare_exchange_strong(&ready, &r, 1))
        return false;
    atomic_store_explicit(&ready, make_area() ? 2 : 3, memory_order_release);
    return atomic_load_explicit(&ready, memory_order_relaxed) == 2;
}

/* ---- allocation and free ---------------------------------------------------- */

/* The caller's stack, taken with this thread's allocations unsampled (the
 * unwinder may allocate) and errno kept. */
static uint32_t capture(void **pcs)
{
    int was = mp_tls_unsampled, saved_errno = errno;
    mp_tls_unsampled = 1;
    unsigned n = mp_stack_capture_lean(pcs, MP_GUARD_DEPTH);
    mp_tls_unsampled = was;
    errno = saved_errno;
    return n;
}

/* Every block is 16-byte aligned, as glibc promises (C asks less of a small
 * block, but programs count on glibc's word), so a block whose size is not
 * a multiple of 16 ends up to 15 bytes before its page does: a write there
 * is found at free, a read is not. */
#define BLOCK_ALIGN 16

void *mp_guard_alloc(size_t n, size_t align, uint32_t site, uint32_t tag)
{
    if (!mp_guard_fits(n, align) || !area_ready())
        return NULL;
    uint32_t i;
    if (!dequeue(&i)) {
        atomic_fetch_add_explicit(&no_slot, 1, memory_order_relaxed);
        return NULL;
    }
    mp_guard_slot_t *s = &slots[i];
    char *page = data_page(i);
    if (!mp_os_make_accessible(page, MP_GUARD_PAGE)) { /* the kernel's map count, say */
        enqueue(i);
        atomic_fetch_add_explicit(&no_slot, 1, memory_order_relaxed);
        return NULL;
    }
    atomic_store_explicit(&s->state, MP_GUARD_BUSY, memory_order_relaxed);
    size_t size = n ? n : 1, a = align > BLOCK_ALIGN ? align : BLOCK_ALIGN;
    bool at_start = atomic_fetch_add_explicit(&placed, 1, memory_order_relaxed) % START_EVERY ==
                    START_EVERY - 1;
    char *p = at_start ? page : (char *)(((uintptr_t)page + MP_GUARD_PAGE - size) & ~(a - 1));
    /* around the block the pattern; the block zeroed (a fresh page reads
     * zero, but not one whose access could not be taken away at its free) */
    memset(page, PATTERN, (size_t)(p - page));
    memset(p, 0, size);
    memset(p + size, PATTERN, (size_t)(page + MP_GUARD_PAGE - (p + size)));
    s->block = (uintptr_t)p;
    s->size = (uint32_t)n;
    s->site = site;
    s->tag = tag;
    s->born_us = (uint32_t)(mp_os_now_ns() / 1000u);
    s->alloc_tid = mp_os_gettid();
    s->alloc_depth = capture(s->alloc_pcs);
    s->free_depth = 0;
    s->free_tid = 0;
    atomic_store_explicit(&s->state, MP_GUARD_LIVE, memory_order_release);
    atomic_fetch_add_explicit(&guarded, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

static mp_guard_slot_t *slot_of_page(uintptr_t addr)
{
    size_t page = (addr - (uintptr_t)area) / MP_GUARD_PAGE;
    return page % 2 ? &slots[page / 2] : NULL; /* even: a guard page */
}

/* Does [p, p + n) hold only the pattern? */
static bool intact(const unsigned char *p, size_t n)
{
    return memcmp(p, pattern_page, n) == 0;
}

/* The first byte of the pattern around s's block that was overwritten
 * (nearest the block: most likely the first the bug wrote), or 0. */
static uintptr_t pattern_broken(const mp_guard_slot_t *s)
{
    const unsigned char *page = (const unsigned char *)(s->block & ~(uintptr_t)(MP_GUARD_PAGE - 1));
    const unsigned char *p = (const unsigned char *)s->block, *end = page + MP_GUARD_PAGE;
    const unsigned char *after = p + (s->size ? s->size : 1);
    if (intact(after, (size_t)(end - after)) && intact(page, (size_t)(p - page)))
        return 0;
    for (const unsigned char *q = after; q < end; q++)
        if (*q != PATTERN)
            return (uintptr_t)q;
    for (const unsigned char *q = p; q > page; q--)
        if (q[-1] != PATTERN)
            return (uintptr_t)(q - 1);
    return 0;
}

static void describe_block(const mp_guard_slot_t *s, mp_guard_block_t *out)
{
    out->size = s->size;
    out->site = s->site;
    out->tag = s->tag;
    out->born_us = s->born_us;
}

/* A pointer into the area that is no live block's start, met by func. */
__attribute__((noreturn)) static void report_misuse(const void *p, const char *func,
                                                     const mp_guard_slot_t *s)
{
    bool freed = s && atomic_load_explicit(&s->state, memory_order_acquire) == MP_GUARD_FREED &&
                 s->block == (uintptr_t)p;
    const char *kind = !freed ? "invalid-free" : strcmp(func, "free") == 0 ? "double-free"
                                                                            : "use-after-free";
    const mp_guard_slot_t *near = s && s->block == (uintptr_t)p ? s : mp_guard_slot_near((uintptr_t)p);
    mp_guard_report_t r = { .kind = kind, .addr = (uintptr_t)p, .slot = near, .func = func };
    mp_guard_report_bug(&r, true);
}

void mp_guard_lookup(const void *p, const char *func, mp_guard_block_t *out)
{
    mp_guard_slot_t *s = slot_of_page((uintptr_t)p);
    if (s == NULL || s->block != (uintptr_t)p ||
        atomic_load_explicit(&s->state, memory_order_acquire) != MP_GUARD_LIVE)
        report_misuse(p, func, s);
    describe_block(s, out);
}

void mp_guard_free(void *p, mp_guard_block_t *out)
{
    mp_guard_slot_t *s = slot_of_page((uintptr_t)p);
    uint32_t was = MP_GUARD_LIVE;
    if (s == NULL || s->block != (uintptr_t)p ||
        !atomic_compare_exchange_strong(&s->state, &was, MP_GUARD_BUSY))
        report_misuse(p, "free", s);
    uintptr_t broken = pattern_broken(s);
    if (broken) {
        bool before = broken < s->block;
        mp_guard_report_t r = { .kind = before ? "heap-buffer-underflow" : "heap-buffer-overflow",
                                .addr = broken, .access = "WRITE, found at free", .slot = s,
                                .func = "free" };
        mp_guard_report_bug(&r, true);
    }
    describe_block(s, out);
    s->free_tid = mp_os_gettid();
    s->free_depth = capture(s->free_pcs);
    char *page = (char *)(s->block & ~(uintptr_t)(MP_GUARD_PAGE - 1));
    if (!mp_os_make_inaccessible(page, MP_GUARD_PAGE))
        memset(page, PATTERN, MP_GUARD_PAGE); /* still open: at least the old contents go */
    atomic_store_explicit(&s->state, MP_GUARD_FREED, memory_order_release);
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    enqueue((uint32_t)(s - slots)); /* false: a handler interrupted a dequeue; the slot stays out */
}

/* ---- for the fault handler ----------------------------------------------------- */

static bool used(const mp_guard_slot_t *s)
{
    uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
    return st == MP_GUARD_LIVE || st == MP_GUARD_FREED;
}

const mp_guard_slot_t *mp_guard_slot_near(uintptr_t addr)
{
    if (!mp_guard_owns((const void *)addr))
        return NULL;
    size_t page = (addr - (uintptr_t)area) / MP_GUARD_PAGE;
    if (page % 2)
        return used(&slots[page / 2]) ? &slots[page / 2] : NULL;
    /* a guard page: between slot page/2 - 1 (before) and page/2 (after) */
    const mp_guard_slot_t *before = page > 0 && used(&slots[page / 2 - 1]) ? &slots[page / 2 - 1] : NULL;
    const mp_guard_slot_t *after = page / 2 < nslots && used(&slots[page / 2]) ? &slots[page / 2] : NULL;
    if (!before || !after)
        return before ? before : after;
    uintptr_t past_before = addr - (before->block + before->size);
    uintptr_t ahead_of_after = after->block - addr;
    return past_before <= ahead_of_after ? before : after;
}

bool mp_guard_in_data_page(uintptr_t addr, const mp_guard_slot_t *s)
{
    return (addr & ~(uintptr_t)(MP_GUARD_PAGE - 1)) == (s->block & ~(uintptr_t)(MP_GUARD_PAGE - 1));
}

void mp_guard_report_bug(mp_guard_report_t *r, bool here)
{
    atomic_fetch_add_explicit(&faults, 1, memory_order_relaxed);
    mp_guard_read_stats(&r->stats);
    if (here)
        mp_guard_report_here(r);
    mp_guard_report(r);
}

void mp_guard_read_stats(mp_guard_stats_t *out)
{
    out->slots = mp_opt.guard_sample ? mp_opt.guard_slots : 0;
    out->sample = mp_opt.guard_sample;
    out->guarded = atomic_load_explicit(&guarded, memory_order_relaxed);
    out->live = atomic_load_explicit(&live, memory_order_relaxed);
    out->no_slot = atomic_load_explicit(&no_slot, memory_order_relaxed);
    out->faults = atomic_load_explicit(&faults, memory_order_relaxed);
}
