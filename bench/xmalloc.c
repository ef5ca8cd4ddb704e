/* xmalloc: threads in a ring hand batches of blocks to the next thread.
 *
 * `threads` threads; thread i allocates `batches` batches of `batch` stamped
 * blocks (8..1024 bytes, some up to 8 KiB) and hands each batch to thread
 * i+1 (mod threads) through a small mutex-protected inbox (at most `depth`
 * batches queued); meanwhile it drains its own inbox, verifying and freeing
 * the blocks that thread i-1 made. Modelled on the xmalloc-test / larson
 * style benchmarks: memory allocated on one thread is freed on another
 * "over time", while both keep allocating.
 *
 * usage: xmalloc [-t threads] [-b batches_per_thread] [-s blocks_per_batch] [-d inbox_depth]
 */
#include "bench_common.h"
#include <pthread.h>

typedef struct batch {
    struct batch *next;
    long n;
    void *blk[];
} batch_t;

typedef struct {
    pthread_mutex_t mu;
    batch_t *head, *tail;
    long count;
    char pad[64];
} inbox_t;

static inbox_t *g_inbox;
static long g_threads, g_batches, g_batch, g_depth;

typedef struct {
    int id;
    uint64_t sum;
    unsigned long bad;
} targ_t;

static void *worker(void *arg)
{
    targ_t *a = (targ_t *)arg;
    rng_t r;
    rng_seed(&r, 0x3a110cULL + (uint64_t)a->id * 31337);
    inbox_t *mine = &g_inbox[a->id];
    inbox_t *next = &g_inbox[(a->id + 1) % g_threads];
    long produced = 0, consumed = 0;
    uint64_t sum = 0;
    unsigned long bad = 0;
    while (produced < g_batches || consumed < g_batches) {
        int did = 0;
        if (produced < g_batches) {
            pthread_mutex_lock(&next->mu);
            long cnt = next->count;
            pthread_mutex_unlock(&next->mu);
            if (cnt < g_depth) {
                batch_t *b = (batch_t *)malloc(sizeof(batch_t) + sizeof(void *) * (size_t)g_batch);
                if (!b) abort();
                b->next = NULL;
                b->n = g_batch;
                for (long i = 0; i < g_batch; i++) {
                    size_t size = rng_size_small(&r, 8192);
                    if (size < 16) size = 16;
                    uint64_t tag = rng_next(&r);
                    void *p = malloc(size);
                    if (!p) abort();
                    stamp_block(p, size, tag);
                    b->blk[i] = p;
                }
                pthread_mutex_lock(&next->mu);
                if (next->tail) next->tail->next = b; else next->head = b;
                next->tail = b;
                next->count++;
                pthread_mutex_unlock(&next->mu);
                produced++;
                did = 1;
            }
        }
        batch_t *got = NULL;
        pthread_mutex_lock(&mine->mu);
        if (mine->head) {
            got = mine->head;
            mine->head = got->next;
            if (!mine->head) mine->tail = NULL;
            mine->count--;
        }
        pthread_mutex_unlock(&mine->mu);
        if (got) {
            for (long i = 0; i < got->n; i++) {
                sum += verify_self(got->blk[i], &bad);
                free(got->blk[i]);
            }
            free(got);
            consumed++;
            did = 1;
        }
        if (!did) sched_yield();
    }
    a->sum = sum;
    a->bad = bad;
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 4, batches = 3000, batch = 500, depth = 4;
    int c;
    while ((c = getopt(argc, argv, "t:b:s:d:h")) != -1) {
        switch (c) {
        case 't': threads = parse_long(optarg, "-t"); break;
        case 'b': batches = parse_long(optarg, "-b"); break;
        case 's': batch = parse_long(optarg, "-s"); break;
        case 'd': depth = parse_long(optarg, "-d"); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-b batches_per_thread] [-s blocks_per_batch] [-d inbox_depth]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads < 1 || depth < 1) { fprintf(stderr, "need threads>=1, depth>=1\n"); return 2; }
    g_threads = threads; g_batches = batches; g_batch = batch; g_depth = depth;
    g_inbox = (inbox_t *)calloc((size_t)threads, sizeof(inbox_t));
    for (long i = 0; i < threads; i++) pthread_mutex_init(&g_inbox[i].mu, NULL);
    pthread_t *tid = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
    targ_t *args = (targ_t *)calloc((size_t)threads, sizeof(targ_t));
    double t0 = now_sec();
    for (long i = 0; i < threads; i++) {
        args[i].id = (int)i;
        if (pthread_create(&tid[i], NULL, worker, &args[i])) { perror("pthread_create"); return 1; }
    }
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        sum += args[i].sum;
        bad += args[i].bad;
    }
    double secs = now_sec() - t0;
    printf("metric ns_per_block %.2f\n", secs * 1e9 / (double)(threads * batches * batch > 0 ? threads * batches * batch : 1));
    print_result("xmalloc", sum, bad, secs);
    for (long i = 0; i < threads; i++) pthread_mutex_destroy(&g_inbox[i].mu);
    free(g_inbox); free(tid); free(args);
    return bad ? 3 : 0;
}
