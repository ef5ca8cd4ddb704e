/* The stats dump: a snapshot of every counter, and the one walk over it that
 * the emitter renders as JSON (schema version 1) or text.  Add-ons (the
 * fixed pools of api/) register a section of their own. */
#ifndef MPOOL_DUMP_H
#define MPOOL_DUMP_H

#include "core/counters.h"
#include "observe/emitter.h"
#include "profile/sites.h"

#define MP_DUMP_LEAKS 64   /* leak sites in a dump, largest first */
#define MP_DUMP_SECTIONS 8 /* add-on sections */

/* An add-on's section: emits its own figures, read when the dump is
 * written.  Sections come after the heap's own figures (totals, classes,
 * fallback, recent sizes), before threads and leak sites. */
typedef void (*mp_dump_section_fn)(mp_emitter_t *e);
/* Register a section once (from a constructor: no lock, no malloc); false if
 * MP_DUMP_SECTIONS are taken. */
bool mp_dump_add_section(mp_dump_section_fn emit) MP_HIDDEN;

typedef struct mp_snapshot {
    const char *reason;    /* "exit", "signal" or "request" */
    bool with_run;         /* the "run" section (run.c): not in the unit tests' goldens */
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
    unsigned nsections;
    mp_dump_section_fn sections[MP_DUMP_SECTIONS];
} mp_snapshot_t;

void mp_snapshot_take(mp_snapshot_t *s, const char *reason) MP_HIDDEN;
void mp_snapshot_emit(const mp_snapshot_t *s, mp_emitter_t *e) MP_HIDDEN;

int mp_dump_to_path(const char *path, const char *reason) MP_HIDDEN; /* 0, or -1 + errno */
/* MPOOL_STATS, a relative path made absolute at start; NULL if unset */
const char *mp_dump_default_path(void) MP_HIDDEN;
size_t mp_dump_json(char *buf, size_t cap) MP_HIDDEN;

#endif
