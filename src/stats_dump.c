/* Writing the stats: at exit (a library destructor, so it runs after the
 * program's own atexit handlers and static destructors), on MPOOL_STATS_SIGNAL,
 * and on request (mpool_stats_dump / mpool_stats_json).
 *
 * A dump never allocates and never locks anything the program or the
 * allocator may hold: counters are read racily (stats.c), the site table is
 * append-only (trace.c), and output goes through a stack buffer to write(2).
 * The snapshot is large, so it lives in static storage owned by whoever holds
 * `dumping`; a signal that arrives during a dump skips its own.
 *
 * Files are written whole or not at all: to a temporary file in the same
 * directory (O_EXCL | O_NOFOLLOW), then rename(2), which replaces a symlink
 * at the path rather than writing through it. */
#define _GNU_SOURCE
#include "stats_dump.h"
#include "pools.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t start_ns;
static _Atomic int dumping;
static _Atomic int warned;
static mp_snapshot_t snapshot; /* owned by the holder of `dumping` */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = buf;
    while (*p && *p != ' ')
        p++; /* skip the size field */
    uint64_t pages = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (uint64_t)(*p - '0');
    return pages * mp_os_page_size();
}

void mp_snapshot_take(mp_snapshot_t *s, const char *reason)
{
    s->reason = reason;
    s->pid = (long)getpid();
    s->elapsed_ns = monotonic_ns() - start_ns;
    s->rss_bytes = rss_bytes();
    mp_stats_collect(&s->t);
    s->nclasses = mp_num_classes;
    for (unsigned c = 0; c < mp_num_classes; c++)
        s->class_size[c] = mp_classes[c].size;
    s->nrecent = mp_stats_recent(s->recent, MP_RECENT);
    s->nleaks = mp_opt.prof ? mp_trace_leaks(s->leaks, MP_DUMP_LEAKS) : 0;
    s->npools = 0;
    for (unsigned i = 0; i < MP_POOL_RECORDS && s->npools < MP_DUMP_POOLS; i++) {
        mp_pool_record_t *r = &mp_pool_records[i];
        if (atomic_load_explicit(&r->live, memory_order_acquire) != 1)
            continue;
        s->pools[s->npools++] = (mp_pool_row_t){
            r->block_size, r->capacity,
            atomic_load_explicit(&r->made, memory_order_relaxed),
            atomic_load_explicit(&r->gets, memory_order_relaxed),
            atomic_load_explicit(&r->puts, memory_order_relaxed),
            atomic_load_explicit(&r->waits, memory_order_relaxed),
            atomic_load_explicit(&r->timeouts, memory_order_relaxed),
        };
    }
}

static const mp_column_t pool_columns[] = {
    { "block_size", "block", 9 }, { "capacity", "capacity", 10 }, { "made", "made", 10 },
    { "gets", "gets", 12 },       { "puts", "puts", 12 },         { "waits", "waits", 10 },
    { "timeouts", "timeouts", 10 },
};

static const mp_column_t class_columns[] = {
    { "size", "size", 9 },       { "allocs", "allocs", 14 },
    { "frees", "frees", 14 },    { "reuses", "reuses", 14 },
    { "active_blocks", "active", 12 },
};

