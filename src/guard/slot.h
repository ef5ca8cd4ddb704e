/* What a guarded slot records, and the guard's figures: the types that the
 * slots (guard.c), the fault handler (fault.c) and the report (report.c)
 * share. */
#ifndef MPOOL_GUARD_SLOT_H
#define MPOOL_GUARD_SLOT_H

#include "base/base.h"

#include <sys/types.h>

#define MP_GUARD_PAGE 4096u
#define MP_GUARD_DEPTH 16 /* frames kept per stack */

enum { MP_GUARD_UNUSED, MP_GUARD_LIVE, MP_GUARD_FREED, MP_GUARD_BUSY };

typedef struct mp_guard_slot {
    _Atomic uint32_t state; /* MP_GUARD_* */
    uint32_t size;          /* bytes asked for */
    uintptr_t block;        /* its address */
    uint32_t site, tag, born_us;
    pid_t alloc_tid, free_tid;
    uint32_t alloc_depth, free_depth;
    void *alloc_pcs[MP_GUARD_DEPTH];
    void *free_pcs[MP_GUARD_DEPTH];
} mp_guard_slot_t;

typedef struct mp_guard_stats {
    uint64_t slots, sample, guarded, live, no_slot, faults;
} mp_guard_stats_t;
#endif
