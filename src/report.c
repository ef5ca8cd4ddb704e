/* Misuse reports: one line on stderr naming the pointer, then abort().
 * Formatting uses a stack buffer and write(2), so a report never allocates;
 * a report that faults while reporting (recursion) aborts at once. */
#include "internal.h"
#include "pools.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static _Atomic int reporting;

/* true for the first report: a report that faults while reporting, or a
 * second thread's, only aborts */
bool mp_report_begin(void)
{
    return atomic_fetch_add(&reporting, 1) == 0;
}

static const char *kind_text(mp_ptr_kind_t kind)
{
    switch (kind) {
    case MP_PTR_INTERIOR:
        return "interior pointer: not the start of an mpool block";
    case MP_PTR_UNMAPPED:
        return "inside mpool's region but in no allocated span";
    case MP_PTR_OUTSIDE:
        return "not allocated by mpool, or already freed";
    case MP_PTR_POOL:
        return "the block is already free: a double free or a use after free";
    }
    return "invalid pointer";
}

void mp_report_bad_pointer(const char *func, const void *p, mp_ptr_kind_t kind)
{
    char line[256];
    size_t n = mp_fmt(line, sizeof line, "mpool: %s(): invalid pointer %p (%s)\n", func, p,
                      kind_text(kind));
    if (mp_report_begin())
        mp_os_write(STDERR_FILENO, line, n < sizeof line ? n : sizeof line - 1);
    abort();
}

void mp_report_fatal(const char *msg)
{
    char line[256];
    size_t n = mp_fmt(line, sizeof line, "mpool: fatal: %s\n", msg);
    if (mp_report_begin())
        mp_os_write(STDERR_FILENO, line, n < sizeof line ? n : sizeof line - 1);
    abort();
}

void mp_warn(const char *msg)
{
    char line[256];
    size_t n = mp_fmt(line, sizeof line, "mpool: warning: %s\n", msg);
    mp_os_write(STDERR_FILENO, line, n < sizeof line ? n : sizeof line - 1);
}

void mp_report_bad_block(const void *pool, const void *block, const char *what)
{
    char line[256];
    size_t n = mp_fmt(line, sizeof line, "mpool: mpool_fixed_put(): invalid block %p for pool %p (%s)\n",
                      block, pool, what);
    if (mp_report_begin())
        mp_os_write(STDERR_FILENO, line, n < sizeof line ? n : sizeof line - 1);
    abort();
}
