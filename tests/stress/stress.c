/* stress.c - a long multi-threaded allocation stress with content checks,
 * after glibc's malloc/tst-malloc-stress and mimalloc's test-stress.
 *
 *   ./stress [THREADS [SCALE [ITERATIONS [SEED]]]]     default 16 160 10
 *   ./stress 32 200 100                                 a long run by hand
 *
 * ITERATIONS generations run one after another.  In each, THREADS worker
 * threads are alive at any moment; every worker lives for a random number of
 * operations (SCALE x 50 on average, 1/4 to 7/4 of that) and is then retired
 * (joined) and replaced by a new thread until the generation's budget
 * (THREADS x SCALE x 50 operations) is spent, so threads start and exit all
 * the time.  Operations in all: THREADS x SCALE x 50 x ITERATIONS; on 2
 * cores about 100 000 a second with 16 threads (the default: ~13 s) and
 * 30 000 with 32 (32 200 10: ~2 min; 32 200 100: ~20 min).
 *
 * A worker keeps a working set of 256 blocks of random sizes: mostly small,
 * some at and around class and page boundaries (16 .. 64 KiB .. 1 MiB, +-1,
 * +-16), some up to 72 KiB (across the 64 KiB class limit), a few up to 1 MiB
 * and rarely 1-8 MiB (libmpool's jemalloc fallback).  Operations: replace a
 * block (check, free, allocate with malloc, calloc (checked zero),
 * realloc(NULL), reallocarray, memalign, aligned_alloc, posix_memalign,
 * valloc or pvalloc (checked aligned)), realloc it (grow, shrink, across
 * 64 KiB), swap it with a slot of a shared lock-free exchange array (so many
 * frees are remote), free it, check it and its malloc_usable_size, bursts of
 * 16-64 short-lived blocks freed in reverse or random order, malloc_trim(0),
 * and short-lived helper threads that allocate, swap and exit.  Workers leave
 * half their working set to the next threads when they retire.
 *
 * Every block holds a pattern derived from its id (not its address), so it
 * survives realloc moves; it is checked before every free, realloc, and after
 * every swap.  Each block's descriptor is itself a heap block (allocated by
 * one thread, freed by another) with a checksum.  Any mismatch prints the
 * seed and the block's history and fails.
 *
 * The last line before the ptest summary is:
 *   stress: threads=T scale=S iterations=I seed=X ops=N ... seconds=F
 */
#define _GNU_SOURCE 1
#include "../preload/ptest.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

enum {
    WS = 256,          /* working-set slots per worker */
    XFER = 1024,       /* shared exchange slots */
    ORPHAN_MAX = 4096, /* blocks left by retired workers, for the next ones */
    OPS_UNIT = 50,     /* a worker's mean lifetime is SCALE x OPS_UNIT operations */
    MAX_REPORTS = 30,
};

enum how {
    H_MALLOC, H_CALLOC, H_REALLOC_NULL, H_REALLOCARRAY_NULL, H_MEMALIGN, H_ALIGNED_ALLOC,
    H_POSIX_MEMALIGN, H_VALLOC, H_PVALLOC, H_REALLOC, H_REALLOCARRAY, H_COUNT
};
static const char *const how_name[H_COUNT] = {
    "malloc", "calloc", "realloc(NULL)", "reallocarray(NULL)", "memalign", "aligned_alloc",
    "posix_memalign", "valloc", "pvalloc", "realloc", "reallocarray",
};

/* A block and what it must contain.  The descriptor is a heap block too. */
typedef struct item {
    unsigned char *p;
    size_t n;       /* bytes holding the pattern */
    uint64_t id;    /* pattern key; unique per (re)allocation */
    uint32_t align; /* alignment p had to have when made (0: malloc's) */
    uint16_t how;   /* the call that made or last resized it */
    uint16_t hops;  /* times it changed hands */
    uint32_t owner; /* serial of the thread that made or last resized it */
    uint32_t gen;   /* generation that made it */
    uint64_t sum;   /* checksum of the fields above */
} item_t;

