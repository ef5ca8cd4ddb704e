/* glibc's tuning and reporting calls, answered as glibc's contract says and
 * from libmpool's own figures: mallopt, malloc_info, malloc_stats,
 * mallinfo2.  preload/malloc.c exports them under glibc's names. */
#define _GNU_SOURCE
#include "api/glibc.h"
#include "base/fmt.h"
#include "base/options.h"
#include "core/alloc.h"
#include "core/counters.h"
#include "core/init.h"
#include "platform/os.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

/* glibc's limit for the one parameter whose value it refuses (2.36): M_MXFAST
 * up to 80 * sizeof(size_t) / 4, a negative value being a huge one. */
#define GLIBC_MAX_FAST (80 * sizeof(size_t) / 4)

/* 1, as glibc, for every parameter (those it does not know too), and 0
 * where glibc refuses the value.  Honoured: M_PERTURB (the fill of new
 * and freed blocks), and M_TRIM_THRESHOLD < 0 (glibc: never trim), which
 * turns the decay off, so memory goes back only on malloc_trim.  The rest
 * are accepted and ignored: they tune glibc's arenas and bins, which
 * libmpool does not have (docs/API.md). */
int mp_mallopt(int param, int value)
{
    mp_init(); /* as glibc: a call before the first malloc is not undone by start-up */
    switch (param) {
    case M_MXFAST:
        return (size_t)value <= GLIBC_MAX_FAST;
    case M_PERTURB:
        mp_set_perturb(value);
        return 1;
    case M_TRIM_THRESHOLD: { /* < 0: no decay; else the decay as configured */
        static size_t configured = SIZE_MAX; /* MPOOL_DECAY_MS, before any mallopt */
        if (configured == SIZE_MAX)
            configured = mp_opt.decay_ms;
        __atomic_store_n(&mp_opt.decay_ms, value < 0 ? 0 : configured, __ATOMIC_RELAXED);
        return 1;
    }
    default:
        return 1;
    }
}

/* What glibc's mallinfo2 fields mean, in libmpool's terms. */
struct mallinfo2 mp_mallinfo2(void)
{
    mp_totals_t t;
    mp_counters_collect(&t);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    uint64_t pooled_active = t.active_bytes - t.fallback_bytes;
    mi.arena = t.mapped_bytes;                     /* pool memory carved into spans */
    mi.hblkhd = t.fallback_bytes;                  /* bytes in fallback blocks */
    mi.hblks = t.fallback_active_blocks;           /* fallback blocks */
    mi.uordblks = t.active_bytes;                  /* bytes in use */
    mi.fordblks = t.mapped_bytes > pooled_active ? t.mapped_bytes - pooled_active : 0;
    mi.keepcost = t.fallback_cached_bytes;         /* freed, kept for reuse */
    return mi;
}

/* glibc's document: one <heap> (the pools; libmpool has no arenas), its
 * free pool bytes as "rest", fallback blocks as "mmap". */
int mp_malloc_info(int options, FILE *fp)
{
    if (options != 0)
        return EINVAL;
    struct mallinfo2 mi = mp_mallinfo2();
    size_t system = mi.arena + mi.hblkhd + mi.keepcost;
    fprintf(fp, "<malloc version=\"1\">\n");
    fprintf(fp, "<heap nr=\"0\">\n<sizes>\n</sizes>\n");
    fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
    fprintf(fp, "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n", mi.fordblks);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", mi.arena);
    fprintf(fp, "<system type=\"max\" size=\"%zu\"/>\n", mi.arena);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", mi.arena);
    fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", mi.arena);
    fprintf(fp, "</heap>\n");
    fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
    fprintf(fp, "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n", mi.fordblks);
    fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", mi.hblks, mi.hblkhd);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", system);
    fprintf(fp, "<system type=\"max\" size=\"%zu\"/>\n", system);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", system);
    fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", system);
    fprintf(fp, "</malloc>\n");
    return 0;
}

/* glibc's summary on stderr, without stdio (glibc's own takes the stdio
 * lock of stderr). */
void mp_malloc_stats(void)
{
    struct mallinfo2 mi = mp_mallinfo2();
    size_t system = mi.arena + mi.hblkhd + mi.keepcost;
    char buf[512];
    size_t n = mp_fmt(buf, sizeof buf,
                      "Arena 0:\n"
                      "system bytes     = %10zu\n"
                      "in use bytes     = %10zu\n"
                      "Total (incl. mmap):\n"
                      "system bytes     = %10zu\n"
                      "in use bytes     = %10zu\n"
                      "max mmap regions = %10zu\n"
                      "max mmap bytes   = %10zu\n",
                      mi.arena, mi.uordblks - mi.hblkhd, system, mi.uordblks, mi.hblks, mi.hblkhd);
    mp_os_write(STDERR_FILENO, buf, n < sizeof buf ? n : sizeof buf - 1);
}
