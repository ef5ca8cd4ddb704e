/* Writing the stats: at exit (a library destructor, so it runs after the
 * program's own atexit handlers and static destructors), on MPOOL_STATS_SIGNAL,
 * and on request (mpool_stats_dump / mpool_stats_json).
 *
 * A dump never allocates and never locks anything the program or the
 * allocator may hold: counters are read racily (core/counters.c), the site
 * table is append-only (profile/sites.c), and output goes through a stack
 * buffer to write(2).
 * The snapshot is large, so it lives in static storage owned by whoever holds
 * `dumping`; a signal that arrives during a dump skips its own.
 *
 * Files are written whole or not at all: to a temporary file in the same
 * directory (O_EXCL | O_NOFOLLOW), then rename(2), which replaces a symlink
 * at the path rather than writing through it. */
#define _GNU_SOURCE
#include "observe/dump.h"
#include "guard/guard.h"
#include "guard/report.h"
#include "observe/openmetrics.h"
#include "observe/paths.h"
#include "observe/run.h"
#include "observe/heapprofile.h"
#include "observe/summary.h"
#include "base/fmt.h"
#include "base/options.h"
#include "base/report.h"
#include "base/probes.h"
#include "base/turn.h"
#include "core/init.h"
#include "core/sizeclass.h"
#include "platform/os.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static _Atomic int dumping;
/* The number that %n stands for: the dumps the process has written to
 * paths with %n so far (any such path: MPOOL_STATS, mpool_stats_dump's), so
 * none overwrites another (under `dumping`; 0 again in a fork child, a
 * process of its own: %p tells the two apart). */
static unsigned dump_serial;

static char heap_profile_path[MP_OPT_STRING_MAX]; /* MPOOL_HEAP_PROFILE, absolute; "" unset */
static unsigned heap_profile_serial;              /* its %n (under `dumping`) */

static _Atomic int warned;
static mp_snapshot_t snapshot; /* owned by the holder of `dumping` */

/* ---- sections ---------------------------------------------------------------- */

static mp_dump_section_fn sections[MP_DUMP_SECTIONS];
static _Atomic unsigned nsections;

bool mp_dump_add_section(mp_dump_section_fn emit)
{
    unsigned i = atomic_load(&nsections);
    do {
        if (i == MP_DUMP_SECTIONS)
            return false;
    } while (!atomic_compare_exchange_weak(&nsections, &i, i + 1));
    __atomic_store_n(&sections[i], emit, __ATOMIC_RELEASE);
    return true;
}

void mp_snapshot_take(mp_snapshot_t *s, const char *reason)
{
    s->reason = reason;
    s->with_run = true;
    s->pid = (long)mp_os_getpid();
    s->elapsed_ns = mp_os_now_ns() - mp_start_ns;
    s->rss_bytes = mp_os_rss_bytes();
    mp_counters_collect(&s->t);
    s->nclasses = mp_num_classes;
    for (unsigned c = 0; c < mp_num_classes; c++)
        s->class_size[c] = mp_classes[c].size;
    s->nrecent = mp_counters_recent(s->recent, MP_RECENT);
    s->nleaks = mp_opt.prof ? mp_site_leaks(s->leaks, MP_DUMP_LEAKS) : 0;
    s->nsections = 0;
    unsigned n = atomic_load(&nsections);
    for (unsigned i = 0; i < n; i++) {
        mp_dump_section_fn f = __atomic_load_n(&sections[i], __ATOMIC_ACQUIRE);
        if (f) /* NULL: being registered */
            s->sections[s->nsections++] = f;
    }
}

/* ---- the sections ------------------------------------------------------------- */

