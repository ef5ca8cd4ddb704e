/* thread_exit_free.c - threads exit while other threads free their blocks,
 * and frees and allocations in thread-exit destructors (after glibc's
 * malloc/tst-malloc-thread-exit).
 *
 *   ./thread_exit_free [scale]
 *
 * 1. Waves (60 x scale): 4 producer threads each allocate 400 blocks of mixed
 *    sizes (small, up to 70 KiB, a few up to 1.5 MiB), free a quarter, publish
 *    the rest and exit.  2 freer threads each join their producers (so the
 *    producer's own thread-exit destructor, which hands its cache back, has
 *    run) and check and free their blocks while other producers are still
 *    allocating or exiting.  A third of the blocks are carried to the next
 *    wave, whose producers (new threads, on reused caches) check, realloc,
 *    free or hand them on.
 * 2. Racing exits (100 x scale rounds): a producer publishes 200 blocks and
 *    returns at once; its consumer frees them as soon as they are published,
 *    while the producer is still exiting.
 * 3. Destructors (200 x scale threads): each thread allocates blocks and
 *    exits; a C++-style thread_local destructor (__cxa_thread_atexit_impl,
 *    which runs before the pthread key destructors) frees some and allocates
 *    more; a pthread key created after the allocator's own (so its destructor
 *    runs after the allocator handed the thread's cache back) frees the rest
 *    (reached through a __thread pointer), frees blocks other exited threads
 *    left, and allocates with malloc, calloc, memalign and realloc; it re-arms
 *    itself for all PTHREAD_DESTRUCTOR_ITERATIONS rounds.  The main thread
 *    checks and frees what the destructors left.
 * 4. First allocation in a late destructor round (2000 x scale threads per
 *    round, rounds 1 .. PTHREAD_DESTRUCTOR_ITERATIONS): a thread whose only
 *    allocations happen in a key destructor.  RSS must not grow with the
 *    number of such threads (a thread cache made in the last round, after the
 *    allocator's own destructor had its last chance to run, must not leak);
 *    under libmpool, mpool_stats threads_live must come back down.
 * Every block's content is checked before every free and realloc, and
 * malloc_usable_size(p) >= n on every block received from another thread.
 * At the end, with everything freed, mallinfo2().uordblks must be back within
 * 8 MiB of where it started, and RSS within 64 MiB + 50 % of its value after
 * the first waves.
 */
#define _GNU_SOURCE 1
#include "../preload/ptest.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

typedef struct blk {
    unsigned char *p;
    size_t n;
    uint64_t key;
} blk_t;

static double g_scale = 1.0;

static size_t pick_size(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 1000);
    if (x < 750) return 1 + ptest_below(r, 512);
    if (x < 950) return 513 + ptest_below(r, 16 * KiB);
    if (x < 990) return 16 * KiB + ptest_below(r, 54 * KiB); /* to 70 KiB: across the 64 KiB limit */
    return 100 * KiB + ptest_below(r, 1400 * KiB);           /* the fallback */
}

static int make_blk(blk_t *b, ptest_rng *r, const char *who)
{
    b->n = pick_size(r);
    b->key = ptest_next(r);
    b->p = malloc(b->n);
    if (!CHECK(b->p != NULL, "%s: malloc(%zu) returned NULL", who, b->n))
        return 0;
    ptest_fill(b->p, b->n, b->key);
    return 1;
}

/* Checks b (content; usable size when received from elsewhere). */
static int check_blk(const blk_t *b, int foreign, const char *who)
{
    size_t at = ptest_verify(b->p, b->n, b->key);
    if (!CHECK(at == (size_t)-1, "%s: block %p of %zu bytes damaged at offset %zu", who, (void *)b->p,
               b->n, at))
        return 0;
    if (foreign) {
        size_t u = malloc_usable_size(b->p);
        if (!CHECK(u >= b->n, "%s: malloc_usable_size(%p) = %zu < %zu", who, (void *)b->p, u, b->n))
            return 0;
    }
    return 1;
}