typedef struct worker {
    pthread_t tid;
    uint32_t serial;
    uint32_t gen;
    long ops_budget;
    int helper; /* a short-lived helper thread */
    ptest_rng r;
    item_t *slot[WS];
    /* counters, folded into the totals when the thread ends */
    unsigned long ops, allocs, frees, remote_frees, reallocs, swaps, bursts, helpers;
    int done; /* set when finished; protected by done_lock */
} worker_t;

/* ---- shared state ----------------------------------------------------------- */

static int g_threads = 16, g_scale = 160, g_iters = 10;
static uint64_t g_seed = 0x5eed5eedull;
static int g_strict_align; /* under mpool: every block 16-aligned */

static item_t *xfer[XFER];

static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static item_t *orphans[ORPHAN_MAX];
static int norphans;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;

static uint32_t next_serial;
static uint64_t next_id = 1;
static unsigned long t_ops, t_allocs, t_frees, t_remote, t_reallocs, t_swaps, t_bursts,
    t_helpers, t_threads;
static unsigned long g_bad;

typedef void *(*alloc1_fn)(size_t);
static alloc1_fn p_valloc, p_pvalloc;

static void bad(const worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(const worker_t *w, const char *fmt, ...)
{
    unsigned long k = __atomic_fetch_add(&g_bad, 1, __ATOMIC_RELAXED);
    if (k >= MAX_REPORTS)
        return;
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL stress.c: seed=%#llx thread=%u gen=%u: %s\n", (unsigned long long)g_seed,
            w ? w->serial : 0, w ? w->gen : 0, buf);
    fflush(stderr);
}

/* ---- patterns ----------------------------------------------------------------- */

/* Writes bytes [from, n) of the pattern of key: byte i is byte i % 8 of
 * mix(key + i / 8), the same as ptest_fill(p, n, key) writes. */
static void fill_from(unsigned char *c, size_t from, size_t n, uint64_t key)
{
    size_t w = from / 8, words = n / 8;
    for (; w < words; w++) {
        uint64_t v = ptest_mix64(key + w);
        memcpy(c + 8 * w, &v, 8);
    }
    if (n % 8) {
        uint64_t v = ptest_mix64(key + words);
        memcpy(c + 8 * words, &v, n % 8);
    }
}

static uint64_t item_sum(const item_t *it)
{
    uint64_t h = ptest_mix64((uintptr_t)it->p ^ 0xd1e5c0de);
    h = ptest_mix64(h ^ it->n);
    h = ptest_mix64(h ^ it->id);
    h = ptest_mix64(h ^ ((uint64_t)it->align << 32 | (uint64_t)it->how << 16 | it->hops));
    return ptest_mix64(h ^ ((uint64_t)it->owner << 32 | it->gen));
}

static void describe(const item_t *it, char *buf, size_t cap)
{
    snprintf(buf, cap, "block %p n=%zu id=%llu made by %s (align %u) in thread %u gen %u, %u hops",
             (void *)it->p, it->n, (unsigned long long)it->id, it->how < H_COUNT ? how_name[it->how] : "?",
             it->align, it->owner, it->gen, it->hops);
}

/* 1 if the descriptor and the block's content are intact. */
static int check_item(const worker_t *w, const item_t *it, const char *when)
{
    if (it->sum != item_sum(it)) {
        bad(w, "%s: descriptor %p of a block corrupted (checksum)", when, (const void *)it);
        return 0;
    }
    size_t at = ptest_verify(it->p, it->n, it->id);
    if (at != (size_t)-1) {
        char d[256];
        describe(it, d, sizeof d);
        bad(w, "%s: content mismatch at offset %zu of %s", when, at, d);
        return 0;
    }
    return 1;
}

/* ---- sizes and alignments ---------------------------------------------------- */

