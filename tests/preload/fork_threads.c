/* fork_threads.c - fork() while other threads churn malloc/free/realloc.
 *
 *   ./fork_threads [scale]
 *
 * 3 threads run malloc/free/realloc churn (with content checks) for the whole
 * test.  The main thread forks ~50 times.  Each child verifies and frees
 * blocks the parent's main thread allocated before the fork, allocates and
 * frees a few thousand blocks of mixed sizes, spawns a thread that does the
 * same, checks contents and _exit(0)s.  The parent polls waitpid(WNOHANG)
 * with a 10 s deadline per child and fails if a child fails or hangs (a
 * child hanging in malloc is the classic fork-while-a-lock-is-held bug).
 */
#define _GNU_SOURCE 1
#include "ptest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define CHURNERS 3
#define PRE 200

typedef struct { unsigned char *p; size_t n; uint64_t key; } blk;

static volatile int stop;
static unsigned long churn_bad, churn_ops;

static size_t rand_size(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 100);
    if (x < 85) return 1 + ptest_below(r, 1024);
    if (x < 99) return 1 + ptest_below(r, 64 * 1024);
    return 1 + ptest_below(r, 1024 * 1024);
}

static void *churner(void *arg)
{
    ptest_rng r = { 77 + (uint64_t)(intptr_t)arg };
    enum { N = 256 };
    blk v[N];
    memset(v, 0, sizeof v);
    unsigned long ops = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        int i = (int)ptest_below(&r, N);
        if (v[i].p) {
            if (ptest_verify(v[i].p, v[i].n, v[i].key) != (size_t)-1)
                __atomic_fetch_add(&churn_bad, 1, __ATOMIC_RELAXED);
            if (ptest_below(&r, 4) == 0) {
                size_t n = rand_size(&r);
                unsigned char *q = realloc(v[i].p, n);
                if (!q) { __atomic_fetch_add(&churn_bad, 1, __ATOMIC_RELAXED); continue; }
                size_t keep = n < v[i].n ? n : v[i].n;
                if (ptest_verify(q, keep, v[i].key) != (size_t)-1)
                    __atomic_fetch_add(&churn_bad, 1, __ATOMIC_RELAXED);
                v[i].p = q; v[i].n = n; v[i].key = ptest_next(&r);
                ptest_fill(q, n, v[i].key);
                ops++;
                continue;
            }
            free(v[i].p);
            v[i].p = NULL;
        } else {
            size_t n = rand_size(&r);
            v[i].p = malloc(n);
            if (!v[i].p) { __atomic_fetch_add(&churn_bad, 1, __ATOMIC_RELAXED); continue; }
            v[i].n = n; v[i].key = ptest_next(&r);
            ptest_fill(v[i].p, n, v[i].key);
        }
        ops++;
    }
    for (int i = 0; i < N; i++) free(v[i].p);
    __atomic_fetch_add(&churn_ops, ops, __ATOMIC_RELAXED);
    return NULL;
}

static size_t child_size(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 1000);
    if (x < 900) return 1 + ptest_below(r, 512);
    if (x < 995) return 1 + ptest_below(r, 16 * 1024);
    return 1 + ptest_below(r, 256 * 1024);
}