static void free_blk(blk_t *b, int foreign, const char *who)
{
    if (b->p && check_blk(b, foreign, who))
        free(b->p); /* a damaged block is leaked, not freed */
    b->p = NULL;
}

/* ---- 1. waves ------------------------------------------------------------------ */

enum { PRODUCERS = 4, FREERS = 2, PER_PRODUCER = 400, CARRY_MAX = 512 };

typedef struct producer {
    pthread_t tid;
    int wave, k;
    blk_t box[PER_PRODUCER]; /* published blocks; p == NULL: none */
    blk_t *carry_in;         /* blocks carried from the previous wave */
    int ncarry_in;
} producer_t;

static producer_t prod[PRODUCERS];
static blk_t carry[PRODUCERS][CARRY_MAX]; /* from this wave's freers to the next wave's producers */
static int ncarry[PRODUCERS];
static blk_t carried_in[PRODUCERS][CARRY_MAX];

static void *producer_main(void *arg)
{
    producer_t *pr = arg;
    ptest_rng r = { ptest_mix64(((uint64_t)pr->wave << 8) | (uint64_t)pr->k) };
    /* blocks of earlier threads, freed or resized by this new one */
    for (int i = 0; i < pr->ncarry_in; i++) {
        blk_t *b = &pr->carry_in[i];
        if (!check_blk(b, 1, "producer, carried block"))
            continue;
        if (ptest_below(&r, 2)) {
            free(b->p);
            b->p = NULL;
            continue;
        }
        size_t m = b->n + 1 + ptest_below(&r, 3 * b->n + 64);
        unsigned char *q = realloc(b->p, m);
        if (!CHECK(q != NULL, "producer: realloc(%zu -> %zu) returned NULL", b->n, m))
            continue;
        size_t at = ptest_verify(q, b->n, b->key);
        CHECK(at == (size_t)-1, "producer: realloc of a carried block lost content at %zu", at);
        ptest_fill(q, m, b->key);
        b->p = q;
        b->n = m;
    }
    for (int i = 0; i < PER_PRODUCER; i++)
        make_blk(&pr->box[i], &r, "producer");
    for (int i = 0; i < PER_PRODUCER; i += 4)
        free_blk(&pr->box[i], 0, "producer, own block");
    /* the surviving carried blocks ride along with this thread's own */
    int j = 1;
    for (int i = 0; i < pr->ncarry_in; i++) {
        if (!pr->carry_in[i].p)
            continue;
        while (j < PER_PRODUCER && pr->box[j].p)
            j++;
        if (j < PER_PRODUCER)
            pr->box[j] = pr->carry_in[i];
        else
            free_blk(&pr->carry_in[i], 1, "producer, carried block");
        pr->carry_in[i].p = NULL;
    }
    return NULL; /* exits: the thread's cache is handed back */
}

typedef struct freer {
    pthread_t tid;
    int j;
} freer_t;

static void *freer_main(void *arg)
{
    freer_t *f = arg;
    ptest_rng r = { 0xf4ee + (uint64_t)f->j };
    for (int k = f->j; k < PRODUCERS; k += FREERS) {
        pthread_join(prod[k].tid, NULL); /* the producer has exited */
        ncarry[k] = 0;
        for (int i = 0; i < PER_PRODUCER; i++) {
            blk_t *b = &prod[k].box[i];
            if (!b->p)
                continue;
            if (ptest_below(&r, 3) == 0 && ncarry[k] < CARRY_MAX && check_blk(b, 1, "freer")) {
                carry[k][ncarry[k]++] = *b;
                b->p = NULL;
                continue;
            }
            free_blk(b, 1, "freer, an exited thread's block");
        }
    }
    return NULL;
}