static size_t pick_size(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 100000);
    if (x < 55000)
        return 1 + ptest_below(r, 128);
    if (x < 78000)
        return 129 + ptest_below(r, 1024 - 128);
    if (x < 88000)
        return 1025 + ptest_below(r, 8 * KiB - 1024);
    if (x < 93000) { /* at and around class and page boundaries */
        static const size_t b[] = { 16, 32, 48, 64, 112, 128, 160, 256, 320, 512, 1024, 1280,
                                    2048, 4096, 8192, 10240, 16384, 32768, 49152, 57344,
                                    65536, 81920, 131072, 262144, 1 << 20 };
        static const int d[] = { -17, -16, -1, 0, 0, 1, 15, 16, 17 };
        size_t base = b[ptest_below(r, sizeof b / sizeof b[0])];
        int dd = d[ptest_below(r, sizeof d / sizeof d[0])];
        if (dd < 0 && base <= (size_t)-dd)
            return base;
        return (size_t)((long)base + dd);
    }
    if (x < 98500)
        return 8 * KiB + 1 + ptest_below(r, 72 * KiB - 8 * KiB); /* across 64 KiB */
    if (x < 99950)
        return 64 * KiB + ptest_below(r, MiB);
    return MiB + ptest_below(r, 15 * MiB); /* 1-16 MiB: the fallback and its huge cache */
}

static size_t pick_align(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 1000);
    if (x < 250) return 16;
    if (x < 450) return 32 << ptest_below(r, 2);        /* 32, 64 */
    if (x < 700) return 128 << ptest_below(r, 4);       /* 128 .. 1024 */
    if (x < 900) return 4096;
    if (x < 985) return 8192 << ptest_below(r, 4);      /* 8 KiB .. 64 KiB */
    return 128 * KiB << ptest_below(r, 4);              /* 128 KiB .. 1 MiB */
}

static size_t natural_align(size_t n)
{
    if (g_strict_align)
        return 16;
    /* other allocators: 8 for blocks of 8 bytes or more, else the largest
     * power of two <= n (C's fundamental alignment for what fits) */
    if (n >= 8)
        return 8;
    size_t a = 1;
    while (a * 2 <= n)
        a *= 2;
    return a;
}

/* ---- allocation, resize, free ---------------------------------------------- */

static item_t *new_desc(worker_t *w)
{
    item_t *it = malloc(sizeof *it);
    if (!it)
        bad(w, "malloc(%zu) for a descriptor returned NULL (errno %d)", sizeof *it, errno);
    return it;
}

static uint64_t fresh_id(void)
{
    return __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull;
}

static item_t *make_item(worker_t *w)
{
    ptest_rng *r = &w->r;
    size_t n = pick_size(r);
    size_t align = 0;
    int how;
    uint64_t x = ptest_below(r, 100);
    if (x < 40) how = H_MALLOC;
    else if (x < 52) how = H_CALLOC;
    else if (x < 60) how = H_REALLOC_NULL;
    else if (x < 65) how = H_REALLOCARRAY_NULL;
    else if (x < 75) how = H_MEMALIGN;
    else if (x < 83) how = H_ALIGNED_ALLOC;
    else if (x < 93) how = H_POSIX_MEMALIGN;
    else if (x < 97) how = p_valloc ? H_VALLOC : H_MALLOC;
    else how = p_pvalloc ? H_PVALLOC : H_MALLOC;

    void *p = NULL;
    switch (how) {
    case H_MALLOC: p = malloc(n); break;
    case H_CALLOC: {
        size_t k = 1, m = n; /* split n = k * m several ways */
        uint64_t s = ptest_below(r, 3);
        if (s == 1) { k = n; m = 1; }
        else if (s == 2 && n % 8 == 0) { k = n / 8; m = 8; }
        p = calloc(k, m);
        break;
    }
    case H_REALLOC_NULL: p = realloc(NULL, n); break;
    case H_REALLOCARRAY_NULL: p = reallocarray(NULL, n, 1); break;
    case H_MEMALIGN: align = pick_align(r); p = memalign(align, n); break;
    case H_ALIGNED_ALLOC: /* C11: the size a multiple of the alignment (memalign and
                             posix_memalign take any size) */
        align = pick_align(r);
        n = (n + align - 1) & ~(align - 1);
        p = aligned_alloc(align, n);
        break;
    case H_POSIX_MEMALIGN: {
        align = pick_align(r);
        int rc = posix_memalign(&p, align, n);
        if (rc != 0) {
            bad(w, "posix_memalign(&p, %zu, %zu) returned %d", align, n, rc);
            return NULL;
        }
        break;
    }
    case H_VALLOC: align = 4096; p = p_valloc(n); break;
    case H_PVALLOC: align = 4096; p = p_pvalloc(n); break;
    }
    if (p == NULL) {
        bad(w, "%s(align %zu, n %zu) returned NULL (errno %d)", how_name[how], align, n, errno);
        return NULL;
    }
    size_t want = align ? align : natural_align(n);
    if ((uintptr_t)p & (want - 1))
        bad(w, "%s(align %zu, n %zu) returned %p, not %zu-aligned", how_name[how], align, n, p, want);
    if (how == H_CALLOC) {
        const unsigned char *c = p;
        for (size_t i = 0; i < n; i++)
            if (c[i]) {
                bad(w, "calloc block of %zu bytes at %p: byte %zu is %#x, not 0", n, p, i, c[i]);
                break;
            }
    }
    if (ptest_below(r, 8) == 0) {
        size_t u = malloc_usable_size(p);
        if (u < n)
            bad(w, "malloc_usable_size(%s(%zu)) = %zu", how_name[how], n, u);
    }
    item_t *it = new_desc(w);
    if (!it) {
        free(p);
        return NULL;
    }
    it->p = p;
    it->n = n;
    it->id = fresh_id();
    it->align = (uint32_t)align;
    it->how = (uint16_t)how;
    it->hops = 0;
    it->owner = w->serial;
    it->gen = w->gen;
    it->sum = item_sum(it);
    fill_from(it->p, 0, n, it->id);
    w->allocs++;
    return it;
}

