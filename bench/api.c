/* api: the explicit API against what programs would otherwise write.
 *
 *   pool-1t   fixed-pool get+put, one thread           vs mutex free list, malloc/free
 *   pool-2t   the same with two threads sharing a pool
 *   buf       buffer new + retain + release x2         vs malloc + atomic counter + free
 *
 * Variants run interleaved (A B C A B C ...) inside one process, R rounds;
 * medians in ns per operation and ratios to the first variant are printed.
 * Linked with -lmpool, so malloc/free here are libmpool's too.
 * usage: api [-n ops_per_round] [-r rounds] [-s block_size]
 */
#define _GNU_SOURCE
#include <mpool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long ops = 2000000, rounds = 7;
static size_t bsize = 64;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the competitors ------------------------------------------------------------ */
typedef struct node { struct node *next; } node_t;
static pthread_mutex_t fl_lock = PTHREAD_MUTEX_INITIALIZER;
static node_t *fl_head;
static void *fl_get(void)
{
    pthread_mutex_lock(&fl_lock);
    node_t *n = fl_head;
    if (n)
        fl_head = n->next;
    pthread_mutex_unlock(&fl_lock);
    return n ? (void *)n : malloc(bsize);
}
static void fl_put(void *p)
{
    pthread_mutex_lock(&fl_lock);
    ((node_t *)p)->next = fl_head;
    fl_head = p;
    pthread_mutex_unlock(&fl_lock);
}

static mpool_fixed_t *pool;

typedef enum { POOL, FREELIST, MALLOC } kind_t;
typedef struct { kind_t kind; long n; } job_t;

static void *take(kind_t kind)
{
    return kind == POOL ? mpool_fixed_get(pool) : kind == FREELIST ? fl_get() : malloc(bsize);
}

static void give_back(kind_t kind, void *p)
{
    if (p == NULL)
        return;
    if (kind == POOL)
        mpool_fixed_put(pool, p);
    else if (kind == FREELIST)
        fl_put(p);
    else
        free(p);
}

/* get and put with a few blocks held, so the pattern is not just get/put of one */
static void *run_pairs(void *arg)
{
    job_t *j = arg;
    void *held[4] = { 0 };
    for (long i = 0; i < j->n; i++) {
        int k = (int)(i & 3);
        give_back(j->kind, held[k]);
        held[k] = take(j->kind);
        *(volatile char *)held[k] = (char)i;
    }
    for (int k = 0; k < 4; k++)
        give_back(j->kind, held[k]);
    return NULL;
}

static double time_pairs(kind_t kind, int threads)
{
    pthread_t t[2];
    job_t j = { kind, ops / threads };
    double t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run_pairs, &j);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return (now() - t0) * 1e9 / ops;
}

typedef struct { atomic_uint refs; size_t len; } rc_t;
static double time_buf(int ours)
{
    double t0 = now();
    for (long i = 0; i < ops; i++) {
        if (ours) {
            mpool_buf_t *b = mpool_buf_new(bsize);
            ((char *)mpool_buf_data(b))[0] = (char)i;
            mpool_buf_retain(b);
            mpool_buf_release(b);
            mpool_buf_release(b);
        } else {
            rc_t *b = malloc(sizeof *b + bsize);
            atomic_init(&b->refs, 1);
            ((char *)(b + 1))[0] = (char)i;
            atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
            if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
                free(b);
            if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
                free(b);
        }
    }
    return (now() - t0) * 1e9 / ops;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "n:r:s:")) != -1) {
        if (c == 'n') ops = atol(optarg);
        else if (c == 'r') rounds = atol(optarg);
        else if (c == 's') bsize = (size_t)atol(optarg);
        else return fprintf(stderr, "usage: %s [-n ops] [-r rounds] [-s block_size]\n", argv[0]), 2;
    }
    struct mpool_fixed_config cfg = { .block_size = bsize, .capacity = 64, .prealloc = 64 };
    pool = mpool_fixed_create(&cfg);
    enum { V = 7 };
    const char *names[V] = { "pool-1t mpool_fixed", "pool-1t mutex freelist", "pool-1t malloc/free",
                             "pool-2t mpool_fixed", "pool-2t mutex freelist", "pool-2t malloc/free",
                             "buf mpool_buf" };
    static double t[V][64], tb[64];
    if (rounds > 64)
        rounds = 64;
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < 3; k++) {
            int v = (int)((k + r) % 3); /* rotate the order each round */
            t[v][r] = time_pairs((kind_t)v, 1);
            t[3 + v][r] = time_pairs((kind_t)v, 2);
        }
        if (r % 2) {
            tb[r] = time_buf(0);
            t[6][r] = time_buf(1);
        } else {
            t[6][r] = time_buf(1);
            tb[r] = time_buf(0);
        }
    }
    printf("block %zu bytes, %ld ops x %ld rounds, medians (ns/op; ratio to the first of its group)\n",
           bsize, ops, rounds);
    double base = 0;
    for (int v = 0; v < 6; v++) {
        double m = median(t[v], (int)rounds);
        if (v % 3 == 0)
            base = m;
        printf("  %-24s %7.2f  %.2fx\n", names[v], m, m / base);
    }
    double mb = median(t[6], (int)rounds), mr = median(tb, (int)rounds);
    printf("  %-24s %7.2f  1.00x\n  %-24s %7.2f  %.2fx\n", names[6], mb, "buf malloc+atomic", mr, mr / mb);
    mpool_fixed_destroy(pool);
    return 0;
}