static void run_waves(int waves)
{
    for (int w = 0; w < waves && ptest_failures() == 0; w++) {
        for (int k = 0; k < PRODUCERS; k++) {
            memcpy(carried_in[k], carry[k], (size_t)ncarry[k] * sizeof(blk_t));
            prod[k].carry_in = carried_in[k];
            prod[k].ncarry_in = ncarry[k];
            ncarry[k] = 0;
            prod[k].wave = w;
            prod[k].k = k;
            memset(prod[k].box, 0, sizeof prod[k].box);
            if (!CHECK(pthread_create(&prod[k].tid, NULL, producer_main, &prod[k]) == 0, "pthread_create"))
                exit(ptest_finish() | 1);
        }
        freer_t fr[FREERS];
        for (int j = 0; j < FREERS; j++) {
            fr[j].j = j;
            if (!CHECK(pthread_create(&fr[j].tid, NULL, freer_main, &fr[j]) == 0, "pthread_create"))
                exit(ptest_finish() | 1);
        }
        for (int j = 0; j < FREERS; j++)
            pthread_join(fr[j].tid, NULL);
    }
    for (int k = 0; k < PRODUCERS; k++) /* the last wave's carried blocks */
        for (int i = 0; i < ncarry[k]; i++)
            free_blk(&carry[k][i], 1, "main, carried block");
    memset(ncarry, 0, sizeof ncarry);
}

/* ---- 2. racing exits ------------------------------------------------------------- */

enum { RACE_PAIRS = 4, RACE_BLOCKS = 200 };

typedef struct race {
    pthread_t prod, cons;
    int round, k;
    int published;
    blk_t b[RACE_BLOCKS];
} race_t;

static void *race_producer(void *arg)
{
    race_t *rc = arg;
    ptest_rng r = { ptest_mix64(((uint64_t)rc->round << 16) | (uint64_t)rc->k | 0x7ace0000ull) };
    for (int i = 0; i < RACE_BLOCKS; i++)
        make_blk(&rc->b[i], &r, "racing producer");
    __atomic_store_n(&rc->published, 1, __ATOMIC_RELEASE);
    return NULL; /* exits while the consumer frees */
}

static void *race_consumer(void *arg)
{
    race_t *rc = arg;
    double end = ptest_now() + 30;
    while (!__atomic_load_n(&rc->published, __ATOMIC_ACQUIRE)) {
        if (ptest_now() > end) {
            CHECK(0, "racing consumer: the producer never published (30 s)");
            return NULL;
        }
        sched_yield();
    }
    for (int i = 0; i < RACE_BLOCKS; i++)
        free_blk(&rc->b[i], 1, "racing consumer");
    return NULL;
}

static void run_races(int rounds)
{
    static race_t rc[RACE_PAIRS];
    for (int round = 0; round < rounds && ptest_failures() == 0; round++) {
        for (int k = 0; k < RACE_PAIRS; k++) {
            memset(&rc[k], 0, sizeof rc[k]);
            rc[k].round = round;
            rc[k].k = k;
            /* consumer first: it is already waiting when the producer ends */
            if (!CHECK(pthread_create(&rc[k].cons, NULL, race_consumer, &rc[k]) == 0, "pthread_create") ||
                !CHECK(pthread_create(&rc[k].prod, NULL, race_producer, &rc[k]) == 0, "pthread_create"))
                exit(ptest_finish() | 1);
        }
        for (int k = 0; k < RACE_PAIRS; k++) {
            pthread_join(rc[k].prod, NULL);
            pthread_join(rc[k].cons, NULL);
        }
    }
}

/* ---- 3. destructors ------------------------------------------------------------------ */

enum { TL_BLOCKS = 48, LATE_MAX = 8192, LATE_PER_ROUND = 12 };

static pthread_key_t late_key;
static __thread blk_t *tl_blocks; /* this thread's blocks, for its destructors */
static __thread int tl_nblocks;

static pthread_mutex_t late_lock = PTHREAD_MUTEX_INITIALIZER;
static blk_t late_pool[LATE_MAX]; /* blocks left by destructors, for others to free */
static int nlate;
static unsigned long late_rounds, cxa_runs;