/* Checks and frees it (a corrupted block is leaked, not freed). */
static void drop_item(worker_t *w, item_t *it, const char *when)
{
    if (!check_item(w, it, when))
        return;
    if (it->owner != w->serial)
        w->remote_frees++;
    free(it->p);
    free(it);
    w->frees++;
}

static void resize_item(worker_t *w, item_t *it)
{
    if (!check_item(w, it, "before realloc"))
        return;
    ptest_rng *r = &w->r;
    size_t n = it->n, m;
    uint64_t x = ptest_below(r, 100);
    if (x < 20) m = n * 2 + ptest_below(r, 64);
    else if (x < 45) m = n + 1 + ptest_below(r, 64);
    else if (x < 55) m = 64 * KiB - 2048 + ptest_below(r, 4096); /* across the 64 KiB limit */
    else if (x < 70) m = n / 2 + 1;
    else if (x < 85) m = n > 1 ? n - 1 - ptest_below(r, n / 4 + 1) : 1;
    else m = pick_size(r);
    if (m == 0)
        m = 1;
    if (m > 12 * MiB)
        m = n / 3 + 1;
    int how = ptest_below(r, 4) == 0 ? H_REALLOCARRAY : H_REALLOC;
    void *q = how == H_REALLOC ? realloc(it->p, m)
                               : (ptest_below(r, 2) ? reallocarray(it->p, m, 1) : reallocarray(it->p, 1, m));
    if (q == NULL) {
        char d[256];
        describe(it, d, sizeof d);
        bad(w, "%s to %zu returned NULL (errno %d) for %s", how_name[how], m, errno, d);
        return; /* the old block stays as it was */
    }
    size_t keep = n < m ? n : m;
    size_t at = ptest_verify(q, keep, it->id);
    if (at != (size_t)-1) {
        char d[256];
        describe(it, d, sizeof d);
        bad(w, "%s from %zu to %zu (%p -> %p) lost content at offset %zu of %s", how_name[how], n, m,
            (void *)it->p, q, at, d);
        it->p = q;
        it->n = 0; /* do not report it again */
        it->sum = item_sum(it);
        return;
    }
    if ((uintptr_t)q & (natural_align(m) - 1))
        bad(w, "%s(%zu) returned %p, not %zu-aligned", how_name[how], m, q, natural_align(m));
    if (m > n)
        fill_from(q, n, m, it->id);
    it->p = q;
    it->n = m;
    it->align = 0;
    it->how = (uint16_t)how;
    it->owner = w->serial;
    it->sum = item_sum(it);
    w->reallocs++;
}

