/* The platform layer: the only code that makes system calls.  Every function
 * is async-signal-safe and never allocates. */
#ifndef MPOOL_OS_H
#define MPOOL_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MP_OS_HIDDEN __attribute__((visibility("hidden")))

/* ---- memory ---- */
void *mp_os_reserve(size_t size) MP_OS_HIDDEN; /* NULL on failure; backed on first touch */
void *mp_os_map(size_t size) MP_OS_HIDDEN;     /* zeroed, page-aligned; NULL on failure */
/* Reserve exactly [p, p + size), as mp_os_reserve, where nothing is mapped:
 * 0, or ENOMEM (the address-space limit, RLIMIT_AS) or another errno
 * (something is there, or the address is refused). */
int mp_os_map_fixed(void *p, size_t size) MP_OS_HIDDEN;
void mp_os_unmap(void *p, size_t size) MP_OS_HIDDEN;
/* Address space with no access at all, and [p, p + size) made so (its
 * pages dropped: they read zero once opened); opened again for reading and
 * writing.  false on failure (errno: the kernel's). */
void *mp_os_reserve_inaccessible(size_t size) MP_OS_HIDDEN;
bool mp_os_make_inaccessible(void *p, size_t size) MP_OS_HIDDEN;
bool mp_os_make_accessible(void *p, size_t size) MP_OS_HIDDEN;

void mp_os_release(void *p, size_t size) MP_OS_HIDDEN; /* back to the kernel; reads zero after */
void mp_os_release_within(void *p, size_t size) MP_OS_HIDDEN; /* the whole pages inside */
void mp_os_release_zeroed(void *p, size_t size) MP_OS_HIDDEN; /* all of it reads zero after */
size_t mp_os_page_size(void) MP_OS_HIDDEN;
uint64_t mp_os_rss_bytes(void) MP_OS_HIDDEN; /* resident set of the process; 0 if unknown */
/* Address space the process may still map under RLIMIT_AS (its limit less
 * its VSZ); SIZE_MAX without a limit, or when its VSZ cannot be read. */
size_t mp_os_address_space_room(void) MP_OS_HIDDEN;
size_t mp_os_address_space_limit(void) MP_OS_HIDDEN; /* RLIMIT_AS, or SIZE_MAX */

/* ---- clocks ---- */
uint64_t mp_os_now_ns(void) MP_OS_HIDDEN;    /* CLOCK_MONOTONIC, in ns */
uint64_t mp_os_coarse_ns(void) MP_OS_HIDDEN; /* CLOCK_MONOTONIC_COARSE: cheap, 1-4 ms steps */
uint64_t mp_os_wall_ms(void) MP_OS_HIDDEN;   /* CLOCK_REALTIME, in ms since the epoch */

/* ---- files ---- */
bool mp_os_write(int fd, const char *s, size_t n) MP_OS_HIDDEN; /* all of it; errno kept */
int mp_os_create_excl(const char *path) MP_OS_HIDDEN; /* new file, 0644, no symlink; -1 + errno */
/* A file to append to, emptied first (0644, no symlink); -1 + errno. */
int mp_os_open_truncate(const char *path) MP_OS_HIDDEN;
int mp_os_close(int fd) MP_OS_HIDDEN;
int mp_os_rename(const char *from, const char *to) MP_OS_HIDDEN;
void mp_os_unlink(const char *path) MP_OS_HIDDEN;
/* A whole small file (up to cap - 1 bytes, NUL-terminated); its length, or -1. */
ssize_t mp_os_read_file(const char *path, char *buf, size_t cap) MP_OS_HIDDEN;
ssize_t mp_os_readlink(const char *path, char *buf, size_t cap) MP_OS_HIDDEN;
bool mp_os_copy_file(const char *path, int fd) MP_OS_HIDDEN;
bool mp_os_read_memory(const void *at, void *buf, size_t n) MP_OS_HIDDEN; /* false where it would fault */
int mp_os_open_read(const char *path) MP_OS_HIDDEN;                /* -1 + errno */
ssize_t mp_os_read(int fd, char *buf, size_t cap) MP_OS_HIDDEN;   /* retrying EINTR */ /* all of path to fd; false on error */
bool mp_os_getcwd(char *buf, size_t cap) MP_OS_HIDDEN; /* false if it does not fit */
void mp_os_exe_path(char *buf, size_t cap) MP_OS_HIDDEN; /* the program's file; "" if unknown */

/* ---- randomness ---- */
uint64_t mp_os_random(void) MP_OS_HIDDEN; /* getrandom(2); a clock mix where it fails */

/* ---- processes, threads, signals ---- */
pid_t mp_os_getpid(void) MP_OS_HIDDEN;
void mp_os_yield(void) MP_OS_HIDDEN; /* sched_yield(2): let the thread being waited for run */
pid_t mp_os_gettid(void) MP_OS_HIDDEN;
bool mp_os_thread_gone(pid_t pid, pid_t tid) MP_OS_HIDDEN; /* the kernel says ESRCH */
bool mp_os_process_alive(pid_t pid) MP_OS_HIDDEN; /* kill(pid, 0) finds it */
int mp_os_on_signal(int sig, void (*handler)(int)) MP_OS_HIDDEN; /* SA_RESTART; 0 or -1 */
/* libc's sigaction itself, not the one libmpool exports (preload/signals.c). */
struct sigaction;
int mp_os_sigaction(int sig, const struct sigaction *act, struct sigaction *old) MP_OS_HIDDEN;
int mp_os_set_sigmask(const void *sigset) MP_OS_HIDDEN; /* this thread's; 0 or -1 */
/* Send sig to the calling thread. */
void mp_os_raise(int sig) MP_OS_HIDDEN;
/* Block every signal on this thread, keeping the old mask in *saved; and back. */
void mp_os_block_signals(void *saved_sigset) MP_OS_HIDDEN;
void mp_os_restore_signals(const void *saved_sigset) MP_OS_HIDDEN;
void mp_os_unblock_signals(void) MP_OS_HIDDEN; /* every signal, on this thread */

/* ---- futex waits (pools' blocking get) ---- */
/* Sleep while *word == val, until woken or timeout_ns passes (< 0: no
 * timeout); -1 + errno as futex(2). */
long mp_os_futex_wait(_Atomic uint32_t *word, uint32_t val, int64_t timeout_ns) MP_OS_HIDDEN;
void mp_os_futex_wake(_Atomic uint32_t *word, int count) MP_OS_HIDDEN;

/* ---- threads of our own (not async-signal-safe: pthread_create) ---- */
/* A joinable thread running fn(arg), with every signal blocked; false if
 * it cannot be made. */
bool mp_os_thread_start(void *(*fn)(void *), void *arg, size_t stack,
                        unsigned long *handle) MP_OS_HIDDEN;
void mp_os_thread_join(unsigned long handle) MP_OS_HIDDEN;
void mp_os_thread_detach_self(void) MP_OS_HIDDEN;
void mp_os_thread_name(const char *name) MP_OS_HIDDEN;  /* the calling thread's, 15 bytes */
/* The process's threads still running (a main thread that ended with
 * pthread_exit is not); 0 if unknown. */
unsigned mp_os_live_threads(void) MP_OS_HIDDEN;
/* The raw system calls, -1 + errno: for the exported unshare and setns. */
long mp_os_unshare(int flags) MP_OS_HIDDEN;
long mp_os_setns(int fd, int nstype) MP_OS_HIDDEN;

#endif
