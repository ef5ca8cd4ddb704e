/* The platform layer: the only code that makes system calls (memory, files,
 * clocks, signals, thread ids, futexes).  Every function is
 * async-signal-safe and never allocates. */
#define _GNU_SOURCE
#include "platform/os.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h> /* rename(2) */
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Reserve address space that costs nothing until touched.  MAP_NORESERVE keeps
 * it out of the commit charge under the default overcommit policy; pages are
 * backed (zeroed) on first touch.  Precondition: size is a multiple of the page
 * size.  Postcondition: NULL, or size bytes readable and writable. */
static void *reserve_near(void *hint, size_t size)
{
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *mp_os_reserve_inaccessible(size_t size)
{
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The access taken away, then the pages dropped: cheaper than a fresh
 * mapping over them, which allocates a new area in the kernel. */
bool mp_os_make_inaccessible(void *p, size_t size)
{
    if (mprotect(p, size, PROT_NONE) != 0)
        return false;
    madvise(p, size, MADV_DONTNEED);
    return true;
}

bool mp_os_make_accessible(void *p, size_t size)
{
    return mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
}

void *mp_os_reserve(size_t size)
{
    return reserve_near(NULL, size);
}

void *mp_os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* p as a hint, checked: the kernel takes a free hint as it is and places
 * the mapping elsewhere when something is there (MAP_FIXED_NOREPLACE would
 * say so itself, but sanitizers' mmap interceptors drop such hints). */
int mp_os_map_fixed(void *p, size_t size)
{
    int saved = errno;
    void *q = reserve_near(p, size);
    int err = q == NULL ? (errno == ENOMEM ? ENOMEM : EINVAL) : 0;
    if (q != NULL && q != p) {
        munmap(q, size);
        err = EEXIST;
    }
    errno = saved;
    return err;
}

void mp_os_unmap(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

/* Give the memory behind [p, p + size) back to the kernel, keeping the range
 * mapped: the next touch reads zeros.  Page-aligned. */
void mp_os_release(void *p, size_t size)
{
    madvise(p, size, MADV_DONTNEED);
}

/* The whole pages inside [p, p + size): [*lo, *hi), empty when *hi <= *lo. */
static void whole_pages(void *p, size_t size, uintptr_t *lo, uintptr_t *hi)
{
    size_t page = mp_os_page_size();
    *lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    *hi = ((uintptr_t)p + size) & ~(page - 1);
}

/* Release the whole pages inside [p, p + size): the partial pages at either
 * end may belong to something else and stay. */
void mp_os_release_within(void *p, size_t size)
{
    uintptr_t lo, hi;
    whole_pages(p, size, &lo, &hi);
    if (hi > lo)
        mp_os_release((void *)lo, hi - lo);
}

/* [p, p + size) reads zero after: its whole pages are released, the partial
 * pages at either end cleared by hand. */
void mp_os_release_zeroed(void *p, size_t size)
{
    uintptr_t lo, hi, start = (uintptr_t)p, end = start + size;
    whole_pages(p, size, &lo, &hi);
    if (lo >= hi) {
        memset(p, 0, size); /* no whole page inside */
        return;
    }
    memset(p, 0, lo - start);
    memset((void *)hi, 0, end - hi);
    mp_os_release((void *)lo, hi - lo);
}

size_t mp_os_page_size(void)
{
    static _Atomic size_t page; /* threads may race to set it: same value */
    size_t size = atomic_load_explicit(&page, memory_order_relaxed);
    if (!size) {
        size = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&page, size, memory_order_relaxed);
    }
    return size;
}

/* Field `index` of /proc/self/statm (0: VSZ, 1: RSS), in bytes; false if
 * the file cannot be read. */
static bool statm_bytes(unsigned index, uint64_t *bytes)
{
    char buf[128];
    if (mp_os_read_file("/proc/self/statm", buf, sizeof buf) <= 0)
        return false;
    const char *p = buf;
    for (unsigned i = 0; i < index; i++) {
        while (*p && *p != ' ')
            p++;
        if (*p)
            p++;
    }
    uint64_t pages = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (uint64_t)(*p - '0');
    *bytes = pages * mp_os_page_size();
    return true;
}

uint64_t mp_os_rss_bytes(void)
{
    uint64_t rss;
    return statm_bytes(1, &rss) ? rss : 0;
}

size_t mp_os_address_space_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > SIZE_MAX)
        return SIZE_MAX;
    return (size_t)rl.rlim_cur;
}

size_t mp_os_address_space_room(void)
{
    size_t limit = mp_os_address_space_limit();
    if (limit == SIZE_MAX)
        return SIZE_MAX;
    uint64_t vsz;
    if (!statm_bytes(0, &vsz))
        return SIZE_MAX; /* unknown (no /proc, no descriptor left): the kernel will say */
    return limit > vsz ? (size_t)(limit - vsz) : 0;
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t mp_os_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* A clock for decays: a few nanoseconds, resolution of a tick (1-4 ms). */
uint64_t mp_os_coarse_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC_COARSE);
}

uint64_t mp_os_wall_ms(void)
{
    return clock_ns(CLOCK_REALTIME) / 1000000u;
}

/* Write all of s, retrying short writes and EINTR; false if a write failed.
 * errno is preserved, so that a warning never changes what the program sees. */
bool mp_os_write(int fd, const char *s, size_t n)
{
    int saved = errno;
    bool ok = true;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        s += w;
        n -= (size_t)w;
    }
    errno = saved;
    return ok;
}

int mp_os_create_excl(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
}

int mp_os_open_truncate(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
}

int mp_os_close(int fd)
{
    return close(fd);
}

int mp_os_rename(const char *from, const char *to)
{
    return rename(from, to);
}

