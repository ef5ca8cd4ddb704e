/* The report of a bug a guarded block caught, on stderr, in
 * AddressSanitizer's words: the kind, the address and where it lies against
 * the block, the stack that met it, the block's allocation and free stacks.
 * Then the stats dump's last words (MPOOL_STATS, reason "fault") and
 * abort().  Written with write(2) from a stack buffer: safe in the fault
 * handler. */
#ifndef MPOOL_GUARD_REPORT_H
#define MPOOL_GUARD_REPORT_H

#include "guard/slot.h"

typedef struct mp_guard_report {
    const char *kind;            /* "heap-buffer-overflow", "use-after-free", ... */
    uintptr_t addr;              /* the address met */
    const char *access;          /* "READ", "WRITE", "WRITE, found at free"; NULL: a bad call */
    const mp_guard_slot_t *slot; /* the block, or NULL when no block is near */
    const char *func;            /* the call that met it (free, realloc, ...); NULL: a fault */
    void *const *here;           /* the stack that met it, innermost first */
    unsigned here_depth;
    bool here_starts_at_pc;      /* here[0] is the faulting instruction, not a return address */
    mp_guard_stats_t stats;      /* the guard's figures, this bug counted */
} mp_guard_report_t;

__attribute__((noreturn)) void mp_guard_report(const mp_guard_report_t *r) MP_COLD MP_HIDDEN;
/* The same, with the caller's stack as r->here. */
__attribute__((noreturn)) void mp_guard_report_here(mp_guard_report_t *r) MP_COLD MP_HIDDEN;

/* Set by the stats dump (observe/): writes MPOOL_STATS before the abort. */
extern void (*mp_guard_last_words)(void) MP_HIDDEN;

#endif
