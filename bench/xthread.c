/* xthread: random sizes, a share of the blocks freed by other threads.
 *
 * The shape of rpmalloc's cross-thread tests. `threads` threads each do
 * `ops` steps: allocate a block of a random size 16 B..16 KiB (uniform) and
 * write it (header, a byte per cache line, last byte). With probability
 * `share` % the block goes to another thread, chosen at random: it is put
 * into a per-destination batch of `batch` pointers, and a full batch is
 * queued in the destination's inbox (mutex-protected, at most `depth`
 * batches; a sender facing a full inbox drains its own meanwhile). Otherwise
 * the block replaces a random one of the thread's `slots` local blocks,
 * which is checked and freed. Every thread empties its inbox regularly,
 * checking and freeing what others sent it (cross-thread frees). At the end
 * every thread flushes its batches, frees its local blocks, and keeps
 * draining until all threads are done.
 *
 * Memory held: ~slots x 8 KiB per thread live locally, plus the blocks in
 * flight; how much an allocator keeps on top of that (the remote frees
 * return memory to the heap that made it) shows in the peak RSS.
 *
 * usage: xthread [-t threads] [-n ops_per_thread] [-w slots_per_thread]
 *                [-p share_percent] [-b batch] [-d inbox_depth] [-S seed]
 * prints: metric ns_per_op (wall time / (ops * threads)), checksum, time
 */
#include "bench_common.h"
#include <pthread.h>
#include <stdatomic.h>

typedef struct batch {
    struct batch *next;
    long n;
    void *blk[];
} batch_t;

typedef struct {
    pthread_mutex_t mu;
    batch_t *head, *tail;
    _Atomic long count;
    char pad[64];
} inbox_t;

typedef struct { void *p; } slot_t;

static inbox_t *g_inbox;
static long g_threads, g_ops, g_slots, g_share, g_batch, g_depth;
static _Atomic long g_finished;

typedef struct {
    int id;
    uint64_t seed;
    uint64_t sum;
    unsigned long bad;
    long received;
} targ_t;

/* stop at the first bad block: freeing it could crash before the report */
static uint64_t check(targ_t *a, const void *p)
{
    unsigned long before = a->bad;
    uint64_t h = verify_self(p, &a->bad);
    if (a->bad != before) {
        printf("CORRUPTION xthread thread %d: block %p\n", a->id, p);
        fflush(stdout);
        fprintf(stderr, "xthread: thread %d: block %p corrupted\n", a->id, p);
        exit(3);
    }
    return h;
}

static batch_t *new_batch(void)
{
    batch_t *b = (batch_t *)malloc(sizeof(batch_t) + sizeof(void *) * (size_t)g_batch);
    if (!b) abort();
    b->next = NULL;
    b->n = 0;
    return b;
}

/* take everything in my inbox; returns the number of blocks freed */
static long drain(targ_t *a)
{
    inbox_t *in = &g_inbox[a->id];
    if (atomic_load_explicit(&in->count, memory_order_relaxed) == 0) return 0;
    pthread_mutex_lock(&in->mu);
    batch_t *b = in->head;
    in->head = in->tail = NULL;
    atomic_store_explicit(&in->count, 0, memory_order_relaxed);
    pthread_mutex_unlock(&in->mu);
    long n = 0;
    while (b) {
        batch_t *next = b->next;
        for (long i = 0; i < b->n; i++) {
            a->sum += check(a, b->blk[i]);
            free(b->blk[i]);
        }
        n += b->n;
        free(b);
        b = next;
    }
    a->received += n;
    return n;
}