void mp_snapshot_emit(const mp_snapshot_t *s, mp_emitter_t *e)
{
    const mp_totals_t *t = &s->t;
    mp_emit_begin(e, "mpool stats");
    mp_emit_u64(e, "version", "schema version", 1);
    mp_emit_str(e, "reason", "reason", s->reason);
    mp_emit_u64(e, "pid", "pid", (uint64_t)s->pid);
    mp_emit_u64(e, "elapsed_ns", "elapsed ns", s->elapsed_ns);
    mp_emit_u64(e, "rss_bytes", "rss bytes", s->rss_bytes);
    mp_emit_u64(e, "mapped_bytes", "pool bytes mapped", t->mapped_bytes);
    mp_emit_u64(e, "released_bytes", "pool bytes released", t->released_bytes);

    mp_emit_object_begin(e, "totals", "totals");
    mp_emit_u64(e, "allocs", "allocations", t->allocs);
    mp_emit_u64(e, "frees", "frees", t->frees);
    mp_emit_u64(e, "reuses", "reuses", t->reuses);
    mp_emit_u64(e, "active_blocks", "active blocks", t->active_blocks);
    mp_emit_u64(e, "active_bytes", "active bytes", t->active_bytes);
    mp_emit_u64(e, "peak_active_bytes", "peak active bytes", t->peak_active_bytes);
    mp_emit_u64(e, "alloc_ns", "fresh allocation ns", t->alloc_ns);
    mp_emit_u64(e, "reuse_ns", "reuse ns", t->reuse_ns);
    mp_emit_object_end(e);

    enum { NCOL = sizeof class_columns / sizeof *class_columns };
    mp_emit_table_begin(e, "classes", "size classes (those used)", class_columns, NCOL);
    for (unsigned c = 1; c < s->nclasses; c++) {
        if (t->class_allocs[c] == 0)
            continue;
        uint64_t row[NCOL] = { s->class_size[c], t->class_allocs[c], t->class_frees[c],
                               t->class_allocs[c] - t->class_fresh[c],
                               t->class_allocs[c] - t->class_frees[c] };
        mp_emit_table_row(e, class_columns, row, NCOL);
    }
    mp_emit_table_end(e);

    mp_emit_object_begin(e, "fallback", "fallback (jemalloc, oversized requests)");
    mp_emit_u64(e, "allocs", "allocations", t->fallback_allocs);
    mp_emit_u64(e, "frees", "frees", t->fallback_frees);
    mp_emit_u64(e, "active_blocks", "active blocks", t->fallback_allocs - t->fallback_frees);
    mp_emit_u64(e, "active_bytes", "active bytes", t->fallback_bytes);
    mp_emit_u64(e, "cached_bytes", "freed, kept for reuse", t->fallback_cached_bytes);
    mp_emit_object_end(e);

    mp_emit_u32_array(e, "recent_sizes", "recent request sizes", s->recent, s->nrecent);

    enum { NPCOL = sizeof pool_columns / sizeof *pool_columns };
    mp_emit_table_begin(e, "pools", "fixed pools (mpool_fixed_*)", pool_columns, NPCOL);
    for (unsigned i = 0; i < s->npools; i++) {
        const mp_pool_row_t *r = &s->pools[i];
        uint64_t row[NPCOL] = { r->block_size, r->capacity, r->made, r->gets,
                                r->puts, r->waits, r->timeouts };
        mp_emit_table_row(e, pool_columns, row, NPCOL);
    }
    mp_emit_table_end(e);

    mp_emit_object_begin(e, "threads", "threads");
    mp_emit_u64(e, "live", "live", t->threads_started - t->threads_exited);
    mp_emit_u64(e, "exited", "exited", t->threads_exited);
    mp_emit_object_end(e);

    mp_emit_list_begin(e, "leaks", "live allocation sites, largest first (MPOOL_PROF)");
    for (unsigned i = 0; i < s->nleaks; i++) {
        const mp_leak_t *l = &s->leaks[i];
        mp_emit_item_begin(e);
        mp_emit_u64(e, "bytes", "bytes (estimated)", l->bytes > 0 ? (uint64_t)(l->bytes + 0.5) : 0);
        mp_emit_u64(e, "blocks", "blocks (estimated)", l->blocks > 0 ? (uint64_t)(l->blocks + 0.5) : 0);
        mp_emit_str_array(e, "stack", "allocated at", l->frames, l->depth);
        mp_emit_item_end(e);
    }
    mp_emit_list_end(e);
    mp_emit_end(e);
}

/* ---- taking turns ------------------------------------------------------------ */

static bool dump_lock(bool wait)
{
    int expected = 0;
    while (!atomic_compare_exchange_weak(&dumping, &expected, 1)) {
        if (!wait)
            return false;
        expected = 0;
        sched_yield();
    }
    return true;
}

static void dump_unlock(void)
{
    atomic_store(&dumping, 0);
}

/* After fork() in the child: a dump that another thread was writing will
 * never finish there, so its turn is over. */
void mp_dump_fork_child(void)
{
    atomic_store(&dumping, 0);
}

/* ---- files ---------------------------------------------------------------------- */