/* Swap slot i with a random exchange slot; what comes back is checked. */
static void swap_item(worker_t *w, int i)
{
    item_t *mine = w->slot[i];
    if (mine) {
        mine->hops++;
        mine->sum = item_sum(mine);
    }
    item_t *got = __atomic_exchange_n(&xfer[ptest_below(&w->r, XFER)], mine, __ATOMIC_ACQ_REL);
    w->slot[i] = NULL;
    w->swaps++;
    if (got && check_item(w, got, "after a swap"))
        w->slot[i] = got;
}

/* Short-lived blocks, checked and freed in reverse or random order. */
static void burst(worker_t *w)
{
    enum { MAXB = 64 };
    unsigned char *p[MAXB];
    size_t n[MAXB];
    int order[MAXB];
    uint64_t key = ptest_next(&w->r);
    int k = 16 + (int)ptest_below(&w->r, MAXB - 16 + 1);
    for (int i = 0; i < k; i++) {
        n[i] = 1 + ptest_below(&w->r, ptest_below(&w->r, 4) ? 256 : 4096);
        p[i] = malloc(n[i]);
        if (!p[i])
            bad(w, "burst: malloc(%zu) returned NULL", n[i]);
        else
            fill_from(p[i], 0, n[i], key + (uint64_t)i);
        order[i] = i;
    }
    if (ptest_below(&w->r, 2)) { /* reverse */
        for (int i = 0; i < k; i++)
            order[i] = k - 1 - i;
    } else { /* random (Fisher-Yates) */
        for (int i = k - 1; i > 0; i--) {
            int j = (int)ptest_below(&w->r, (uint64_t)i + 1);
            int t = order[i]; order[i] = order[j]; order[j] = t;
        }
    }
    for (int j = 0; j < k; j++) {
        int i = order[j];
        if (!p[i])
            continue;
        size_t at = ptest_verify(p[i], n[i], key + (uint64_t)i);
        if (at != (size_t)-1) {
            bad(w, "burst: block %p of %zu bytes damaged at offset %zu", (void *)p[i], n[i], at);
            continue;
        }
        free(p[i]);
    }
    w->bursts++;
}

static void *worker_main(void *arg);

/* A helper: allocates, swaps half into the exchange array, frees what it
 * got and what it kept, and exits; its blocks outlive it. */
static void run_helper(worker_t *parent)
{
    worker_t *h = calloc(1, sizeof *h);
    if (!h) {
        bad(parent, "calloc(1, %zu) returned NULL", sizeof *h);
        return;
    }
    h->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
    h->gen = parent->gen;
    h->helper = 1;
    h->r.s = ptest_mix64(g_seed ^ ((uint64_t)h->serial << 32));
    if (pthread_create(&h->tid, NULL, worker_main, h) != 0) {
        bad(parent, "pthread_create (helper) failed");
        free(h);
        return;
    }
    pthread_join(h->tid, NULL);
    parent->helpers++;
    parent->ops += h->ops;
    parent->allocs += h->allocs;
    parent->frees += h->frees;
    parent->remote_frees += h->remote_frees;
    parent->swaps += h->swaps;
    free(h);
}

static void helper_body(worker_t *h)
{
    enum { HN = 48 };
    for (int i = 0; i < HN; i++)
        h->slot[i] = make_item(h);
    for (int i = 0; i < HN; i += 2)
        swap_item(h, i);
    for (int i = 0; i < HN; i++)
        if (h->slot[i]) {
            drop_item(h, h->slot[i], "helper free");
            h->slot[i] = NULL;
        }
    h->ops += HN * 2;
}

static void adopt_orphans(worker_t *w)
{
    pthread_mutex_lock(&orphan_lock);
    int take = norphans < WS / 2 ? norphans : WS / 2;
    for (int i = 0; i < take; i++)
        w->slot[i] = orphans[--norphans];
    pthread_mutex_unlock(&orphan_lock);
    for (int i = 0; i < take; i++)
        if (!check_item(w, w->slot[i], "adopted from a retired thread"))
            w->slot[i] = NULL;
}

