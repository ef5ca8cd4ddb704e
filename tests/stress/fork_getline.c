/* fork_getline.c - fork() while other threads call getline(), fflush(NULL)
 * and malloc/free, after glibc's malloc/tst-malloc-fork-deadlock.c.
 *
 *   ./fork_getline [FORKS]          default 200
 *
 * Threads, all running until the main thread has forked FORKS times:
 *   - 2 readers: fopen a temporary file, getline() every line (lengths from 1
 *     byte to 1.5 MiB, so getline's buffer is realloc'ed through the pools and
 *     the fallback), check each line's content, fclose; again;
 *   - 1 reader of the same text through fmemopen();
 *   - 1 writer: open_memstream, fprintf a few hundred lines, fclose, check the
 *     buffer, free it;
 *   - 1 flusher: fflush(NULL) in a loop (stdio's list lock against fork's);
 *   - 2 churners: malloc/calloc/realloc/free of mixed sizes with content checks;
 *   - 1 extra forker: fork(); the child _exit(17)s at once (as in glibc's
 *     test), the parent checks the status.
 * The main thread forks FORKS times.  Each child: malloc/realloc/calloc/free
 * of small and large blocks (content checked), getline over an fmemopen
 * stream and over the temporary file, fprintf of a line to a pipe through a
 * FILE from fdopen, fflush, fclose, _exit.  The parent reads the line back and
 * checks it and the exit status.
 *
 * A hang is a failure, never a stuck test: every wait polls waitpid(WNOHANG)
 * against a 30 s deadline, then kills the child (SIGKILL) and fails.  A
 * watchdog process (forked before any thread) kills the test with a message
 * when the main thread completes no fork for 60 s: the parent itself is
 * deadlocked, typically in fork() (a malloc whose pthread_atfork prepare
 * handler takes its locks before fork() takes stdio's list lock, while a
 * getline() holds a FILE lock and waits for malloc, and fflush(NULL) holds
 * the list lock and waits for that FILE).  With FORK_GETLINE_GDB=1 the hung
 * process's threads are printed with gdb first.  alarm(230) is the last
 * resort.
 */
#define _GNU_SOURCE 1
#include "../preload/ptest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define CHILD_DEADLINE 30.0 /* seconds */
#define STALL_LIMIT 60.0    /* seconds without a completed fork: the parent hangs */

static int stop_flag;
static char file_path[256];
static char *text;       /* the file's content, for fmemopen */
static size_t text_len;
static size_t nlines;
static size_t *line_len; /* without the newline */
static size_t *line_off; /* where line i starts in text */

static unsigned long reads_done, lines_read, writes_done, flushes, churn_ops, side_forks;

static int stopping(void)
{
    return __atomic_load_n(&stop_flag, __ATOMIC_RELAXED);
}

/* ---- the text ----------------------------------------------------------------- */

static char line_char(size_t line, size_t i)
{
    return (char)('a' + (ptest_mix64((line << 32) + i / 8) >> (8 * (i % 8)) & 0xff) % 26);
}

static size_t pick_line_len(ptest_rng *r, size_t i)
{
    if (i == 17)
        return MiB + MiB / 2; /* one line through the fallback */
    if (i % 97 == 5)
        return 64 * KiB + ptest_below(r, 200 * KiB);
    if (i % 13 == 3)
        return 1024 + ptest_below(r, 16 * KiB);
    if (i % 29 == 0)
        return 0; /* empty line */
    return 1 + ptest_below(r, 200);
}

