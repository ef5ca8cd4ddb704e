/* churn.c - multithreaded malloc/calloc/realloc/free churn with cross-thread
 * frees and content verification.
 *
 *   ./churn [scale] [threads]        (default scale 1, 4 threads)
 *
 * Each thread owns an array of slots.  Every operation picks a random slot
 * and a random size (mostly 1..1024, some up to 64 KiB, rarely up to 1 MiB),
 * verifies the block that is there, and then frees it, reallocs it, or hands
 * it to another thread through that thread's mailbox (mutex-protected ring),
 * and puts a new block (malloc or calloc) in the slot, writing a pattern
 * derived from (pointer, size, seed).  The receiving thread verifies what it
 * receives and either frees it or adopts it into one of its slots (so it is
 * later realloc'ed or freed by a thread that did not allocate it).
 */
#define _GNU_SOURCE 1
#include "ptest.h"

#include <pthread.h>
#include <stdint.h>

#define MAXT 64
#define SLOTS 512
#define MBOX 2048

typedef struct { unsigned char *p; size_t n; uint64_t key; } blk;

typedef struct {
    pthread_mutex_t mu;
    blk q[MBOX];
    unsigned head, count;
} mailbox;

static mailbox mbox[MAXT];
static int nthreads = 4;
static long ops_per_thread;
static unsigned long n_cross, n_local, n_realloc, n_calloc, n_adopt;
static unsigned long n_bad;
static pthread_barrier_t barrier;

static uint64_t mkkey(const void *p, size_t n, uint64_t seed)
{
    return ptest_mix64((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL ^ (uint64_t)n << 17 ^ seed);
}

static void bad_block(int tid, const char *where, const blk *b, size_t off)
{
    unsigned long k = __atomic_fetch_add(&n_bad, 1, __ATOMIC_RELAXED);
    if (k < 20)
        fprintf(stderr, "FAIL churn.c: thread %d: %s: block %p size %zu corrupted at offset %zu\n",
                tid, where, (void *)b->p, b->n, off);
}

static int verify(int tid, const char *where, const blk *b)
{
    size_t off = ptest_verify(b->p, b->n, b->key);
    if (off != (size_t)-1) { bad_block(tid, where, b, off); return 0; }
    return 1;
}

static size_t rand_size(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 1000);
    if (x < 900) return 1 + ptest_below(r, 1024);
    if (x < 997) return 1 + ptest_below(r, 64 * 1024);
    return 1 + ptest_below(r, 1024 * 1024);
}