typedef int (*cxa_thread_atexit_fn)(void (*)(void *), void *, void *);
static cxa_thread_atexit_fn p_cxa_thread_atexit;
extern void *__dso_handle __attribute__((weak));

static void late_push(blk_t *b, const char *who)
{
    pthread_mutex_lock(&late_lock);
    int kept = nlate < LATE_MAX;
    if (kept)
        late_pool[nlate++] = *b;
    pthread_mutex_unlock(&late_lock);
    if (!kept)
        free_blk(b, 0, who);
    b->p = NULL;
}

static int late_pop(blk_t *b)
{
    pthread_mutex_lock(&late_lock);
    int got = nlate > 0;
    if (got)
        *b = late_pool[--nlate];
    pthread_mutex_unlock(&late_lock);
    return got;
}

/* Allocations in a destructor: malloc, calloc (zero), memalign (aligned),
 * realloc (grown, content kept); all left for other threads to free. */
static void destructor_allocs(ptest_rng *r, const char *who)
{
    for (int i = 0; i < LATE_PER_ROUND; i++) {
        blk_t b;
        b.n = ptest_below(r, 8) == 0 ? 100 * KiB + ptest_below(r, 300 * KiB) : 1 + ptest_below(r, 2000);
        b.key = ptest_next(r);
        int how = i % 4;
        if (how == 0) {
            b.p = malloc(b.n);
        } else if (how == 1) {
            b.p = calloc(1, b.n);
            if (b.p) {
                size_t nz = 0;
                for (size_t j = 0; j < b.n; j++)
                    nz += b.p[j] != 0;
                CHECK(nz == 0, "%s: calloc(1, %zu) has %zu nonzero bytes", who, b.n, nz);
            }
        } else if (how == 2) {
            b.p = memalign(64, b.n);
            if (b.p)
                CHECK(((uintptr_t)b.p & 63) == 0, "%s: memalign(64, %zu) = %p", who, b.n, (void *)b.p);
        } else {
            size_t small = 1 + b.n / 4;
            b.p = malloc(small);
            if (b.p) {
                ptest_fill(b.p, small, b.key);
                unsigned char *q = realloc(b.p, b.n);
                if (CHECK(q != NULL, "%s: realloc(%zu -> %zu) returned NULL", who, small, b.n)) {
                    size_t at = ptest_verify(q, small, b.key);
                    CHECK(at == (size_t)-1, "%s: realloc lost content at %zu", who, at);
                    b.p = q;
                }
            }
        }
        if (!CHECK(b.p != NULL, "%s: allocation %d of %zu bytes returned NULL", who, how, b.n))
            continue;
        ptest_fill(b.p, b.n, b.key);
        late_push(&b, who);
    }
}

static void late_destructor(void *arg)
{
    uintptr_t round = (uintptr_t)arg;
    ptest_rng r = { ptest_mix64((uintptr_t)&r ^ (round << 40) ^ (uint64_t)pthread_self()) };
    __atomic_fetch_add(&late_rounds, 1, __ATOMIC_RELAXED);
    /* the rest of this thread's own blocks: the allocator's cache is gone */
    for (int i = 0; i < tl_nblocks; i++)
        free_blk(&tl_blocks[i], 0, "key destructor, own block");
    if (tl_blocks) {
        free(tl_blocks);
        tl_blocks = NULL;
        tl_nblocks = 0;
    }
    /* blocks other (mostly exited) threads left */
    for (int i = 0; i < LATE_PER_ROUND; i++) {
        blk_t b;
        if (!late_pop(&b))
            break;
        free_blk(&b, 1, "key destructor, another thread's block");
    }
    destructor_allocs(&r, "key destructor");
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS)
        pthread_setspecific(late_key, (void *)(round + 1)); /* run again next round */
}