static void make_text(void)
{
    ptest_rng r = { 2024 };
    nlines = 600;
    line_len = malloc(nlines * sizeof *line_len);
    line_off = malloc(nlines * sizeof *line_off);
    size_t total = 0;
    for (size_t i = 0; i < nlines; i++) {
        line_len[i] = pick_line_len(&r, i);
        total += line_len[i] + 1;
    }
    text = malloc(total + 1);
    if (!line_len || !line_off || !text) {
        fprintf(stderr, "fork_getline: out of memory making the text\n");
        exit(1);
    }
    char *c = text;
    for (size_t i = 0; i < nlines; i++) {
        line_off[i] = (size_t)(c - text);
        for (size_t j = 0; j < line_len[i]; j++)
            *c++ = line_char(i, j);
        *c++ = '\n';
    }
    *c = 0;
    text_len = total;

    const char *dir = getenv("TMPDIR");
    snprintf(file_path, sizeof file_path, "%s/fork_getline.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(file_path);
    if (fd < 0) {
        perror("fork_getline: mkstemp");
        exit(1);
    }
    size_t off = 0;
    while (off < text_len) {
        ssize_t w = write(fd, text + off, text_len - off);
        if (w <= 0) {
            perror("fork_getline: write");
            exit(1);
        }
        off += (size_t)w;
    }
    close(fd);
}

/* Reads every line of f with getline and checks them; returns the number of
 * bad lines (0 when all are right), counting up to max_lines lines. */
static unsigned read_lines(FILE *f, size_t max_lines, const char *who)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    size_t i = 0;
    unsigned badn = 0;
    while (i < max_lines && (got = getline(&line, &cap, f)) >= 0) {
        if (i >= nlines) {
            badn++;
            break;
        }
        int ok = (size_t)got == line_len[i] + 1 && memcmp(line, text + line_off[i], (size_t)got) == 0;
        if (!ok && badn++ == 0)
            fprintf(stderr, "FAIL fork_getline.c: %s: line %zu has %zd bytes (want %zu) or wrong content\n",
                    who, i, got, line_len[i] + 1);
        i++;
    }
    if (max_lines >= nlines && i != nlines) {
        badn++;
        fprintf(stderr, "FAIL fork_getline.c: %s: read %zu lines, want %zu (ferror %d)\n", who, i,
                nlines, ferror(f));
    }
    free(line);
    __atomic_fetch_add(&lines_read, i, __ATOMIC_RELAXED);
    return badn;
}

/* ---- threads ------------------------------------------------------------------ */

