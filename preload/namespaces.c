/* unshare and setns, exported: calls the kernel refuses in a process with
 * more than one thread (a new user namespace; joining a user, mount or time
 * namespace) must not fail because libmpool's background thread runs.  The
 * thread is stopped around them; once it has been joined, the kernel may
 * still take a moment to drop it from the thread group, so EINVAL (EUSERS
 * for a time namespace) is tried again for a short while. */
#define _GNU_SOURCE
#include "core/background.h"
#include "base/base.h"
#include "platform/os.h"

#include <errno.h>
#include <sched.h>

#define RETRIES 200 /* of 1 ms each */

static int single_threaded_call(long (*call)(long, long), long a, long b)
{
    bool stopped = mp_background_pause();
    long rc = call(a, b);
    for (int i = 0; stopped && rc == -1 && (errno == EINVAL || errno == EUSERS) && i < RETRIES; i++) {
        _Atomic uint32_t never = 0;
        mp_os_futex_wait(&never, 0, 1000000); /* a 1 ms sleep */
        rc = call(a, b);
    }
    int err = errno;
    mp_background_resume();
    errno = err;
    return (int)rc;
}

static long call_unshare(long flags, long unused)
{
    (void)unused;
    return mp_os_unshare((int)flags);
}

static long call_setns(long fd, long nstype)
{
    return mp_os_setns((int)fd, (int)nstype);
}

/* The flags the kernel allows only in a single-threaded process. */
#define SINGLE_THREADED_UNSHARE (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)

MP_EXPORT int unshare(int flags)
{
    if (!(flags & SINGLE_THREADED_UNSHARE))
        return (int)mp_os_unshare(flags);
    return single_threaded_call(call_unshare, flags, 0);
}

MP_EXPORT int setns(int fd, int nstype)
{
    /* 0: any kind, known only from fd; a user, mount or time namespace needs one thread */
    if (nstype != 0 && !(nstype & (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWTIME)))
        return (int)mp_os_setns(fd, nstype);
    return single_threaded_call(call_setns, fd, nstype);
}