/* child-side workload: returns number of problems */
static int child_work(uint64_t seed, int n)
{
    ptest_rng r = { seed };
    blk *v = malloc(sizeof(blk) * (size_t)n);
    int bad = 0;
    if (!v) return 1;
    for (int i = 0; i < n; i++) {
        size_t sz = child_size(&r);
        v[i].p = (i & 3) == 0 ? calloc(sz, 1) : malloc(sz);
        if (!v[i].p) { bad++; continue; }
        v[i].n = sz; v[i].key = ptest_next(&r);
        ptest_fill(v[i].p, sz, v[i].key);
        if (i > 2 && ptest_below(&r, 2)) {
            int j = (int)ptest_below(&r, (uint64_t)i);
            if (v[j].p) {
                if (ptest_verify(v[j].p, v[j].n, v[j].key) != (size_t)-1) bad++;
                size_t nn = child_size(&r);
                unsigned char *q = realloc(v[j].p, nn);
                if (!q) { bad++; continue; }
                size_t keep = nn < v[j].n ? nn : v[j].n;
                if (ptest_verify(q, keep, v[j].key) != (size_t)-1) bad++;
                v[j].p = q; v[j].n = nn; v[j].key = ptest_next(&r);
                ptest_fill(q, nn, v[j].key);
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (v[i].p) {
            if (ptest_verify(v[i].p, v[i].n, v[i].key) != (size_t)-1) bad++;
            free(v[i].p);
        }
    free(v);
    return bad;
}

static int child_nblocks;

static void *child_thread(void *arg)
{
    intptr_t bad = child_work((uint64_t)(intptr_t)arg * 31 + 5, child_nblocks);
    return (void *)bad;
}

int main(int argc, char **argv)
{
    ptest_require_mpool("fork_threads");
    double scale = ptest_scale(argc, argv);
    int nforks = (int)(50 * scale);
    if (nforks < 5) nforks = 5;
    child_nblocks = 2000;

    /* blocks allocated by the main thread before any fork; children verify
     * and free them */
    ptest_rng r = { 4242 };
    static blk pre[PRE];
    for (int i = 0; i < PRE; i++) {
        pre[i].n = rand_size(&r);
        pre[i].p = malloc(pre[i].n);
        pre[i].key = ptest_next(&r);
        if (pre[i].p) ptest_fill(pre[i].p, pre[i].n, pre[i].key);
    }

    pthread_t th[CHURNERS];
    for (int i = 0; i < CHURNERS; i++)
        if (!CHECK(pthread_create(&th[i], NULL, churner, (void *)(intptr_t)i) == 0, "pthread_create"))
            return ptest_finish();

    int failed = 0, hung = 0;
    double t0 = ptest_now();
    for (int k = 0; k < nforks; k++) {
        /* let the churners run a bit between forks */
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            CHECK(0, "fork #%d failed: %s", k, strerror(errno));
            break;
        }
        if (pid == 0) {
            alarm(20);    /* belt and braces: never outlive the parent's deadline by much */
            int bad = 0;
            for (int i = 0; i < PRE; i++) {
                if (!pre[i].p) { bad++; continue; }
                if (ptest_verify(pre[i].p, pre[i].n, pre[i].key) != (size_t)-1) bad++;
                if (i & 1) {
                    unsigned char *q = realloc(pre[i].p, pre[i].n * 2 + 1);
                    if (!q || ptest_verify(q, pre[i].n, pre[i].key) != (size_t)-1) bad++;
                    free(q);
                } else {
                    free(pre[i].p);
                }
            }
            bad += child_work((uint64_t)k * 1000 + 1, child_nblocks);
            pthread_t ct;
            if (pthread_create(&ct, NULL, child_thread, (void *)(intptr_t)k) != 0) {
                bad++;
            } else {
                void *ret = NULL;
                pthread_join(ct, &ret);
                bad += (int)(intptr_t)ret;
            }
            bad += child_work((uint64_t)k * 1000 + 2, child_nblocks / 4);
            _exit(bad ? 1 : 0);
        }
        double deadline = ptest_now() + 10.0;
        int status = 0;
        pid_t w;
        for (;;) {
            w = waitpid(pid, &status, WNOHANG);
            if (w == pid || (w < 0 && errno != EINTR)) break;
            if (ptest_now() > deadline) break;
            struct timespec sl = { 0, 1000 * 1000 };
            nanosleep(&sl, NULL);
        }
        if (w != pid) {
            hung++;
            CHECK(0, "fork #%d: child %d did not finish within 10 s (deadlock in malloc after fork?)",
                  k, (int)pid);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            continue;
        }
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            failed++;
            if (WIFSIGNALED(status))
                CHECK(0, "fork #%d: child killed by signal %d", k, WTERMSIG(status));
            else
                CHECK(0, "fork #%d: child exited with status %d (content/allocation errors)", k,
                      WEXITSTATUS(status));
        }
    }
    double t1 = ptest_now();
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < PRE; i++) {
        if (pre[i].p && ptest_verify(pre[i].p, pre[i].n, pre[i].key) != (size_t)-1)
            failed++, CHECK(0, "parent's pre-fork block %d changed (children freed their copy)", i);
        free(pre[i].p);
    }
    fprintf(stderr, "fork_threads: %d forks in %.2fs, %lu churn ops in the parent's threads\n",
            nforks, t1 - t0, churn_ops);
    CHECK(churn_bad == 0, "%lu content/allocation errors in the parent's churn threads", churn_bad);
    CHECK(failed == 0 && hung == 0, "%d children failed, %d hung (of %d)", failed, hung, nforks);
    return ptest_finish();
}