static void cxa_destructor(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&cxa_runs, 1, __ATOMIC_RELAXED);
    ptest_rng r = { ptest_mix64((uint64_t)pthread_self() ^ 0xc0a) };
    /* half the thread's blocks (the cache is still there) */
    for (int i = 0; i < tl_nblocks; i += 2)
        free_blk(&tl_blocks[i], 0, "thread_local destructor");
    destructor_allocs(&r, "thread_local destructor");
}

static void *dtor_thread(void *arg)
{
    ptest_rng r = { ptest_mix64((uint64_t)(uintptr_t)arg ^ 0xd7) };
    tl_nblocks = TL_BLOCKS;
    tl_blocks = calloc(TL_BLOCKS, sizeof *tl_blocks);
    if (!CHECK(tl_blocks != NULL, "calloc of the block list returned NULL"))
        return NULL;
    for (int i = 0; i < TL_BLOCKS; i++)
        make_blk(&tl_blocks[i], &r, "destructor thread");
    /* blocks of threads that already exited, freed by this live one */
    for (int i = 0; i < 8; i++) {
        blk_t b;
        if (!late_pop(&b))
            break;
        free_blk(&b, 1, "live thread, an exited thread's block");
    }
    if (p_cxa_thread_atexit && &__dso_handle)
        p_cxa_thread_atexit(cxa_destructor, NULL, &__dso_handle);
    pthread_setspecific(late_key, (void *)1);
    return NULL;
}

static void run_destructors(int nthreads)
{
    p_cxa_thread_atexit = (cxa_thread_atexit_fn)dlsym(RTLD_DEFAULT, "__cxa_thread_atexit_impl");
    if (!p_cxa_thread_atexit || !&__dso_handle)
        SKIP("__cxa_thread_atexit_impl or __dso_handle not found: no thread_local destructors");
    for (int i = 0; i < nthreads && ptest_failures() == 0; i += 4) {
        pthread_t t[4];
        int n = 0;
        for (int k = 0; k < 4 && i + k < nthreads; k++, n++)
            if (!CHECK(pthread_create(&t[k], NULL, dtor_thread, (void *)(uintptr_t)(i + k)) == 0,
                       "pthread_create"))
                exit(ptest_finish() | 1);
        for (int k = 0; k < n; k++)
            pthread_join(t[k], NULL);
    }
    unsigned long want_rounds = (unsigned long)nthreads * PTHREAD_DESTRUCTOR_ITERATIONS;
    CHECK(late_rounds == want_rounds, "key destructor ran %lu times, want %lu (%d threads x %d rounds)",
          late_rounds, want_rounds, nthreads, PTHREAD_DESTRUCTOR_ITERATIONS);
    if (p_cxa_thread_atexit && &__dso_handle)
        CHECK(cxa_runs == (unsigned long)nthreads, "thread_local destructor ran %lu times, want %d",
              cxa_runs, nthreads);
    blk_t b;
    while (late_pop(&b))
        free_blk(&b, 1, "main, a destructor's block");
}

/* ---- 4. first allocation in a late destructor round --------------------------------- */

static pthread_key_t first_key;
static int first_round; /* the round whose destructor allocates */

static void first_destructor(void *arg)
{
    uintptr_t round = (uintptr_t)arg;
    if ((int)round < first_round) {
        pthread_setspecific(first_key, (void *)(round + 1));
        return;
    }
    /* the thread's first allocations */
    void *p[24];
    for (int i = 0; i < 24; i++) {
        size_t n = 16 + (size_t)i * 40;
        p[i] = malloc(n);
        if (p[i])
            memset(p[i], i, n);
    }
    for (int i = 0; i < 24; i++)
        free(p[i]);
}

static void *first_thread(void *arg)
{
    (void)arg;
    pthread_setspecific(first_key, (void *)1); /* no allocation on this thread before its exit */
    return NULL;
}

