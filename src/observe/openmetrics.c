/* MPOOL_STATS_FORMAT=openmetrics: the dump's figures as OpenMetrics text
 * (the Prometheus exposition format's standard), so that a directory of
 * dumps can be read by anything that reads OpenMetrics (Prometheus,
 * prometheus_client).
 *
 * One family per counter of core/counters.def that the dump shows (its
 * metric column says counter or gauge), named mpool_<key> for the top level
 * and the totals and mpool_<section>_<key> for the others; the process's
 * RSS; and per size class, allocations, frees and live blocks with a size
 * label.  Every sample carries the pid and the program's name.
 *
 * MPOOL_STATS_FORMAT=prometheus writes the older Prometheus text format
 * (0.0.4), which node_exporter's textfile collector reads: there a counter's
 * family is named with its _total, and no "# EOF" ends the file. */
#define _GNU_SOURCE
#include "observe/openmetrics.h"
#include "base/fmt.h"

#include <errno.h>

/* the program's name, escaped for a label value, cut to fit cap */
static void label_value(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            out[n++] = '\\';
            out[n++] = *s == '\n' ? 'n' : *s;
        } else {
            out[n++] = *s;
        }
    }
    if (*s) { /* cut: not inside a UTF-8 character */
        size_t whole = n;
        while (whole > 0 && ((unsigned char)out[whole - 1] & 0xc0) == 0x80)
            whole--;
        if (whole > 0 && ((unsigned char)out[whole - 1] & 0x80))
            whole--; /* the cut character's first byte */
        n = whole;
    }
    out[n] = '\0';
}

/* A family's TYPE and HELP lines; returns the sample name's suffix. */
static const char *family(mp_emitter_t *e, bool classic, const char *name, bool counter,
                          const char *help)
{
    const char *sfx = counter ? "_total" : "";
    const char *family_sfx = classic ? sfx : ""; /* 0.0.4 names the family as its samples */
    mp_emit_rawf(e, "# TYPE %s%s %s\n# HELP %s%s %s\n", name, family_sfx,
                 counter ? "counter" : "gauge", name, family_sfx, help);
    return sfx;
}

enum { COUNTER = 1, GAUGE = 0 };
static const char *const section_prefix[] = {
    [MP_SECTION_top] = "", [MP_SECTION_totals] = "", [MP_SECTION_fallback] = "fallback_",
    [MP_SECTION_threads] = "threads_", [MP_SECTION_hidden] = NULL,
};

void mp_openmetrics_emit(const mp_snapshot_t *s, mp_emitter_t *e, bool classic)
{
    const mp_totals_t *t = &s->t;
    char program[96], labels[160], name[128]; /* a line stays within mp_emit_rawf's 319 bytes */
    label_value(program_invocation_short_name, program, sizeof program);
    mp_fmt(labels, sizeof labels, "pid=\"%ld\",program=\"%s\"", s->pid, program);

    const char *sfx = family(e, classic, "mpool_rss_bytes", false, "resident set of the process");
    mp_emit_rawf(e, "mpool_rss_bytes%s{%s} %lu\n", sfx, labels, (unsigned long)s->rss_bytes);

#define MP_COUNTER(id, kind, section, key, label, metric)                                     \
    if (section_prefix[MP_SECTION_##section]) {                                               \
        mp_fmt(name, sizeof name, "mpool_%s%s", section_prefix[MP_SECTION_##section], key);  \
        sfx = family(e, classic, name, metric == COUNTER, label);                                     \
        mp_emit_rawf(e, "%s%s{%s} %lu\n", name, sfx, labels, (unsigned long)t->id);                  \
    }
#include "core/counters.def"
#undef MP_COUNTER

    static const struct { const char *name, *help; bool counter; } per_class[] = {
        { "mpool_class_allocs", "allocations of the size class", true },
        { "mpool_class_frees", "frees of the size class", true },
        { "mpool_class_active_blocks", "live blocks of the size class", false },
    };
    for (unsigned k = 0; k < 3; k++) {
        sfx = family(e, classic, per_class[k].name, per_class[k].counter, per_class[k].help);
        for (unsigned c = 1; c < s->nclasses; c++) {
            if (t->class_allocs[c] == 0)
                continue;
            uint64_t v = k == 0 ? t->class_allocs[c] : k == 1 ? t->class_frees[c]
                                                              : t->class_allocs[c] - t->class_frees[c];
            mp_emit_rawf(e, "%s%s{%s,size=\"%u\"} %lu\n", per_class[k].name, sfx, labels, s->class_size[c],
                 (unsigned long)v);
        }
    }
    if (!classic)
        mp_emit_rawf(e, "# EOF\n");
}