static int write_fd(int fd, int mode, const char *reason)
{
    char scratch[4096];
    mp_emitter_t e;
    mp_emit_init_fd(&e, mode, fd, scratch, sizeof scratch);
    mp_snapshot_take(&snapshot, reason);
    mp_snapshot_emit(&snapshot, &e);
    mp_emit_finish(&e);
    return e.failed ? -1 : 0;
}

/* path with each %p replaced by the pid; false if it does not fit */
static bool expand_path(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    char pid[24];
    size_t pidlen = mp_fmt(pid, sizeof pid, "%ld", (long)getpid());
    for (const char *p = path; *p; p++) {
        const char *piece = p;
        size_t len = 1;
        if (p[0] == '%' && p[1] == 'p') {
            piece = pid;
            len = pidlen;
            p++;
        }
        if (n + len >= cap)
            return false;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return true;
}

static int dump_locked(const char *path, const char *reason)
{
    int mode = mp_opt.stats_format == MP_FORMAT_TEXT ? MP_EMIT_TEXT : MP_EMIT_JSON;
    if (path[0] == '-' && path[1] == '\0')
        return write_fd(STDERR_FILENO, mode, reason) == 0 ? 0 : (errno = EIO, -1);
    char final[MP_OPT_STRING_MAX + 32], tmp[MP_OPT_STRING_MAX + 64];
    if (!expand_path(path, final, sizeof final - 32)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    static _Atomic unsigned serial;
    mp_fmt(tmp, sizeof tmp, "%s.tmp.%ld.%u", final, (long)getpid(), atomic_fetch_add(&serial, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = write_fd(fd, mode, reason);
    int err = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (rc == 0 && rename(tmp, final) != 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        errno = err ? err : EIO;
    }
    return rc;
}

int mp_dump_to_path(const char *path, const char *reason)
{
    int saved = errno;
    dump_lock(true);
    int rc = dump_locked(path, reason);
    dump_unlock();
    if (rc == 0)
        errno = saved;
    return rc;
}

size_t mp_dump_json(char *buf, size_t cap)
{
    mp_emitter_t e;
    dump_lock(true);
    mp_emit_init_buf(&e, MP_EMIT_JSON, buf, cap);
    mp_snapshot_take(&snapshot, "request");
    mp_snapshot_emit(&snapshot, &e);
    mp_emit_finish(&e);
    dump_unlock();
    return e.total;
}

/* ---- automatic dumps ------------------------------------------------------------ */

static const char *errno_name(int err)
{
    switch (err) {
    case ENOENT: return "no such directory";
    case EACCES: return "permission denied";
    case EROFS: return "read-only file system";
    case ENOSPC: return "no space left";
    case EISDIR: return "is a directory";
    case ENOTDIR: return "a path component is not a directory";
    case ELOOP: return "too many symbolic links";
    case ENAMETOOLONG: return "name too long";
    case EEXIST: return "temporary file exists";
    case EDQUOT: return "quota exceeded";
    default: return "write failed";
    }
}

/* For the exit and signal dumps: failure is one warning line, once. */
static void dump_automatic(const char *reason, bool wait)
{
    const char *path = mp_option_string(MP_OPT_stats);
    if (path == NULL)
        path = "-";
    int saved = errno;
    if (!dump_lock(wait))
        return;
    int rc = dump_locked(path, reason);
    int err = errno;
    dump_unlock();
    if (rc != 0 && atomic_exchange(&warned, 1) == 0) {
        char msg[MP_OPT_STRING_MAX + 128];
        mp_fmt(msg, sizeof msg, "cannot write stats to '%s': %s (errno %d)", path,
               errno_name(err), err);
        mp_warn(msg);
    }
    errno = saved;
}

static void on_signal(int sig)
{
    (void)sig;
    dump_automatic("signal", false); /* a dump in progress on any thread: skip */
}

void mp_dump_init(void)
{
    start_ns = monotonic_ns();
    if (mp_opt.stats_signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction((int)mp_opt.stats_signal, &sa, NULL) != 0)
            mp_warn("cannot install the MPOOL_STATS_SIGNAL handler");
    }
}

__attribute__((destructor)) static void dump_at_exit(void)
{
    if (atomic_load(&mp_init_state) == MP_INIT_DONE && mp_option_string(MP_OPT_stats))
        dump_automatic("exit", true);
}