void mp_os_unlink(const char *path)
{
    unlink(path);
}

int mp_os_open_read(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC);
}

ssize_t mp_os_read(int fd, char *buf, size_t cap)
{
    ssize_t n;
    while ((n = read(fd, buf, cap)) < 0 && errno == EINTR)
        ;
    return n;
}

ssize_t mp_os_read_file(const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    int fd = mp_os_open_read(path);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = mp_os_read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Our own memory through the kernel: where a load would fault (a file
 * shortened under its mapping), this fails instead. */
bool mp_os_read_memory(const void *at, void *buf, size_t n)
{
    int saved = errno;
    struct iovec local = { buf, n }, remote = { (void *)at, n };
    bool ok = syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL) == (long)n;
    errno = saved;
    return ok;
}

bool mp_os_copy_file(const char *path, int fd)
{
    int in = mp_os_open_read(path);
    if (in < 0)
        return false;
    char buf[4096];
    ssize_t n;
    bool ok = true;
    while (ok && (n = mp_os_read(in, buf, sizeof buf)) != 0)
        ok = n > 0 && mp_os_write(fd, buf, (size_t)n);
    close(in);
    return ok;
}

ssize_t mp_os_readlink(const char *path, char *buf, size_t cap)
{
    return readlink(path, buf, cap);
}

void mp_os_exe_path(char *buf, size_t cap)
{
    ssize_t n = cap ? readlink("/proc/self/exe", buf, cap - 1) : -1;
    if (cap)
        buf[n > 0 ? n : 0] = '\0';
}

bool mp_os_getcwd(char *buf, size_t cap)
{
    int saved = errno;
    bool ok = syscall(SYS_getcwd, buf, cap) > 0; /* libc's getcwd may allocate */
    errno = saved;
    return ok;
}

uint64_t mp_os_random(void)
{
    uint64_t r;
    int saved = errno;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = mp_os_now_ns() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32;
    errno = saved;
    return r;
}

void mp_os_yield(void)
{
    sched_yield();
}

pid_t mp_os_getpid(void)
{
    return getpid();
}

pid_t mp_os_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

bool mp_os_process_alive(pid_t pid)
{
    int saved = errno;
    bool alive = kill(pid, 0) == 0 || errno == EPERM;
    errno = saved;
    return alive;
}

bool mp_os_thread_gone(pid_t pid, pid_t tid)
{
    int saved = errno;
    bool gone = syscall(SYS_tgkill, pid, tid, 0) != 0 && errno == ESRCH;
    errno = saved;
    return gone;
}

int mp_os_on_signal(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return mp_os_sigaction(sig, &sa, NULL);
}

/* libc's other name for it: the plain name is libmpool's (preload/signals.c) */
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

int mp_os_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return __sigaction(sig, act, old);
}

int mp_os_set_sigmask(const void *sigset)
{
    return pthread_sigmask(SIG_SETMASK, (const sigset_t *)sigset, NULL) == 0 ? 0 : -1;
}

void mp_os_raise(int sig)
{
    syscall(SYS_tgkill, getpid(), mp_os_gettid(), sig);
}

void mp_os_block_signals(void *saved_sigset)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, (sigset_t *)saved_sigset);
}

void mp_os_unblock_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
}

void mp_os_restore_signals(const void *saved_sigset)
{
    pthread_sigmask(SIG_SETMASK, (const sigset_t *)saved_sigset, NULL);
}

long mp_os_futex_wait(_Atomic uint32_t *word, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *timeout = NULL;
    if (timeout_ns >= 0) {
        ts = (struct timespec){ (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
        timeout = &ts;
    }
    return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, timeout, NULL, 0);
}

void mp_os_futex_wake(_Atomic uint32_t *word, int count)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

/* ---- threads of our own ---- */

/* With every signal blocked, which the new thread inherits: the program's
 * signals are never delivered to it.  A small stack: it counts against
 * RLIMIT_AS, and our thread needs a few pages. */
bool mp_os_thread_start(void *(*fn)(void *), void *arg, size_t stack, unsigned long *handle)
{
    int saved = errno;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return false;
    pthread_attr_setstacksize(&attr, stack);
    /* not the creator's policy: a real-time caller must not make ours one */
    struct sched_param normal = { 0 };
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &normal);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    errno = saved;
    if (rc != 0)
        return false;
    *handle = (unsigned long)t;
    return true;
}

void mp_os_thread_join(unsigned long handle)
{
    int saved = errno;
    pthread_join((pthread_t)handle, NULL);
    errno = saved;
}

void mp_os_thread_detach_self(void)
{
    pthread_detach(pthread_self());
}

void mp_os_thread_name(const char *name)
{
    int saved = errno;
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
    errno = saved;
}

/* Field 20 of /proc/self/stat, less the main thread when it ended with
 * pthread_exit (the process's state, field 3, is then Z while other
 * threads run on).  Fields start after the command name, which may hold
 * spaces and parentheses: the last ')' ends it. */
unsigned mp_os_live_threads(void)
{
    char buf[1024];
    if (mp_os_read_file("/proc/self/stat", buf, sizeof buf) <= 0)
        return 0;
    const char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return 0;
    bool main_ended = p[2] == 'Z';
    for (int field = 2; field < 20; field++) { /* p is at the end of field 2 */
        p = strchr(p + 1, ' ');
        if (p == NULL)
            return 0;
    }
    unsigned n = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        n = n * 10 + (unsigned)(*p - '0');
    return main_ended && n > 0 ? n - 1 : n;
}

long mp_os_unshare(int flags)
{
    return syscall(SYS_unshare, flags);
}

long mp_os_setns(int fd, int nstype)
{
    return syscall(SYS_setns, fd, nstype);
}
