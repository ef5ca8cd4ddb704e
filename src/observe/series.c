/* The time series: with MPOOL_STATS_INTERVAL (or MPOOL_SERIES) set, the
 * background thread appends one JSON line per tick to MPOOL_SERIES: time
 * since start, RSS, the pools' active, mapped and released bytes, the
 * fallback's, the calls so far, active bytes per size class, and with
 * MPOOL_PROF the biggest live sites (docs/STATS.md, "Time series").
 *
 * Lines are whole: each is built in a buffer and written with one write(2)
 * to a file opened O_APPEND, so a process killed at any moment leaves at
 * most one line cut short at the end, and only when the disk ran out.
 *
 * The file stays under MPOOL_SERIES_MAX: each time it passes another half
 * of the room left (1/2, 3/4, 7/8 ... of the cap), the interval doubles, so
 * a long run keeps its whole history at a coarser grain; when not even one
 * more line would fit, an end line closes it.
 *
 * A fork child writes a series of its own when the path has %p (else the
 * parent's file is the parent's alone); it starts at the child's first
 * slow path (core/background.c). */
#define _GNU_SOURCE
#include "observe/dump.h"
#include "observe/paths.h"
#include "base/fmt.h"
#include "base/options.h"
#include "base/report.h"
#include "base/turn.h"
#include "core/background.h"
#include "core/init.h"
#include "platform/os.h"

#include <pthread.h>
#include <string.h>

#define DEFAULT_PATH "mpool-series.%p.jsonl"
#define DEFAULT_INTERVAL_MS 1000
#define LINE_MAX_BYTES (16 * 1024)
#define TOP_SITES 5
#define SITE_FRAMES 6

static char path[MP_OPT_STRING_MAX]; /* absolute, %p not yet filled in */
static int fd = -1;
static long owner_pid;               /* whose file fd is */
static uint64_t interval_ns;
static size_t written;               /* bytes in the file */
static unsigned doublings;           /* times the interval doubled */
static bool ended;
static _Atomic int writing;          /* a line being made: the thread's or the exit's */
static mp_snapshot_t snap;           /* under `writing` */
static char line[LINE_MAX_BYTES];    /* under `writing` */

#define END_LINE_ROOM 64 /* kept for the end line */

/* The line in `line`, if it fits under the cap with room for the end line;
 * false if it does not (nothing written). */
static bool write_line(mp_emitter_t *e)
{
    mp_emit_raw(e, "\n", 1);
    mp_emit_finish(e);
    size_t n = e->total;
    if (n >= sizeof line || written + n + END_LINE_ROOM > mp_opt.series_max)
        return false;
    if (mp_os_write(fd, line, n))
        written += n;
    return true;
}

static void write_header(void)
{
    mp_emitter_t e;
    mp_emit_init_buf(&e, MP_EMIT_JSON, line, sizeof line);
    char exe[1024];
    mp_os_exe_path(exe, sizeof exe);
    mp_emit_rawf(&e, "{\"mpool_series\":1,\"pid\":%ld,\"program\":", owner_pid);
    mp_emit_json_string(&e, exe);
    mp_emit_rawf(&e, ",\"start_unix_ms\":%lu,\"interval_ms\":%lu,\"cap_bytes\":%zu}",
                 (unsigned long)mp_start_unix_ms(),
                 (unsigned long)(interval_ns / 1000000u), (size_t)mp_opt.series_max);
    write_line(&e);
}

static void emit_sites(mp_emitter_t *e, const mp_snapshot_t *s)
{
    mp_emit_raw(e, ",\"sites\":[", 10);
    unsigned n = s->nleaks < TOP_SITES ? s->nleaks : TOP_SITES;
    for (unsigned i = 0; i < n; i++) {
        const mp_leak_t *l = &s->leaks[i];
        mp_emit_rawf(e, "%s{\"bytes\":%lu,\"blocks\":%lu,\"stack\":[", i ? "," : "",
                     (unsigned long)mp_site_whole(l->bytes), (unsigned long)mp_site_whole(l->blocks));
        for (unsigned d = 0; d < l->depth && d < SITE_FRAMES; d++) {
            if (d)
                mp_emit_raw(e, ",", 1);
            mp_emit_json_string(e, l->frames[d] ? l->frames[d] : "?");
        }
        mp_emit_raw(e, "]}", 2);
    }
    mp_emit_raw(e, "]", 1);
}

static bool write_tick(void)
{
    mp_snapshot_take(&snap, "series");
    const mp_totals_t *t = &snap.t;
    mp_emitter_t e;
    mp_emit_init_buf(&e, MP_EMIT_JSON, line, sizeof line);
    mp_emit_rawf(&e, "{\"t_ms\":%lu,\"rss\":%lu,\"active\":%lu,\"mapped\":%lu,\"released\":%lu",
                 (unsigned long)(snap.elapsed_ns / 1000000u), (unsigned long)snap.rss_bytes,
                 (unsigned long)t->active_bytes, (unsigned long)t->mapped_bytes,
                 (unsigned long)t->released_bytes);
    mp_emit_rawf(&e, ",\"fallback\":%lu,\"fallback_cached\":%lu,\"allocs\":%lu,\"frees\":%lu",
                 (unsigned long)t->fallback_bytes, (unsigned long)t->fallback_cached_bytes,
                 (unsigned long)t->allocs, (unsigned long)t->frees);
    mp_emit_raw(&e, ",\"classes\":[", 12);
    bool first = true;
    for (unsigned c = 1; c < snap.nclasses; c++) {
        uint64_t live = t->class_allocs[c] - t->class_frees[c];
        if (t->class_allocs[c] < t->class_frees[c] || live == 0)
            continue; /* racy reads of a class in flux: no line for it this time */
        mp_emit_rawf(&e, "%s[%u,%lu]", first ? "" : ",", snap.class_size[c],
                     (unsigned long)(live * snap.class_size[c]));
        first = false;
    }
    mp_emit_raw(&e, "]", 1);
    if (mp_opt.prof)
        emit_sites(&e, &snap);
    mp_emit_raw(&e, "}", 1);
    return write_line(&e);
}

