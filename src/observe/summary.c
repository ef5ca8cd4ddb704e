/* MPOOL_SHOW_STATS=1: a few readable lines on stderr at exit, without a
 * file -- the peak, what is live, how often freed blocks were reused, the
 * busiest classes and, with MPOOL_PROF, the biggest live sites.  Formatted
 * from a snapshot (dump.c) into a stack buffer, written with write(2). */
#include "observe/summary.h"
#include "base/fmt.h"
#include "platform/os.h"

#include <unistd.h>

#define TOP_CLASSES 5
#define TOP_SITES 3

/* n bytes as "12.3 MiB" (or B, KiB, GiB, TiB), one decimal, into buf */
static const char *human(uint64_t n, char *buf, size_t cap)
{
    static const char *units[] = { "KiB", "MiB", "GiB", "TiB" };
    if (n < 1024) {
        mp_fmt(buf, cap, "%lu B", (unsigned long)n);
        return buf;
    }
    unsigned u = 0;
    uint64_t scale = 1024;
    while (u < 3 && n / scale >= 1024) {
        scale <<= 10;
        u++;
    }
    uint64_t tenths = (n / (scale >> 10)) * 10 / 1024; /* n / scale, in tenths, without overflow */
    mp_fmt(buf, cap, "%lu.%lu %s", (unsigned long)(tenths / 10), (unsigned long)(tenths % 10), units[u]);
    return buf;
}

/* buf's first n bytes (n as mp_fmt counted them, perhaps past cap) */
static void line(int fd, const char *buf, size_t n, size_t cap)
{
    mp_os_write(fd, buf, n < cap ? n : cap - 1);
}

void mp_summary_write(const mp_snapshot_t *s, int fd)
{
    const mp_totals_t *t = &s->t;
    char buf[1024], a[32], b[32], c[32], d[32];
    uint64_t pct = t->allocs ? (t->reuses * 1000 + t->allocs / 2) / t->allocs : 0;
    size_t n = mp_fmt(buf, sizeof buf,
                      "mpool: peak %s in use, %s live at exit in %lu blocks; %lu allocations, "
                      "%lu.%lu%% of them reusing a freed block; pool spans %s, fallback %s\n",
                      human(t->peak_active_bytes, a, sizeof a), human(t->active_bytes, b, sizeof b),
                      (unsigned long)t->active_blocks, (unsigned long)t->allocs,
                      (unsigned long)(pct / 10), (unsigned long)(pct % 10),
                      human(t->mapped_bytes, c, sizeof c), human(t->fallback_bytes, d, sizeof d));
    line(fd, buf, n, sizeof buf);

    /* the busiest classes, by allocations */
    unsigned top[TOP_CLASSES], ntop = 0;
    for (unsigned c0 = 1; c0 < s->nclasses; c0++) {
        if (t->class_allocs[c0] == 0)
            continue;
        unsigned at = ntop < TOP_CLASSES ? ntop++ : TOP_CLASSES;
        while (at > 0 && t->class_allocs[top[at - 1]] < t->class_allocs[c0]) {
            if (at < TOP_CLASSES)
                top[at] = top[at - 1];
            at--;
        }
        if (at < TOP_CLASSES)
            top[at] = c0;
    }
    if (ntop) {
        n = mp_fmt(buf, sizeof buf, "mpool: busiest classes:");
        for (unsigned i = 0; i < ntop && n < sizeof buf; i++) {
            unsigned c0 = top[i];
            uint64_t share = t->allocs ? (t->class_allocs[c0] * 1000 + t->allocs / 2) / t->allocs : 0;
            n += mp_fmt(buf + n, sizeof buf - n, "%s %u B %lu.%lu%% (%lu live)", i ? "," : "",
                        s->class_size[c0], (unsigned long)(share / 10), (unsigned long)(share % 10),
                        (unsigned long)(t->class_allocs[c0] - t->class_frees[c0]));
        }
        if (n < sizeof buf - 1)
            n += mp_fmt(buf + n, sizeof buf - n, "\n");
        line(fd, buf, n, sizeof buf);
    }

    /* the biggest live sites (MPOOL_PROF), their innermost frame */
    for (unsigned i = 0; i < s->nleaks && i < TOP_SITES; i++) {
        const mp_leak_t *l = &s->leaks[i];
        n = mp_fmt(buf, sizeof buf, "mpool: live at exit: %s in %lu blocks at %s\n",
                   human(mp_site_whole(l->bytes), a, sizeof a),
                   (unsigned long)mp_site_whole(l->blocks), l->depth ? l->frames[0] : "?");
        line(fd, buf, n, sizeof buf);
    }
}
