/* misuse.c - invalid free()/realloc() must abort with a diagnostic.
 *
 *   ./misuse
 *
 * Each case runs in a forked child whose stderr goes to a pipe.  Under
 * libmpool the child must die of SIGABRT and its stderr must contain
 * "mpool:" and the offending pointer printed as 0x%lx (lowercase hex).
 *
 * With MPOOL_SAFELINK=1 (or MPOOL_DEBUG=1), writes after free over a free
 * block's link must be caught by the malloc that pops it, with a report
 * naming the block ("free-list link of").
 *
 * With MPOOL_DEBUG=1 it adds overflows and writes after free, and checks the
 * report's wording (and, with MPOOL_PROF set too, its allocation site).
 *
 * With MPOOL_TEST_ANY_ALLOCATOR=1 other allocators do not print "mpool:"
 * and do not detect every case (glibc catches some, not all), so there the
 * stderr part is not checked and a child that survives (exits normally) is
 * reported as SKIP; a child that dies of any signal counts as a pass.
 */
#define _GNU_SOURCE 1
#include "ptest.h"

#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

static char global_buf[4096] __attribute__((aligned(64)));

/* hide the provenance of a pointer from the compiler (no warnings, no
 * "free of non-heap object" folding) */
static void *launder(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

typedef void (*misuse_fn)(void **bad);

/* In the child: tell the parent which pointer is about to be misused, before
 * the misuse (the child is expected to die in it). */
static int announce_fd = -1;
static void announce(void **bad, void *p)
{
    *bad = p;
    if (write(announce_fd, &p, sizeof p) < 0) {}
}

static void free_stack(void **bad)
{
    char buf[256] __attribute__((aligned(64)));
    memset(buf, 0, sizeof buf);
    void *p = launder(buf + 64);
    announce(bad, p);
    free(p);
}

static void free_global(void **bad)
{
    void *p = launder(global_buf + 128);
    announce(bad, p);
    free(p);
}

static void free_wild(void **bad)
{
    /* an address no one maps: map 1 MiB, unmap it, use the middle */
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(90);
    munmap(m, 1 << 20);
    void *p = launder(m + (1 << 19) + 64);
    announce(bad, p);
    free(p);
}

static void free_own_mmap(void **bad)
{
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(90);
    memset(m, 0x41, 1 << 20);
    void *p = launder(m + 65536 + 16);
    announce(bad, p);
    free(p);
}

static void free_interior_small(void **bad)
{
    char *b = malloc(64);
    if (!b) _exit(91);
    memset(b, 0, 64);
    void *p = launder(b + 16);
    announce(bad, p);
    free(p);
}

static void free_interior_large(void **bad)
{
    char *b = malloc(1 << 20);
    if (!b) _exit(91);
    memset(b, 0, 1 << 20);
    void *p = launder(b + 4096);
    announce(bad, p);
    free(p);
}

static void realloc_stack(void **bad)
{
    char buf[256] __attribute__((aligned(64)));
    memset(buf, 0, sizeof buf);
    void *p = launder(buf + 32);
    announce(bad, p);
    void *q = realloc(p, 100);
    (void)launder(q);
}

static void realloc_interior(void **bad)
{
    char *b = malloc(64);
    if (!b) _exit(91);
    memset(b, 0, 64);
    void *p = launder(b + 16);
    announce(bad, p);
    void *q = realloc(p, 200);
    (void)launder(q);
}

static void double_free_small(void **bad)
{
    void *p = launder(malloc(48));
    announce(bad, p);
    free(p);
    free(launder(p));
}

static void double_free_after_traffic(void **bad)
{
    void *p = launder(malloc(100)), *v[300];
    announce(bad, p);
    free(p);
    for (int i = 0; i < 300; i++)
        v[i] = launder(malloc(100 + (size_t)(i % 3) * 200));
    for (int i = 0; i < 300; i++)
        free(v[i]);
    free(launder(p));
}

static void *free_it(void *p)
{
    free(p);
    return NULL;
}

static void double_free_across_threads(void **bad)
{
    void *p = launder(malloc(200));
    announce(bad, p);
    free(p);
    pthread_t t;
    pthread_create(&t, NULL, free_it, launder(p));
    pthread_join(t, NULL);
}

static void double_free_large(void **bad)
{
    void *p = launder(malloc(4 << 20));
    announce(bad, p);
    free(p);
    free(launder(p));
}

static void realloc_freed(void **bad)
{
    void *p = launder(malloc(64));
    announce(bad, p);
    free(p);
    void *q = realloc(launder(p), 300);
    (void)launder(q);
}

/* Writes after free over a free block's link (safe-linking): the malloc
 * that pops the block must see its mark gone before it follows the link.
 * Without the check the second malloc hands out the address written there
 * (a 16-aligned, mapped one: nothing faults).  Twice is enough; the loop is
 * for a block that MPOOL_PROF sampled, whose list only sampled calls pop.
 * keep holds the span of profiled blocks (MPOOL_PROF_SAMPLE=1) live. */
static void write_after_free_links(void **bad, int words)
{
    void *keep = launder(malloc(48));
    void **p = launder(malloc(48));
    announce(bad, p);
    free(p);
    p[0] = global_buf + 64;
    if (words > 1)
        p[1] = global_buf + 128;
    for (int i = 0; i < 100000; i++)
        (void)launder(malloc(48));
    free(keep);
}

static void write_after_free_over_links(void **bad)
{
    write_after_free_links(bad, 2); /* the first 16 bytes: link and mark */
}

static void write_after_free_over_next(void **bad)
{
    write_after_free_links(bad, 1); /* the link alone: the mark covers it too */
}

/* ---- MPOOL_DEBUG=1 only: canaries and the free fill ---- */

static void overflow_one_byte(void **bad)
{
    char *p = launder(malloc(40));
    announce(bad, p);
    memset(p, 1, 41); /* one byte past the request */
    free(p);
}

static void overflow_fallback(void **bad)
{
    char *p = launder(malloc(300000)); /* above the largest class: jemalloc's */
    announce(bad, p);
    p[300000] = 1;
    free(p);
}

static void overflow_seen_by_realloc(void **bad)
{
    char *p = launder(malloc(24));
    announce(bad, p);
    p[24] = 0;
    p = realloc(p, 4000);
    (void)launder(p);
}

static void overflow_into_trailer(void **bad)
{
    char *p = launder(malloc(40));
    announce(bad, p);
    memset(p + 40, 0xca, 200); /* the canary's own byte, then over what follows */
    free(p);
}

static void write_after_free(void **bad)
{
    char *p = launder(malloc(100));
    announce(bad, p);
    free(p);
    p[50] = 'x';
    for (int i = 0; i < 300; i++) /* the next of its class reuses it */
        free(launder(malloc(100)));
}

static void write_after_free_other_thread(void **bad)
{
    char *p = launder(malloc(1000));
    announce(bad, p);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
    p[999] = 0; /* the last byte: the fill reaches it */
    for (int i = 0; i < 5000; i++) /* until a batch with it comes back */
        free(launder(malloc(1000)));
}

struct mcase { const char *name; misuse_fn fn; const char *expect; };

static const struct mcase cases[] = {
    { "free(stack address)", free_stack , NULL },
    { "free(static/global address)", free_global , NULL },
    { "free(wild unmapped address)", free_wild , NULL },
    { "free(address inside the program's own mmap)", free_own_mmap , NULL },
    { "free(p + 16) of a 64-byte block", free_interior_small , NULL },
    { "free(p + 4096) of a 1 MiB block", free_interior_large , NULL },
    { "realloc(stack address, 100)", realloc_stack , NULL },
    { "realloc(p + 16, 200) of a 64-byte block", realloc_interior , NULL },
    { "double free of a 48-byte block", double_free_small , NULL },
    { "double free after 300 other allocations and frees", double_free_after_traffic , NULL },
    { "double free, the second in another thread", double_free_across_threads , NULL },
    { "double free of a 4 MiB (fallback) block", double_free_large , NULL },
    { "realloc of a freed block", realloc_freed , NULL },
};

static const struct mcase debug_cases[] = {
    { "one byte past a 40-byte block", overflow_one_byte, "heap overflow past the requested size" },
    { "one byte past a 300000-byte (fallback) block", overflow_fallback,
      "heap overflow past the requested size" },
    { "overflow seen by realloc", overflow_seen_by_realloc, "realloc(): heap overflow" },
    { "overflow over the block's trailer", overflow_into_trailer, "trailer is overwritten" },
    { "write after free", write_after_free, "write after free" },
    { "write after a free in another thread", write_after_free_other_thread, "write after free" },
};

static const struct mcase safelink_cases[] = {
    { "write after free over a free block's first 16 bytes, then malloc",
      write_after_free_over_links, "free-list link of" },
    { "write after free over a free block's first word, then malloc", write_after_free_over_next,
      "free-list link of" },
};

static void run_case(const struct mcase *c)
{
    int pfd[2], ptrpipe[2];
    if (pipe(pfd) != 0 || pipe(ptrpipe) != 0) {
        CHECK(0, "%s: pipe: %s", c->name, strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK(0, "%s: fork: %s", c->name, strerror(errno));
        return;
    }
    if (pid == 0) {
        close(pfd[0]);
        close(ptrpipe[0]);
        dup2(pfd[1], 2);
        close(pfd[1]);
        signal(SIGABRT, SIG_DFL);
        alarm(10);
        announce_fd = ptrpipe[1];
        void *bad = NULL;
        c->fn(&bad);
        _exit(0);
    }
    close(pfd[1]);
    close(ptrpipe[1]);
    char out[8192];
    size_t len = 0;
    double deadline = ptest_now() + 15.0;
    int fl = fcntl(pfd[0], F_GETFL);
    fcntl(pfd[0], F_SETFL, fl | O_NONBLOCK);
    int status = 0, reaped = 0;
    for (;;) {
        ssize_t k = read(pfd[0], out + len, sizeof out - 1 - len);
        if (k > 0) { len += (size_t)k; if (len >= sizeof out - 1) len = sizeof out - 2; continue; }
        if (!reaped) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) { reaped = 1; continue; }   /* drain what is left */
        }
        if (k == 0 && reaped) break;
        if (reaped && k < 0 && errno == EAGAIN) break;
        if (ptest_now() > deadline) {
            kill(pid, SIGKILL);
            if (!reaped) waitpid(pid, &status, 0);
            reaped = 1;
            break;
        }
        struct timespec sl = { 0, 1000 * 1000 };
        nanosleep(&sl, NULL);
    }
    out[len] = 0;
    close(pfd[0]);
    void *bad = NULL;
    ssize_t pk = read(ptrpipe[0], &bad, sizeof bad);
    (void)pk;
    close(ptrpipe[0]);
    /* the first line of the child's stderr, for messages */
    char first[300];
    snprintf(first, sizeof first, "%s", out);
    char *nl = strchr(first, '\n');
    if (nl) *nl = 0;

    if (ptest_any()) {
        if (WIFSIGNALED(status))
            CHECK(1, "%s", c->name);
        else
            SKIP("%s: not detected by this allocator (child exited with status %d)", c->name,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        if (WIFSIGNALED(status))
            fprintf(stderr, "info: %s: child died of signal %d; stderr: %s\n", c->name,
                    WTERMSIG(status), first[0] ? first : "(empty)");
        return;
    }
    int died_abrt = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (WIFEXITED(status))
        CHECK(0, "%s: child exited normally with status %d (misuse not detected)", c->name,
              WEXITSTATUS(status));
    else if (!died_abrt)
        CHECK(0, "%s: child died of signal %d, want SIGABRT (%d); stderr: %s", c->name,
              WIFSIGNALED(status) ? WTERMSIG(status) : -1, SIGABRT, first[0] ? first : "(empty)");
    else
        CHECK(1, "%s", c->name);
    CHECK(strstr(out, "mpool:") != NULL, "%s: stderr does not contain \"mpool:\": %s", c->name,
          first[0] ? first : "(empty)");
    char hex[64];
    snprintf(hex, sizeof hex, "0x%lx", (unsigned long)(uintptr_t)bad);
    CHECK(pk == (ssize_t)sizeof bad && strstr(out, hex) != NULL,
          "%s: stderr does not contain the pointer %s: %s", c->name, hex, first[0] ? first : "(empty)");
    if (c->expect)
        CHECK(strstr(first, c->expect) != NULL, "%s: stderr does not say \"%s\": %s", c->name,
              c->expect, first[0] ? first : "(empty)");
    /* with MPOOL_PROF, a debug report names where the block was allocated */
    if (c->expect && !strstr(c->expect, "trailer") && !strstr(c->expect, "free-list") &&
        getenv("MPOOL_PROF")) /* a lost trailer lost it; a broken link names no site */
        CHECK(strstr(out, "allocated at: ") != NULL && strstr(out, "misuse") != NULL,
              "%s: no allocation site in the report: %s", c->name, out);
}

int main(void)
{
    ptest_require_mpool("misuse");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    const char *debug = getenv("MPOOL_DEBUG"), *safelink = getenv("MPOOL_SAFELINK");
    int debug_on = debug && strcmp(debug, "1") == 0;
    if (debug_on) /* the default build does not look for these */
        for (size_t i = 0; i < sizeof debug_cases / sizeof debug_cases[0]; i++)
            run_case(&debug_cases[i]);
    if (debug_on || (safelink && strcmp(safelink, "1") == 0)) /* nor for these */
        for (size_t i = 0; i < sizeof safelink_cases / sizeof safelink_cases[0]; i++)
            run_case(&safelink_cases[i]);
    return ptest_finish();
}