/* A line of its own: {"t_ms":..., "key":value}, value already JSON. */
static void write_note(const char *key, const char *value)
{
    mp_emitter_t e;
    mp_emit_init_buf(&e, MP_EMIT_JSON, line, sizeof line);
    mp_emit_rawf(&e, "{\"t_ms\":%lu,\"%s\":%s}",
                 (unsigned long)((mp_os_now_ns() - mp_start_ns) / 1000000u), key, value);
    bool end = key[0] == 'e'; /* only the end line may take the room kept for it */
    if (!write_line(&e) && end && mp_os_write(fd, line, e.total))
        written += e.total;
}

/* Coarser ticks as the file fills. */
static void coarsen(void)
{
    size_t cap = mp_opt.series_max;
    if (written >= cap - (cap >> (doublings + 1)) && doublings < 40) {
        doublings++;
        interval_ns *= 2;
        char ms[24];
        mp_fmt(ms, sizeof ms, "%lu", (unsigned long)(interval_ns / 1000000u));
        write_note("interval_ms", ms);
    }
}

/* A tick, or the end line when it does not fit; false at the end. */
static bool add_tick(void)
{
    coarsen();
    if (write_tick())
        return true;
    write_note("end", "\"size cap\"");
    ended = true;
    return false;
}

/* A path without %p may name the series of another process still
 * running (programs started by one script, each under the preload): then
 * ours gets ".PID" added, with one warning, instead of emptying theirs.
 * A file left by a process that has ended is taken over.  false: no room
 * for the suffix. */
static bool not_anothers(char *full)
{
    char head[256];
    if (mp_os_read_file(full, head, sizeof head) <= 0)
        return true;
    const char *p = strstr(head, "\"pid\":");
    long other = 0;
    for (p = p ? p + 6 : ""; *p >= '0' && *p <= '9'; p++)
        other = other * 10 + (*p - '0');
    if (other <= 0 || other == owner_pid || !mp_os_process_alive((pid_t)other))
        return true;
    size_t len = strlen(full);
    if (len + 24 > MP_OPT_STRING_MAX + 32)
        return false;
    mp_fmt(full + len, 24, ".%ld", owner_pid);
    char msg[MP_OPT_STRING_MAX + 128];
    mp_fmt(msg, sizeof msg, "the time series file is process %ld's; this one writes '%s' "
           "(put %%p in MPOOL_SERIES)", other, full);
    mp_warn(msg);
    return true;
}

/* The file of this process (a fork child's own); false: none. */
static bool open_file(void)
{
    long pid = (long)mp_os_getpid();
    if (fd >= 0 && owner_pid == pid)
        return true;
    if (fd >= 0) { /* a fork child */
        mp_os_close(fd);
        fd = -1;
        if (!mp_path_has_pid(path))
            return false;
    }
    char full[MP_OPT_STRING_MAX + 32];
    bool numbered;
    owner_pid = pid;
    if (!mp_path_expand(path, 0, full, sizeof full - 24, &numbered) || !not_anothers(full) ||
        (fd = mp_os_open_truncate(full)) < 0) {
        char msg[MP_OPT_STRING_MAX + 96];
        mp_fmt(msg, sizeof msg, "cannot write the time series to '%s'; no series", full);
        mp_warn(msg);
        return false;
    }
    written = 0;
    doublings = 0;
    interval_ns = (mp_opt.stats_interval ? mp_opt.stats_interval : DEFAULT_INTERVAL_MS) * 1000000u;
    write_header();
    return true;
}

static uint64_t series_task(void)
{
    if (!mp_turn_take(&writing, false))
        return 1000000; /* the exit's last line: soon done */
    bool more = !ended && open_file() && add_tick();
    if (!more)
        ended = true;
    mp_turn_give(&writing);
    return more ? interval_ns : 0;
}

static void series_fork_child(void)
{
    mp_turn_give(&writing); /* a line the parent's thread was making */
}

__attribute__((constructor)) static void series_init(void)
{
    if (!mp_init())
        return;
    const char *p = mp_option_string(MP_OPT_series);
    if (p == NULL && mp_opt.stats_interval == 0)
        return;
    if (!mp_path_absolute(p ? p : DEFAULT_PATH, path, sizeof path)) {
        mp_warn("MPOOL_SERIES is relative and the directory cannot be resolved; no series");
        return;
    }
    pthread_atfork(NULL, NULL, series_fork_child);
    if (!mp_opt.background) {
        mp_warn("the time series needs the background thread (MPOOL_BACKGROUND=0); no series");
        return;
    }
    if (!open_file())
        return;
    if (!mp_background_run(series_task) || !mp_background_start())
        mp_warn("cannot start the background thread; no time series");
}

/* The last line: the state at exit (the program's own atexit handlers and
 * destructors have run). */
__attribute__((destructor)) static void series_at_exit(void)
{
    if (fd < 0 || owner_pid != (long)mp_os_getpid())
        return;
    mp_turn_take(&writing, true);
    if (!ended)
        add_tick();
    ended = true; /* the last line: the thread writes none after it */
    mp_turn_give(&writing);
}