static void *file_reader(void *arg)
{
    (void)arg;
    while (!stopping()) {
        FILE *f = fopen(file_path, "r");
        if (!CHECK(f != NULL, "fopen(%s): %s", file_path, strerror(errno)))
            break;
        unsigned b = read_lines(f, SIZE_MAX, "file reader");
        CHECK(b == 0, "file reader: %u bad lines", b);
        fclose(f);
        __atomic_fetch_add(&reads_done, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *mem_reader(void *arg)
{
    (void)arg;
    while (!stopping()) {
        FILE *f = fmemopen(text, text_len, "r");
        if (!CHECK(f != NULL, "fmemopen: %s", strerror(errno)))
            break;
        unsigned b = read_lines(f, SIZE_MAX, "fmemopen reader");
        CHECK(b == 0, "fmemopen reader: %u bad lines", b);
        fclose(f);
        __atomic_fetch_add(&reads_done, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *memstream_writer(void *arg)
{
    (void)arg;
    unsigned long round = 0;
    while (!stopping()) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!CHECK(f != NULL, "open_memstream: %s", strerror(errno)))
            break;
        int n = 100 + (int)(round % 300);
        for (int i = 0; i < n; i++)
            fprintf(f, "%lu:%d:%0*d\n", round, i, i % 64, i);
        fclose(f);
        /* check what was written */
        int ok = buf != NULL;
        const char *c = buf;
        for (int i = 0; ok && i < n; i++) {
            char want[128];
            int w = snprintf(want, sizeof want, "%lu:%d:%0*d\n", round, i, i % 64, i);
            ok = strncmp(c, want, (size_t)w) == 0;
            c += w;
        }
        ok = ok && (size_t)(c - buf) == len;
        CHECK(ok, "open_memstream round %lu: the buffer (%zu bytes) is not what was written", round, len);
        free(buf);
        round++;
        __atomic_fetch_add(&writes_done, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!stopping()) {
        if (fflush(NULL) != 0)
            CHECK(0, "fflush(NULL): %s", strerror(errno));
        __atomic_fetch_add(&flushes, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static size_t churn_size(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 1000);
    if (x < 800) return 1 + ptest_below(r, 512);
    if (x < 980) return 513 + ptest_below(r, 70 * KiB);
    return 128 * KiB + ptest_below(r, 2 * MiB);
}

static void *churner(void *arg)
{
    ptest_rng r = { 99 + (uint64_t)(uintptr_t)arg };
    enum { N = 128 };
    struct { unsigned char *p; size_t n; uint64_t key; } v[N];
    memset(v, 0, sizeof v);
    unsigned long ops = 0;
    while (!stopping()) {
        int i = (int)ptest_below(&r, N);
        if (v[i].p) {
            size_t at = ptest_verify(v[i].p, v[i].n, v[i].key);
            if (!CHECK(at == (size_t)-1, "churner: block of %zu damaged at %zu", v[i].n, at)) {
                v[i].p = NULL;
                continue;
            }
            if (ptest_below(&r, 3) == 0) {
                size_t m = churn_size(&r);
                unsigned char *q = realloc(v[i].p, m);
                if (!CHECK(q != NULL, "churner: realloc(%zu) returned NULL", m))
                    continue;
                size_t keep = m < v[i].n ? m : v[i].n;
                at = ptest_verify(q, keep, v[i].key);
                CHECK(at == (size_t)-1, "churner: realloc %zu -> %zu lost content at %zu", v[i].n, m, at);
                v[i].p = q;
                v[i].n = m;
                ptest_fill(q, m, v[i].key);
            } else {
                free(v[i].p);
                v[i].p = NULL;
            }
        } else {
            size_t n = churn_size(&r);
            int zero = ptest_below(&r, 4) == 0;
            v[i].p = zero ? calloc(1, n) : malloc(n);
            if (!CHECK(v[i].p != NULL, "churner: allocating %zu returned NULL", n))
                continue;
            if (zero) {
                size_t nz = 0;
                for (size_t j = 0; j < n; j++)
                    nz += v[i].p[j] != 0;
                CHECK(nz == 0, "churner: calloc(1, %zu) has %zu nonzero bytes", n, nz);
            }
            v[i].n = n;
            v[i].key = ptest_next(&r);
            ptest_fill(v[i].p, n, v[i].key);
        }
        ops++;
    }
    for (int i = 0; i < N; i++)
        free(v[i].p);
    __atomic_fetch_add(&churn_ops, ops, __ATOMIC_RELAXED);
    return NULL;
}

/* ---- waiting for a child, bounded ---------------------------------------------- */

static void dump_hung(pid_t pid)
{
    const char *g = getenv("FORK_GETLINE_GDB");
    if (!g || strcmp(g, "1") != 0)
        return;
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "gdb -p %d -batch -ex 'info threads' -ex 'thread apply all bt' </dev/null 1>&2",
             (int)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "fork_getline: gdb failed\n");
}

/* Waits for pid for at most CHILD_DEADLINE seconds.  Returns 1 with *status
 * set, or 0 after killing a child that hung. */
static int wait_bounded(pid_t pid, int *status, const char *what, long n)
{
    double end = ptest_now() + CHILD_DEADLINE;
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 1;
        if (w < 0 && errno != EINTR) {
            CHECK(0, "%s %ld: waitpid(%d): %s", what, n, (int)pid, strerror(errno));
            return 0;
        }
        if (ptest_now() > end) {
            CHECK(0, "%s %ld (pid %d) did not finish in %.0f s: a deadlock after fork "
                     "(set FORK_GETLINE_GDB=1 for its backtraces)",
                  what, n, (int)pid, CHILD_DEADLINE);
            dump_hung(pid);
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return 0;
        }
        struct timespec ts = { 0, 1000000 }; /* 1 ms */
        nanosleep(&ts, NULL);
    }
}

static void *side_forker(void *arg)
{
    (void)arg;
    long n = 0;
    while (!stopping()) {
        pid_t pid = fork();
        if (pid < 0) {
            CHECK(0, "side fork: %s", strerror(errno));
            break;
        }
        if (pid == 0)
            _exit(17);
        int status = 0;
        if (!wait_bounded(pid, &status, "side-forked child", n))
            break;
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 17,
              "side-forked child %ld: status %#x, want exit 17", n, status);
        n++;
        struct timespec ts = { 0, 2000000 }; /* 2 ms: leave room for the main forks */
        nanosleep(&ts, NULL);
    }
    __atomic_fetch_add(&side_forks, (unsigned long)n, __ATOMIC_RELAXED);
    return NULL;
}

/* ---- the watchdog process ----------------------------------------------------------- */

typedef struct progress {
    volatile long forks; /* completed by the main thread */
    volatile int done;
} progress_t;

static progress_t *progress;

/* SIGKILL every process whose parent is ppid (a hung fork child would
 * otherwise outlive the test). */
static void kill_children_of(pid_t ppid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = 0;
        const char *rp = strrchr(buf, ')'); /* "pid (comm) state ppid ..." */
        char state;
        int pp;
        pid_t pid = (pid_t)atoi(e->d_name);
        if (rp && sscanf(rp + 1, " %c %d", &state, &pp) == 2 && pp == (int)ppid && pid != getpid())
            kill(pid, SIGKILL); /* not this watchdog, also a child of ppid */
    }
    closedir(d);
}

/* Forked before any thread: a single-threaded process that watches the
 * parent's progress and ends it if it stalls. */
static pid_t start_watchdog(void)
{
    progress = mmap(NULL, sizeof *progress, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (progress == MAP_FAILED) {
        progress = NULL;
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    long last = -1;
    double since = ptest_now();
    for (;;) {
        struct timespec ts = { 0, 200000000 }; /* 0.2 s */
        nanosleep(&ts, NULL);
        if (progress->done || getppid() != parent)
            _exit(0);
        if (progress->forks != last) {
            last = progress->forks;
            since = ptest_now();
            continue;
        }
        if (ptest_now() - since > STALL_LIMIT) {
            fprintf(stderr,
                    "FAIL fork_getline.c: the main thread completed no fork in %.0f s (after %ld forks): "
                    "the parent is deadlocked, probably in fork() (malloc locks taken by a pthread_atfork "
                    "prepare handler, before fork() takes stdio's list lock, while getline() holds a FILE "
                    "lock and waits for malloc and fflush(NULL) holds the list lock).  "
                    "Set FORK_GETLINE_GDB=1 for backtraces.  Killing it.\n",
                    STALL_LIMIT, last);
            dump_hung(parent);
            kill(parent, SIGSTOP); /* no new children while they are killed */
            kill_children_of(parent);
            kill(parent, SIGKILL);
            _exit(1);
        }
    }
}

/* ---- the child ------------------------------------------------------------------- */

/* Returns the exit status: 0 when everything worked. */
static int child_work(int fd, long n)
{
    int fails = 0;
    /* malloc family, small to fallback-sized, content checked */
    static const size_t sizes[] = { 1, 24, 100, 1000, 5000, 70000, 300000, 3 * MiB };
    void *blk[8];
    for (int i = 0; i < 8; i++) {
        blk[i] = (i & 1) ? calloc(1, sizes[i]) : malloc(sizes[i]);
        if (!blk[i]) {
            fails |= 1;
            continue;
        }
        ptest_fill(blk[i], sizes[i], (uint64_t)n * 8 + (uint64_t)i);
    }
    for (int i = 0; i < 8; i++) {
        if (!blk[i])
            continue;
        void *q = realloc(blk[i], sizes[i] * 2 + 1);
        if (!q) {
            fails |= 2;
            continue;
        }
        if (ptest_verify(q, sizes[i], (uint64_t)n * 8 + (uint64_t)i) != (size_t)-1)
            fails |= 4;
        blk[i] = q;
    }
    for (int i = 0; i < 8; i++)
        free(blk[i]);

    /* getline over fmemopen, and over the first lines of the file */
    FILE *m = fmemopen(text, text_len, "r");
    if (!m || read_lines(m, n % 8 == 0 ? 20 : 12, "child (fmemopen)") != 0) /* line 17: 1.5 MiB */
        fails |= 8;
    if (m)
        fclose(m);
    FILE *f = fopen(file_path, "r");
    if (!f || read_lines(f, 12, "child (file)") != 0)
        fails |= 16;
    if (f)
        fclose(f);

    /* a line to the parent through stdio */
    FILE *out = fdopen(fd, "w");
    if (!out)
        return fails | 32;
    if (fprintf(out, "child %ld ok %d\n", n, fails) < 0)
        fails |= 64;
    /* Not fflush(NULL): a parent thread may have been inside fprintf on its
     * memstream at the fork, and the child's copy of that FILE is then half
     * updated (glibc resets the locks, not the streams). */
    if (fflush(out) != 0)
        fails |= 128;
    if (fclose(out) != 0)
        fails |= 256;
    return fails ? 100 + (fails & 0x7f) : 0;
}

/* Reads the child's line from the pipe (the child has exited). */
static void check_child_line(int fd, long n)
{
    char buf[128];
    size_t got = 0;
    double end = ptest_now() + CHILD_DEADLINE;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r > 0) {
            got += (size_t)r;
            if (got == sizeof buf - 1)
                break;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EAGAIN) { /* another process forked while the pipe was open */
            if (ptest_now() > end)
                break;
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        if (errno != EINTR)
            break;
    }
    buf[got] = 0;
    char want[64];
    snprintf(want, sizeof want, "child %ld ok 0\n", n);
    CHECK(strcmp(buf, want) == 0, "child %ld wrote \"%s\", want \"child %ld ok 0\\n\"", n, buf, n);
}

int main(int argc, char **argv)
{
    ptest_require_mpool("fork_getline");
    long forks = 200;
    if (argc > 1) {
        forks = strtol(argv[1], NULL, 10);
        if (forks < 1)
            forks = 1;
    }
    alarm(230); /* the last resort: SIGALRM ends the program, and the test fails */
    make_text();
    fflush(stdout);
    fflush(stderr);
    pid_t watchdog = start_watchdog();

    pthread_t t[8];
    void *(*fns[8])(void *) = { file_reader, file_reader, mem_reader, memstream_writer,
                                flusher, churner, churner, side_forker };
    int started = 0;
    for (int i = 0; i < 8; i++)
        if (CHECK(pthread_create(&t[started], NULL, fns[i], (void *)(uintptr_t)i) == 0,
                  "pthread_create %d", i))
            started++;

    double t0 = ptest_now(), worst = 0;
    long done = 0;
    for (long n = 0; n < forks; n++) {
        int pfd[2];
        if (!CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno)))
            break;
        double f0 = ptest_now();
        pid_t pid = fork();
        if (pid < 0) {
            CHECK(0, "fork %ld: %s", n, strerror(errno));
            close(pfd[0]);
            close(pfd[1]);
            break;
        }
        if (pid == 0) {
            close(pfd[0]);
            _exit(child_work(pfd[1], n));
        }
        close(pfd[1]);
        fcntl(pfd[0], F_SETFL, O_NONBLOCK);
        int status = 0;
        if (wait_bounded(pid, &status, "forked child", n)) {
            int ok = CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                           "child %ld: status %#x (exit %d, signal %d); exit 100+ means "
                           "1 alloc, 2 realloc, 4 content, 8 fmemopen getline, 16 file getline, "
                           "32 fdopen, 64 fprintf, 128 fflush",
                           n, status, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            if (ok)
                check_child_line(pfd[0], n);
            done++;
        }
        close(pfd[0]);
        if (progress)
            progress->forks = n + 1;
        double took = ptest_now() - f0;
        if (took > worst)
            worst = took;
        if (ptest_failures() > 20)
            break;
    }
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    unlink(file_path);
    if (watchdog > 0) {
        progress->done = 1;
        int st;
        waitpid(watchdog, &st, 0);
    }

    CHECK(done == forks, "%ld of %ld forks completed", done, forks);
    CHECK(reads_done > 0 && flushes > 0 && churn_ops > 0 && writes_done > 0,
          "a thread made no progress: reads %lu, flushes %lu, churn %lu, memstream %lu", reads_done,
          flushes, churn_ops, writes_done);
    fprintf(stderr, "fork_getline: %ld forks (slowest child %.3f s) + %lu side forks, %lu files read "
                    "(%lu lines), %lu memstreams, %lu fflush(NULL), %lu churn ops, %.2f s\n",
            done, worst, side_forks, reads_done, lines_read, writes_done, flushes, churn_ops,
            ptest_now() - t0);
    free(text);
    free(line_len);
    free(line_off);
    return ptest_finish();
}
