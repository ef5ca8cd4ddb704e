/* Fixed pools' internals shared with chains, and the pools' dump section. */
#ifndef MPOOL_POOLS_H
#define MPOOL_POOLS_H

#include "base/base.h"
#include "mpool.h"
#include "observe/emitter.h"

size_t mp_pool_block_payload(const mpool_fixed_t *p) MP_HIDDEN; /* usable bytes per block */

/* One pool as the dump shows it. */
typedef struct mp_pool_row {
    uint64_t block_size, capacity, made, gets, puts, waits, timeouts;
} mp_pool_row_t;

#define MP_DUMP_POOLS 64 /* fixed pools in a dump */

/* The dump's "pools" table for these rows (the live pools' section uses it). */
void mp_pools_emit(mp_emitter_t *e, const mp_pool_row_t *rows, unsigned n) MP_HIDDEN;

#endif