static int post(int to, blk b)
{
    mailbox *m = &mbox[to];
    int ok = 0;
    pthread_mutex_lock(&m->mu);
    if (m->count < MBOX) {
        m->q[(m->head + m->count) % MBOX] = b;
        m->count++;
        ok = 1;
    }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* take up to max blocks out of my mailbox */
static unsigned take(int me, blk *out, unsigned max)
{
    mailbox *m = &mbox[me];
    unsigned k = 0;
    pthread_mutex_lock(&m->mu);
    while (k < max && m->count) {
        out[k++] = m->q[m->head];
        m->head = (m->head + 1) % MBOX;
        m->count--;
    }
    pthread_mutex_unlock(&m->mu);
    return k;
}

static void new_block(int tid, ptest_rng *r, blk *b, uint64_t seed)
{
    size_t n = rand_size(r);
    unsigned char *p;
    if (ptest_below(r, 4) == 0) {
        p = calloc(1, n);
        __atomic_fetch_add(&n_calloc, 1, __ATOMIC_RELAXED);
        if (p) {
            for (size_t i = 0; i < n; i++)
                if (p[i]) {
                    blk t = { p, n, 0 };
                    bad_block(tid, "calloc not zeroed", &t, i);
                    break;
                }
        }
    } else {
        p = malloc(n);
    }
    if (!p) {
        CHECK(0, "thread %d: allocation of %zu bytes returned NULL", tid, n);
        b->p = NULL; b->n = 0;
        return;
    }
    b->p = p; b->n = n; b->key = mkkey(p, n, seed);
    ptest_fill(p, n, b->key);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    ptest_rng r = { 0x1234567ULL + (uint64_t)me * 7919 };
    uint64_t seed = 0xabcdef ^ (uint64_t)me;
    blk slots[SLOTS];
    blk in[64];
    unsigned long cross = 0, local = 0, reallocs = 0, adopt = 0;
    memset(slots, 0, sizeof slots);

    pthread_barrier_wait(&barrier);
    for (long op = 0; op < ops_per_thread; op++) {
        if ((op & 15) == 0) {
            unsigned k = take(me, in, 64);
            for (unsigned i = 0; i < k; i++) {
                verify(me, "received block", &in[i]);
                int s = (int)ptest_below(&r, SLOTS);
                if (!slots[s].p && ptest_below(&r, 2)) {
                    slots[s] = in[i];           /* adopt: later realloc/free here */
                    adopt++;
                } else {
                    free(in[i].p);
                    cross++;
                }
            }
        }
        int s = (int)ptest_below(&r, SLOTS);
        blk *b = &slots[s];
        if (b->p) {
            verify(me, "slot block", b);
            uint64_t act = ptest_below(&r, 10);
            if (act < 3) {                      /* realloc in place of the slot */
                size_t n = rand_size(&r);
                unsigned char *q = realloc(b->p, n);
                reallocs++;
                if (!q) { CHECK(0, "thread %d: realloc(%p, %zu) returned NULL", me, (void *)b->p, n); continue; }
                blk old = { q, n < b->n ? n : b->n, b->key };
                verify(me, "realloc prefix", &old);
                b->p = q; b->n = n; b->key = mkkey(q, n, seed + (uint64_t)op);
                ptest_fill(q, n, b->key);
                continue;
            } else if (act < 7 && nthreads > 1) {   /* hand over to another thread */
                int to = (int)ptest_below(&r, (uint64_t)nthreads - 1);
                if (to >= me) to++;
                if (!post(to, *b)) { free(b->p); local++; }
            } else {
                free(b->p);
                local++;
            }
            b->p = NULL;
        }
        if (ptest_below(&r, 8) != 0)
            new_block(me, &r, b, seed + (uint64_t)op);
    }
    /* everyone stops posting, then drain and clean up */
    pthread_barrier_wait(&barrier);
    unsigned k;
    while ((k = take(me, in, 64)) > 0)
        for (unsigned i = 0; i < k; i++) {
            verify(me, "received block (drain)", &in[i]);
            free(in[i].p);
            cross++;
        }
    for (int s = 0; s < SLOTS; s++)
        if (slots[s].p) {
            verify(me, "slot block (final)", &slots[s]);
            free(slots[s].p);
            local++;
        }
    __atomic_fetch_add(&n_cross, cross, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_local, local, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_realloc, reallocs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_adopt, adopt, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv)
{
    ptest_require_mpool("churn");
    double scale = ptest_scale(argc, argv);
    if (argc > 2) nthreads = atoi(argv[2]);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAXT) nthreads = MAXT;
    ops_per_thread = (long)(100000 * scale * 4 / nthreads);
    if (ops_per_thread < 1000) ops_per_thread = 1000;

    for (int i = 0; i < nthreads; i++)
        pthread_mutex_init(&mbox[i].mu, NULL);
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    double t0 = ptest_now();
    pthread_t th[MAXT];
    for (int i = 0; i < nthreads; i++)
        CHECK(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0, "pthread_create %d", i);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    double t1 = ptest_now();

    fprintf(stderr, "churn: %d threads x %ld ops in %.2fs: %lu cross-thread frees, %lu local frees, "
                    "%lu adopted, %lu reallocs, %lu callocs\n", nthreads, ops_per_thread, t1 - t0,
            n_cross, n_local, n_adopt, n_realloc, n_calloc);
    CHECK(n_bad == 0, "%lu corrupted blocks", n_bad);
    if (nthreads > 1)
        CHECK(n_cross * 5 >= (n_cross + n_local), "only %lu of %lu frees were cross-thread (< 20%%)",
              n_cross, n_cross + n_local);
    CHECK(n_realloc > 0 && n_calloc > 0, "realloc and calloc were exercised");
    return ptest_finish();
}
