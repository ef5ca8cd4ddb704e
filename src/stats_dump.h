/* The stats dump: a snapshot of every counter, and the one walk over it that
 * the emitter renders as JSON (schema version 1) or text. */
#ifndef MPOOL_STATS_DUMP_H
#define MPOOL_STATS_DUMP_H

#include "emitter.h"
#include "internal.h"

#define MP_DUMP_LEAKS 64 /* leak sites in a dump, largest first */
#define MP_DUMP_POOLS 64 /* fixed pools in a dump */

typedef struct mp_pool_row {
    uint64_t block_size, capacity, made, gets, puts, waits, timeouts;
} mp_pool_row_t;

typedef struct mp_snapshot {
    const char *reason;    /* "exit", "signal" or "request" */
    long pid;
    uint64_t elapsed_ns;   /* since libmpool started */
    uint64_t rss_bytes;    /* resident set of the process */
    mp_totals_t t;
    unsigned nclasses;     /* classes 1 .. nclasses-1 are in use */
    uint32_t class_size[MP_NUM_CLASSES];
    unsigned nrecent;
    uint32_t recent[MP_RECENT];
    unsigned nleaks;
    mp_leak_t leaks[MP_DUMP_LEAKS];
    unsigned npools;
    mp_pool_row_t pools[MP_DUMP_POOLS];
} mp_snapshot_t;

void mp_snapshot_take(mp_snapshot_t *s, const char *reason);
void mp_snapshot_emit(const mp_snapshot_t *s, mp_emitter_t *e);

void mp_dump_init(void);                            /* signal handler; start time */
int mp_dump_to_path(const char *path, const char *reason); /* 0, or -1 + errno */
size_t mp_dump_json(char *buf, size_t cap);
void mp_dump_fork_child(void);

#endif
