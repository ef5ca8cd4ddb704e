/* Fixed pools' internals shared with chains and the stats dump. */
#ifndef MPOOL_POOLS_H
#define MPOOL_POOLS_H

#include "internal.h"
#include "mpool.h"

#define MP_POOL_RECORDS 1024 /* pools listed in a dump; more may exist */

/* What the stats dump shows of a pool; written by the pool, read racily. */
typedef struct mp_pool_record {
    _Atomic int live;            /* 1 live, 0 free, -1 being set up */
    size_t block_size, capacity; /* as configured */
    _Atomic size_t made;         /* blocks made */
    _Atomic uint64_t gets, puts, waits, timeouts;
} mp_pool_record_t;

extern mp_pool_record_t mp_pool_records[MP_POOL_RECORDS] MP_HIDDEN;

size_t mp_pool_block_payload(const mpool_fixed_t *p) MP_HIDDEN; /* usable bytes per block */
__attribute__((noreturn)) void mp_report_bad_block(const void *pool, const void *block,
                                                   const char *what) MP_COLD MP_HIDDEN;

#endif