static void leave_orphans(worker_t *w)
{
    for (int i = 0; i < WS; i++) {
        item_t *it = w->slot[i];
        if (!it)
            continue;
        w->slot[i] = NULL;
        if (ptest_below(&w->r, 2)) {
            drop_item(w, it, "retiring thread's free");
            continue;
        }
        it->hops++;
        it->sum = item_sum(it);
        pthread_mutex_lock(&orphan_lock);
        int kept = norphans < ORPHAN_MAX;
        if (kept)
            orphans[norphans++] = it;
        pthread_mutex_unlock(&orphan_lock);
        if (!kept)
            drop_item(w, it, "retiring thread's free");
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    if (w->helper) {
        helper_body(w);
        return NULL;
    }
    adopt_orphans(w);
    /* up to two helper threads at random moments */
    long helper_at[2] = { -1, -1 };
    for (int k = 0; k < 2; k++)
        if (ptest_below(&w->r, 3) == 0)
            helper_at[k] = (long)ptest_below(&w->r, (uint64_t)w->ops_budget + 1);
    for (long op = 0; op < w->ops_budget; op++) {
        if (op == helper_at[0] || op == helper_at[1])
            run_helper(w);
        int i = (int)ptest_below(&w->r, WS);
        item_t *it = w->slot[i];
        uint64_t x = ptest_below(&w->r, 1000);
        if (x < 420) { /* replace */
            if (it)
                drop_item(w, it, "before free");
            w->slot[i] = make_item(w);
        } else if (x < 620) { /* resize */
            if (it)
                resize_item(w, it);
            else
                w->slot[i] = make_item(w);
        } else if (x < 820) {
            swap_item(w, i);
        } else if (x < 880) { /* free */
            if (it)
                drop_item(w, it, "before free");
            w->slot[i] = NULL;
        } else if (x < 950) { /* check */
            if (it && check_item(w, it, "check")) {
                size_t u = malloc_usable_size(it->p);
                if (u < it->n) {
                    char d[256];
                    describe(it, d, sizeof d);
                    bad(w, "malloc_usable_size = %zu < n for %s", u, d);
                }
            }
        } else if (x < 999) {
            burst(w);
        } else {
            malloc_trim(0);
        }
        w->ops++;
    }
    leave_orphans(w);
    pthread_mutex_lock(&done_lock);
    w->done = 1;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}

static void fold(const worker_t *w)
{
    t_ops += w->ops;
    t_allocs += w->allocs;
    t_frees += w->frees;
    t_remote += w->remote_frees;
    t_reallocs += w->reallocs;
    t_swaps += w->swaps;
    t_bursts += w->bursts;
    t_helpers += w->helpers;
}

static worker_t *start_worker(int gen, long ops)
{
    worker_t *w = calloc(1, sizeof *w);
    if (!CHECK(w != NULL, "calloc(1, %zu) returned NULL", sizeof *w))
        return NULL;
    w->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
    w->gen = (uint32_t)gen;
    w->ops_budget = ops;
    w->r.s = ptest_mix64(g_seed ^ ((uint64_t)w->serial << 32));
    if (!CHECK(pthread_create(&w->tid, NULL, worker_main, w) == 0, "pthread_create failed")) {
        free(w);
        return NULL;
    }
    t_threads++;
    return w;
}

/* One generation: g_threads workers alive at a time, each retired after its
 * budget and replaced until the generation's budget is spent. */
static void run_generation(int gen, ptest_rng *r)
{
    long unit = (long)g_scale * OPS_UNIT;
    long budget = unit * g_threads, launched = 0;
    worker_t **live = calloc((size_t)g_threads, sizeof *live);
    if (!CHECK(live != NULL, "calloc failed"))
        return;
    int running = 0;
    for (int k = 0; k < g_threads; k++) {
        long ops = unit / 4 + (long)ptest_below(r, (uint64_t)unit * 3 / 2 + 1);
        live[k] = start_worker(gen, ops);
        if (live[k]) {
            launched += ops;
            running++;
        }
    }
    while (running > 0) {
        pthread_mutex_lock(&done_lock);
        int found = -1;
        for (;;) {
            for (int k = 0; k < g_threads && found < 0; k++)
                if (live[k] && live[k]->done)
                    found = k;
            if (found >= 0)
                break;
            pthread_cond_wait(&done_cond, &done_lock);
        }
        pthread_mutex_unlock(&done_lock);
        worker_t *w = live[found];
        pthread_join(w->tid, NULL);
        fold(w);
        free(w);
        live[found] = NULL;
        running--;
        if (launched < budget) {
            long ops = unit / 4 + (long)ptest_below(r, (uint64_t)unit * 3 / 2 + 1);
            live[found] = start_worker(gen, ops);
            if (live[found]) {
                launched += ops;
                running++;
            }
        }
    }
    free(live);
}

static void drain_all(void)
{
    worker_t w;
    memset(&w, 0, sizeof w);
    w.serial = 0;
    for (int k = 0; k < XFER; k++)
        if (xfer[k]) {
            drop_item(&w, xfer[k], "final free of an exchange slot");
            xfer[k] = NULL;
        }
    for (int k = 0; k < norphans; k++)
        drop_item(&w, orphans[k], "final free of a retired thread's block");
    norphans = 0;
    t_frees += w.frees;
}

/* name, if the allocator in the process defines it (jemalloc has no pvalloc:
 * glibc's would hand out blocks jemalloc's free cannot take). */
static void *same_object_as_malloc(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    Dl_info a, b;
    if (!f || !dladdr(f, &a) || !dladdr(dlsym(RTLD_DEFAULT, "malloc"), &b) || !a.dli_fname ||
        !b.dli_fname || strcmp(a.dli_fname, b.dli_fname) != 0) {
        if (!ptest_any())
            CHECK(0, "%s() does not come from the object that defines malloc()", name);
        return NULL;
    }
    return f;
}

static long arg_long(int argc, char **argv, int i, long def, long lo, long hi)
{
    if (argc <= i)
        return def;
    char *end;
    long v = strtol(argv[i], &end, 0);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "stress: bad argument %d '%s' (want %ld..%ld)\n"
                        "usage: stress [THREADS [SCALE [ITERATIONS [SEED]]]]\n",
                i, argv[i], lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    ptest_require_mpool("stress");
    g_threads = (int)arg_long(argc, argv, 1, g_threads, 1, 1024);
    g_scale = (int)arg_long(argc, argv, 2, g_scale, 1, 1000000);
    g_iters = (int)arg_long(argc, argv, 3, g_iters, 1, 1000000);
    if (argc > 4)
        g_seed = strtoull(argv[4], NULL, 0);
    g_strict_align = !ptest_any();
    p_valloc = (alloc1_fn)same_object_as_malloc("valloc");
    p_pvalloc = (alloc1_fn)same_object_as_malloc("pvalloc");

    double t0 = ptest_now();
    ptest_rng r = { g_seed };
    size_t peak_rss = 0;
    for (int gen = 0; gen < g_iters; gen++) {
        run_generation(gen, &r);
        size_t rss = ptest_rss();
        if (rss > peak_rss)
            peak_rss = rss;
        if (__atomic_load_n(&g_bad, __ATOMIC_RELAXED) >= MAX_REPORTS)
            break;
    }
    drain_all();
    double secs = ptest_now() - t0;
    unsigned long nbad = __atomic_load_n(&g_bad, __ATOMIC_RELAXED);
    CHECK(nbad == 0, "%lu errors (seed %#llx; rerun: stress %d %d %d %#llx)", nbad,
          (unsigned long long)g_seed, g_threads, g_scale, g_iters, (unsigned long long)g_seed);
    CHECK(t_allocs == t_frees, "%lu blocks allocated, %lu freed", t_allocs, t_frees);
    CHECK(t_remote > 0, "no block was freed by another thread");
    printf("stress: threads=%d scale=%d iterations=%d seed=%#llx ops=%lu allocs=%lu reallocs=%lu "
           "swaps=%lu remote_frees=%lu (%.0f%%) bursts=%lu threads=%lu+%lu helpers peak_rss=%zuMiB "
           "seconds=%.2f\n",
           g_threads, g_scale, g_iters, (unsigned long long)g_seed, t_ops, t_allocs, t_reallocs,
           t_swaps, t_remote, t_frees ? 100.0 * (double)t_remote / (double)t_frees : 0.0, t_bursts,
           t_threads, t_helpers, peak_rss / MiB, secs);
    return ptest_finish();
}
