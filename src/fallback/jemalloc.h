/* jemalloc's non-standard API under the names libmpool links (private to
 * fallback/): the embedded copy's entry points are renamed by
 * scripts/embed-jemalloc and hidden, so a program that links jemalloc itself
 * gets its own. */
#ifndef MPOOL_JEMALLOC_H
#define MPOOL_JEMALLOC_H

#include "base/base.h"
#include "platform/os.h"

#if MP_EMBEDDED_JEMALLOC
#define JEMALLOC_EXPORT MP_HIDDEN /* and libmpool.so does not export them */
#define mallocx mp_je_mallocx
#define dallocx mp_je_dallocx
#define sallocx mp_je_sallocx
#define xallocx mp_je_xallocx
#define mallctl mp_je_mallctl
#endif
#include <jemalloc/jemalloc.h>

#include <signal.h>
#include <sys/single_threaded.h>

/* Around every call into jemalloc: in a single-threaded process, signals
 * stay blocked, so a handler that forks or allocates never meets jemalloc's
 * locks (or ours) held by the code it interrupted (fallback.c).  "Single-
 * threaded" as the program sees it: glibc's flag, or ours while the only
 * other thread is the core's background thread (mp_fallback_guard_signals). */
typedef struct signal_guard {
    bool active;
    sigset_t saved;
} signal_guard_t;

extern MP_TLS int mp_je_depth MP_HIDDEN; /* > 0: this thread is inside a guard (arena.c) */
extern _Atomic bool mp_je_guard_always MP_HIDDEN; /* fallback.c */

static inline void guard_begin(signal_guard_t *g)
{
    mp_je_depth++;
    g->active = __libc_single_threaded ||
                atomic_load_explicit(&mp_je_guard_always, memory_order_relaxed);
    if (g->active)
        mp_os_block_signals(&g->saved);
}

static inline void guard_end(signal_guard_t *g)
{
    if (g->active)
        mp_os_restore_signals(&g->saved);
    mp_je_depth--;
}

#endif
