/* jemalloc's non-standard API under the names libmpool links: the embedded
 * copy's entry points are renamed by scripts/embed-jemalloc and hidden, so a
 * program that links jemalloc itself gets its own. */
#ifndef MP_JE_H
#define MP_JE_H
#if MP_EMBEDDED_JEMALLOC
#define JEMALLOC_EXPORT MP_HIDDEN /* and libmpool.so does not export them */
#define mallocx mp_je_mallocx
#define dallocx mp_je_dallocx
#define sallocx mp_je_sallocx
#define xallocx mp_je_xallocx
#define mallctl mp_je_mallctl
#endif
#include <jemalloc/jemalloc.h>

#include <pthread.h>
#include <signal.h>
#include <sys/single_threaded.h>

/* Around every call into jemalloc: in a single-threaded process, signals
 * stay blocked, so a handler that forks or allocates never meets jemalloc's
 * locks (or ours) held by the code it interrupted (see large.c). */
typedef struct signal_guard {
    bool active;
    sigset_t saved;
} signal_guard_t;

extern MP_TLS int mp_je_depth MP_HIDDEN; /* > 0: this thread is inside a guard (large.c) */

static inline void guard_begin(signal_guard_t *g)
{
    mp_je_depth++;
    g->active = __libc_single_threaded;
    if (g->active) {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &g->saved);
    }
}

static inline void guard_end(signal_guard_t *g)
{
    if (g->active)
        pthread_sigmask(SIG_SETMASK, &g->saved, NULL);
    mp_je_depth--;
}
#endif