static void send_batch(targ_t *a, long dest, batch_t *b)
{
    inbox_t *in = &g_inbox[dest];
    for (;;) {
        pthread_mutex_lock(&in->mu);
        if (atomic_load_explicit(&in->count, memory_order_relaxed) < g_depth) {
            if (in->tail) in->tail->next = b; else in->head = b;
            in->tail = b;
            atomic_store_explicit(&in->count, atomic_load_explicit(&in->count, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            pthread_mutex_unlock(&in->mu);
            return;
        }
        pthread_mutex_unlock(&in->mu);
        if (!drain(a)) sched_yield();
    }
}

static void *worker(void *arg)
{
    targ_t *a = (targ_t *)arg;
    rng_t r;
    rng_seed(&r, a->seed + (uint64_t)a->id * 15485863);
    slot_t *slots = (slot_t *)calloc((size_t)g_slots, sizeof(slot_t));
    batch_t **out = (batch_t **)calloc((size_t)g_threads, sizeof(batch_t *));
    if (!slots || !out) abort();
    for (long i = 0; i < g_ops; i++) {
        uint64_t v = rng_next(&r), w = rng_next(&r), tag = rng_next(&r);
        size_t size = 16 + (size_t)(v % (16384 - 16 + 1));
        void *p = malloc(size);
        if (!p) { fprintf(stderr, "xthread: malloc(%zu) failed\n", size); exit(1); }
        stamp_block(p, size, tag);
        if (g_threads > 1 && (long)(w % 100) < g_share) {
            long dest = (a->id + 1 + (long)((w >> 8) % (uint64_t)(g_threads - 1))) % g_threads;
            if (!out[dest]) out[dest] = new_batch();
            out[dest]->blk[out[dest]->n++] = p;
            if (out[dest]->n == g_batch) {
                send_batch(a, dest, out[dest]);
                out[dest] = NULL;
            }
        } else {
            slot_t *s = &slots[(w >> 8) % (uint64_t)g_slots];
            if (s->p) {
                a->sum += check(a, s->p);
                free(s->p);
            }
            s->p = p;
        }
        if ((i & 15) == 0) drain(a);
    }
    for (long d = 0; d < g_threads; d++)
        if (out[d]) send_batch(a, d, out[d]);
    for (long k = 0; k < g_slots; k++) {
        if (slots[k].p) {
            a->sum += check(a, slots[k].p);
            free(slots[k].p);
        }
    }
    free(slots);
    free(out);
    atomic_fetch_add_explicit(&g_finished, 1, memory_order_release);
    for (;;) {
        int all = atomic_load_explicit(&g_finished, memory_order_acquire) == g_threads;
        long n = drain(a);
        if (all) break;   /* everything sent to me was queued before the count reached g_threads */
        if (!n) sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 4, ops = 500000, slots = 1000, share = 50, batch = 64, depth = 8;
    uint64_t seed = 0x7270c0deULL;
    int c;
    while ((c = getopt(argc, argv, "t:n:w:p:b:d:S:h")) != -1) {
        switch (c) {
        case 't': threads = parse_long(optarg, "-t"); break;
        case 'n': ops = parse_long(optarg, "-n"); break;
        case 'w': slots = parse_long(optarg, "-w"); break;
        case 'p': share = parse_long(optarg, "-p"); break;
        case 'b': batch = parse_long(optarg, "-b"); break;
        case 'd': depth = parse_long(optarg, "-d"); break;
        case 'S': seed = (uint64_t)parse_long(optarg, "-S"); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-n ops_per_thread] [-w slots_per_thread] "
                            "[-p share_percent] [-b batch] [-d inbox_depth] [-S seed]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads < 1 || slots < 1 || batch < 1 || depth < 1 || share > 100) {
        fprintf(stderr, "need threads>=1, slots>=1, batch>=1, depth>=1, share<=100\n");
        return 2;
    }
    g_threads = threads; g_ops = ops; g_slots = slots; g_share = share; g_batch = batch; g_depth = depth;
    g_inbox = (inbox_t *)calloc((size_t)threads, sizeof(inbox_t));
    pthread_t *tid = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
    targ_t *args = (targ_t *)calloc((size_t)threads, sizeof(targ_t));
    if (!g_inbox || !tid || !args) abort();
    for (long i = 0; i < threads; i++) pthread_mutex_init(&g_inbox[i].mu, NULL);
    double t0 = now_sec();
    for (long i = 0; i < threads; i++) {
        args[i].id = (int)i; args[i].seed = seed;
        if (pthread_create(&tid[i], NULL, worker, &args[i])) { perror("pthread_create"); return 1; }
    }
    uint64_t sum = 0;
    unsigned long bad = 0;
    long received = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        sum += args[i].sum;   /* addition: the same whichever thread freed a block */
        bad += args[i].bad;
        received += args[i].received;
    }
    double secs = now_sec() - t0;
    printf("metric ns_per_op %.2f\n", secs * 1e9 / (double)(ops * threads > 0 ? ops * threads : 1));
    print_result("xthread", sum + (uint64_t)received, bad, secs);
    for (long i = 0; i < threads; i++) pthread_mutex_destroy(&g_inbox[i].mu);
    free(g_inbox); free(tid); free(args);
    return bad ? 3 : 0;
}