/* The counters.def rows of one section, in the table's order. */
static void emit_counters(mp_emitter_t *e, const mp_totals_t *t, int section)
{
#define MP_COUNTER(id, kind, sec, key, label, metric) \
    if (MP_SECTION_##sec == section)           \
        mp_emit_u64(e, key, label, t->id);
#include "core/counters.def"
#undef MP_COUNTER
}

static void emit_header(const mp_snapshot_t *s, mp_emitter_t *e)
{
    mp_emit_u64(e, "version", "schema version", 1);
    mp_emit_str(e, "reason", "reason", s->reason);
    mp_emit_u64(e, "pid", "pid", (uint64_t)s->pid);
    mp_emit_u64(e, "elapsed_ns", "elapsed ns", s->elapsed_ns);
    mp_emit_u64(e, "rss_bytes", "rss bytes", s->rss_bytes);
    emit_counters(e, &s->t, MP_SECTION_top);
}

static void emit_object(const mp_snapshot_t *s, mp_emitter_t *e, int section, const char *key,
                        const char *title)
{
    mp_emit_object_begin(e, key, title);
    emit_counters(e, &s->t, section);
    mp_emit_object_end(e);
}

static const mp_column_t class_columns[] = {
    { "size", "size", 9 },       { "allocs", "allocs", 14 },
    { "frees", "frees", 14 },    { "reuses", "reuses", 14 },
    { "active_blocks", "active", 12 },
};

static void emit_classes(const mp_snapshot_t *s, mp_emitter_t *e)
{
    const mp_totals_t *t = &s->t;
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
}

static void emit_leaks(const mp_snapshot_t *s, mp_emitter_t *e)
{
    mp_emit_list_begin(e, "leaks", "live allocation sites, largest first (MPOOL_PROF)");
    for (unsigned i = 0; i < s->nleaks; i++) {
        const mp_leak_t *l = &s->leaks[i];
        mp_emit_item_begin(e);
        mp_emit_u64(e, "bytes", "bytes (estimated)", mp_site_whole(l->bytes));
        mp_emit_u64(e, "blocks", "blocks (estimated)", mp_site_whole(l->blocks));
        mp_emit_str_array(e, "stack", "allocated at", l->frames, l->depth);
        mp_emit_item_end(e);
    }
    mp_emit_list_end(e);
}

/* ---- the profile (MPOOL_PROF) -------------------------------------------------- */

#define PROFILE_SITES 2048 /* sites listed, in the order first seen */

static void emit_view(mp_emitter_t *e, const char *view, const mp_site_view_t *v)
{
    char key[32];
    mp_fmt(key, sizeof key, "%s_bytes", view);
    mp_emit_u64(e, key, key, mp_site_whole(v->bytes));
    mp_fmt(key, sizeof key, "%s_blocks", view);
    mp_emit_u64(e, key, key, mp_site_whole(v->blocks));
    mp_fmt(key, sizeof key, "%s_samples", view);
    mp_emit_u64(e, key, key, v->samples);
}

/* Every site's three views with their sample counts, read from the site
 * table as the dump is written (no copy: a table of thousands of sites). */
static void emit_profile(mp_emitter_t *e)
{
    mp_site_peak_t peak;
    mp_site_peak(&peak);
    unsigned count = mp_site_count();
    mp_emit_object_begin(e, "profile", "heap profile (MPOOL_PROF): sampled sites, three views");
    mp_emit_u64(e, "sample_bytes", "mean bytes between samples", mp_opt.prof_sample);
    mp_emit_u64(e, "live_bytes", "live bytes (estimated)", mp_site_whole(peak.live));
    mp_emit_u64(e, "peak_bytes", "peak live bytes (estimated)", mp_site_whole(peak.peak));
    mp_emit_u64(e, "peak_view_bytes", "live bytes when the peak view was taken",
                mp_site_whole(peak.copied));
    mp_emit_u64(e, "peak_ms", "peak view taken at ms",
                peak.copied_ns > mp_start_ns ? (peak.copied_ns - mp_start_ns) / 1000000u : 0);
    mp_emit_u64(e, "sites_total", "sites", count);
    mp_emit_list_begin(e, "sites", "sites (inuse: live now; alloc: since start; peak: at the peak; "
                                   "temp: of alloc, freed within 1 ms)");
    mp_site_figures_t f;
    for (unsigned i = 0, shown = 0; i < count && shown < PROFILE_SITES; i++) {
        mp_site_read(i, &f);
        if (f.alloc.samples == 0)
            continue;
        shown++;
        mp_emit_item_begin(e);
        emit_view(e, "inuse", &f.inuse);
        emit_view(e, "alloc", &f.alloc);
        emit_view(e, "peak", &f.peak);
        emit_view(e, "temp", &f.temp);
        char pcs[MP_SITE_DEPTH][24];
        const char *pc_text[MP_SITE_DEPTH];
        for (unsigned d = 0; d < f.depth; d++) {
            mp_fmt(pcs[d], sizeof pcs[d], "%p", f.pcs[d]);
            pc_text[d] = pcs[d];
        }
        mp_emit_str_array(e, "pcs", "return addresses", pc_text, f.depth);
        mp_emit_str_array(e, "stack", "allocated at", f.frames, f.depth);
        mp_emit_item_end(e);
    }
    mp_emit_list_end(e);
    mp_emit_object_end(e);
}

/* Guarded slots (guard/guard.h): what they caught is in "faults" (the
 * dump written just before the abort), with MPOOL_GUARD_SAMPLE on. */
static void emit_guard(mp_emitter_t *e)
{
    mp_guard_stats_t g;
    mp_guard_read_stats(&g);
    if (g.sample == 0)
        return;
    mp_emit_object_begin(e, "guard", "guarded slots (MPOOL_GUARD_SAMPLE)");
    mp_emit_u64(e, "sample", "one allocation in", g.sample);
    mp_emit_u64(e, "slots", "slots", g.slots);
    mp_emit_u64(e, "guarded", "guarded so far", g.guarded);
    mp_emit_u64(e, "live", "guarded and live", g.live);
    mp_emit_u64(e, "no_slot", "no free slot", g.no_slot);
    mp_emit_u64(e, "faults", "bugs caught", g.faults);
    mp_emit_object_end(e);
}

void mp_snapshot_emit(const mp_snapshot_t *s, mp_emitter_t *e)
{
    mp_emit_begin(e, "mpool stats");
    emit_header(s, e);
    if (s->with_run)
        mp_run_emit(e);
    emit_object(s, e, MP_SECTION_totals, "totals", "totals");
    emit_classes(s, e);
    emit_object(s, e, MP_SECTION_fallback, "fallback", "fallback (jemalloc, oversized requests)");
    mp_emit_u32_array(e, "recent_sizes", "recent request sizes", s->recent, s->nrecent);
    emit_guard(e);
    for (unsigned i = 0; i < s->nsections; i++)
        s->sections[i](e); /* the add-ons' */
    emit_object(s, e, MP_SECTION_threads, "threads", "threads");
    emit_leaks(s, e);
    if (mp_opt.prof)
        emit_profile(e);
    mp_emit_end(e);
}

/* ---- taking turns ------------------------------------------------------------ */

static bool dump_lock(bool wait)
{
    return mp_turn_take(&dumping, wait);
}

static void dump_unlock(void)
{
    mp_turn_give(&dumping);
}

/* After fork() in the child: a dump that another thread was writing will
 * never finish there, so its turn is over. */
static void dump_fork_child(void)
{
    atomic_store(&dumping, 0);
    dump_serial = 0;
    heap_profile_serial = 0;
}

/* ---- files ---------------------------------------------------------------------- */

/* What goes into a file: the stats dump in the format set, or the heap
 * profile. */
enum { STATS_FILE, HEAP_PROFILE_FILE };

static int write_fd(int fd, int what, const char *reason)
{
    char scratch[4096];
    mp_emitter_t e;
    int mode = mp_opt.stats_format == MP_FORMAT_TEXT ? MP_EMIT_TEXT : MP_EMIT_JSON;
    mp_emit_init_fd(&e, mode, fd, scratch, sizeof scratch);
    if (what == HEAP_PROFILE_FILE) {
        mp_heapprofile_emit(&e);
    } else {
        mp_snapshot_take(&snapshot, reason);
        if (mp_opt.stats_format == MP_FORMAT_OPENMETRICS || mp_opt.stats_format == MP_FORMAT_PROMETHEUS)
            mp_openmetrics_emit(&snapshot, &e, mp_opt.stats_format == MP_FORMAT_PROMETHEUS);
        else
            mp_snapshot_emit(&snapshot, &e);
    }
    mp_emit_finish(&e);
    return e.failed ? -1 : 0;
}

/* The file at path (its %p and %n filled in; %n from *number, which a
 * file written uses up), whole or not at all: a temporary file, then
 * rename(2).  "-" is stderr. */
static int write_file(const char *path, int what, const char *reason, unsigned *number)
{
    if (path[0] == '-' && path[1] == '\0')
        return write_fd(STDERR_FILENO, what, reason) == 0 ? 0 : (errno = EIO, -1);
    char final[MP_OPT_STRING_MAX + 32], tmp[MP_OPT_STRING_MAX + 64];
    bool numbered;
    if (!mp_path_expand(path, *number, final, sizeof final - 32, &numbered)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    static _Atomic unsigned serial;
    mp_fmt(tmp, sizeof tmp, "%s.tmp.%ld.%u", final, (long)mp_os_getpid(),
           atomic_fetch_add(&serial, 1));
    int fd = mp_os_create_excl(tmp);
    if (fd < 0)
        return -1;
    int rc = write_fd(fd, what, reason);
    int err = errno;
    if (mp_os_close(fd) != 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (rc == 0 && mp_os_rename(tmp, final) != 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        mp_os_unlink(tmp);
        errno = err ? err : EIO;
    } else if (numbered) {
        (*number)++; /* only a file written uses a number up */
    }
    if (rc == 0)
        MP_PROBE(dump, reason);
    return rc;
}


/* The stats to path (none if NULL) and the heap profile if one is set;
 * -1 + errno if either failed, *failed naming it. */
static int dump_locked(const char *path, const char *reason, const char **failed)
{
    int rc = 0, err = 0;
    if (path && write_file(path, STATS_FILE, reason, &dump_serial) != 0) {
        rc = -1;
        err = errno;
        *failed = path;
    }
    if (heap_profile_path[0] &&
        write_file(heap_profile_path, HEAP_PROFILE_FILE, reason, &heap_profile_serial) != 0 &&
        rc == 0) {
        rc = -1;
        err = errno;
        *failed = heap_profile_path;
    }
    errno = err;
    return rc;
}

int mp_dump_to_path(const char *path, const char *reason)
{
    int saved = errno;
    dump_lock(true);
    const char *failed;
    int rc = dump_locked(path, reason, &failed);
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

/* MPOOL_STATS as the directory the program started in reads it: a relative
 * path is resolved at start, so a program that changes directory still
 * writes its dumps where it was asked to. */
static char stats_path_abs[MP_OPT_STRING_MAX];
static const char *stats_path; /* NULL: MPOOL_STATS unset */

static void resolve_stats_path(void)
{
    const char *p = mp_option_string(MP_OPT_stats);
    stats_path = p;
    if (p == NULL)
        return;
    if (mp_path_absolute(p, stats_path_abs, sizeof stats_path_abs))
        stats_path = stats_path_abs;
    else
        mp_warn("MPOOL_STATS is relative and the directory cannot be resolved: "
                "dumps go to the directory the program is in when it writes them");
}

static void resolve_heap_profile_path(void)
{
    const char *p = mp_option_string(MP_OPT_heap_profile);
    if (p && !mp_path_absolute(p, heap_profile_path, sizeof heap_profile_path)) {
        mp_warn("MPOOL_HEAP_PROFILE is relative and the directory cannot be resolved; "
                "no heap profile");
        heap_profile_path[0] = '\0';
    }
}

const char *mp_dump_default_path(void)
{
    return stats_path;
}

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
    const char *path = stats_path;
    if (path == NULL && !heap_profile_path[0])
        path = "-"; /* the signal's dump, with nowhere else to go */
    int saved = errno;
    if (!dump_lock(wait))
        return;
    const char *failed = path;
    int rc = dump_locked(path, reason, &failed);
    int err = errno;
    dump_unlock();
    if (rc != 0 && atomic_exchange(&warned, 1) == 0) {
        char msg[MP_OPT_STRING_MAX + 128];
        mp_fmt(msg, sizeof msg, "cannot write %s to '%s': %s (errno %d)",
               failed == heap_profile_path ? "the heap profile" : "stats", failed,
               errno_name(err), err);
        mp_warn(msg);
    }
    errno = saved;
}

/* A guarded block caught a bug: the dump, then the abort. */
static void on_guard_fault(void)
{
    if (stats_path || heap_profile_path[0])
        dump_automatic("fault", false);
}

static void on_signal(int sig)
{
    (void)sig;
    dump_automatic("signal", false); /* a dump in progress on any thread: skip */
}

/* At load, after libmpool has started: the signal that writes a dump, and
 * the fork handler that ends a dump another thread was writing. */
__attribute__((constructor)) static void dump_init(void)
{
    if (!mp_init())
        return;
    resolve_stats_path();
    resolve_heap_profile_path();
    pthread_atfork(NULL, NULL, dump_fork_child);
    mp_guard_last_words = on_guard_fault;
    if (mp_opt.stats_signal && mp_os_on_signal((int)mp_opt.stats_signal, on_signal) != 0)
        mp_warn("cannot install the MPOOL_STATS_SIGNAL handler");
}

__attribute__((destructor)) static void dump_at_exit(void)
{
    if (atomic_load(&mp_init_state) != MP_INIT_DONE)
        return;
    if (stats_path || heap_profile_path[0])
        dump_automatic("exit", true);
    if (mp_opt.show_stats) { /* MPOOL_SHOW_STATS: a summary on stderr, no file needed */
        int saved = errno;
        dump_lock(true);
        mp_snapshot_take(&snapshot, "exit");
        mp_summary_write(&snapshot, STDERR_FILENO);
        dump_unlock();
        errno = saved;
    }
}
