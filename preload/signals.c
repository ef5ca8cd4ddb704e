/* sigaction and the signal() family, exported: once guarded blocks are in
 * use, libmpool's handler holds SIGSEGV and SIGBUS, and the program's own
 * actions for them are kept aside and answered (guard/fault.c).  glibc's
 * signal() calls its sigaction inside libc, out of our reach, so the
 * family is here too, with glibc's semantics. */
#define _GNU_SOURCE
#include "base/base.h"
#include "guard/fault.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

MP_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return mp_guard_sigaction(sig, act, old);
}

static sighandler_t set_handler(int sig, sighandler_t handler, int flags, bool mask_itself)
{
    if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = flags;
    sigemptyset(&act.sa_mask);
    if (mask_itself)
        sigaddset(&act.sa_mask, sig);
    if (mp_guard_sigaction(sig, &act, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* BSD semantics, glibc's default: restarted calls, the signal blocked in
 * its handler, the handler kept. */
MP_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESTART, true);
}

MP_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESTART, true);
}

/* System V semantics: reset to the default on delivery, not blocked. */
MP_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}

MP_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}