struct mpool_stats_view { /* include/mpool.h, struct mpool_stats */
    uint64_t allocs, frees, reuses, active_blocks, active_bytes, peak_active_bytes, alloc_ns,
        reuse_ns, mapped_bytes, fallback_allocs, fallback_frees, fallback_active_bytes,
        threads_live, threads_exited;
};
typedef int (*stats_get_fn)(struct mpool_stats_view *);

static void run_first_in_destructor(int nthreads)
{
    stats_get_fn get = (stats_get_fn)dlsym(RTLD_DEFAULT, "mpool_stats_get");
    pthread_key_create(&first_key, first_destructor);
    for (first_round = 1; first_round <= PTHREAD_DESTRUCTOR_ITERATIONS; first_round++) {
        struct mpool_stats_view s0, s1;
        if (get)
            get(&s0);
        size_t rss0 = 0;
        for (int i = 0; i < nthreads; i++) {
            pthread_t t;
            if (!CHECK(pthread_create(&t, NULL, first_thread, NULL) == 0, "pthread_create"))
                exit(ptest_finish() | 1);
            pthread_join(t, NULL);
            if (i == nthreads / 4)
                rss0 = ptest_rss();
        }
        size_t rss1 = ptest_rss();
        /* 3/4 of the threads ran between the two readings: 16 KiB each would
         * be far more than 16 MiB + 25 % */
        CHECK(rss1 <= rss0 + rss0 / 4 + 16 * MiB,
              "threads whose first allocation is in pthread key destructor round %d leak: RSS grew "
              "from %zu to %zu MiB over %d threads", first_round, rss0 / MiB, rss1 / MiB,
              nthreads - nthreads / 4);
        if (get) {
            get(&s1);
            /* libmpool retires such orphaned caches when it next needs a
             * cache and has none parked: a few may wait (at most a chunk of
             * 16), but the count must not grow with the threads */
            CHECK(s1.threads_live <= s0.threads_live + 16,
                  "mpool: threads whose first allocation is in pthread key destructor round %d keep "
                  "their cache: threads_live %llu -> %llu after %d threads",
                  first_round, (unsigned long long)s0.threads_live, (unsigned long long)s1.threads_live,
                  nthreads);
        }
    }
}

/* ------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    ptest_require_mpool("thread_exit_free");
    g_scale = ptest_scale(argc, argv);
    /* a key made now is newer than the allocator's: its destructor runs after
     * the allocator's in every round */
    free(malloc(1));
    pthread_key_create(&late_key, late_destructor);

    struct mallinfo2 mi0 = mallinfo2();
    double t0 = ptest_now();
    int waves = (int)(60 * g_scale);
    run_waves(waves / 6 > 0 ? waves / 6 : 1);
    size_t rss_early = ptest_rss();
    run_waves(waves - waves / 6);
    double t1 = ptest_now();
    run_races((int)(100 * g_scale));
    double t2 = ptest_now();
    run_destructors((int)(200 * g_scale));
    double t3 = ptest_now();
    size_t rss_late = ptest_rss();
    CHECK(rss_late <= rss_early + rss_early / 2 + 64 * MiB,
          "RSS grew from %zu MiB (after the first waves) to %zu MiB: memory of exited threads is "
          "not reused", rss_early / MiB, rss_late / MiB);
    struct mallinfo2 mi1 = mallinfo2();
    long long d = (long long)mi1.uordblks - (long long)mi0.uordblks;
    CHECK(d < 8 * (long long)MiB,
          "with every block freed, mallinfo2().uordblks went from %zu to %zu (+%lld KiB)", mi0.uordblks,
          mi1.uordblks, d / 1024);
    run_first_in_destructor((int)(2000 * g_scale));
    double t4 = ptest_now();
    fprintf(stderr, "thread_exit_free: waves %.2f s, races %.2f s, destructors %.2f s, "
                    "first allocation in a destructor %.2f s; RSS %zu -> %zu MiB\n",
            t1 - t0, t2 - t1, t3 - t2, t4 - t3, rss_early / MiB, rss_late / MiB);
    return ptest_finish();
}
