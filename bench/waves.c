/* waves: waves of short-lived threads.
 *
 * `waves` times: start `threads` threads; each does some private churn
 * (malloc/free of small blocks, warming its thread cache), then allocates
 * `keep` blocks (16..2 KiB) that it leaves behind and exits. The main thread
 * joins the wave, verifies and frees every block left behind (a remote free
 * into the heap of a thread that no longer exists), then starts the next wave.
 * Stresses thread-cache setup/teardown, abandoned heaps/arenas, and reuse of
 * memory owned by dead threads.
 *
 * usage: waves [-w waves] [-t threads_per_wave] [-k blocks_left_per_thread] [-c churn_ops_per_thread]
 */
#include "bench_common.h"
#include <pthread.h>

typedef struct {
    int wave, id;
    long keep, churn;
    void **blocks;
    uint64_t sum;
} targ_t;

static void *worker(void *arg)
{
    targ_t *a = (targ_t *)arg;
    rng_t r;
    rng_seed(&r, 0x77777ULL + (uint64_t)a->wave * 1000003 + (uint64_t)a->id * 7919);
    uint64_t sum = 0;
    /* private churn through a small ring of 64 live blocks */
    void *ring[64] = {0};
    size_t rsz[64] = {0};
    for (long i = 0; i < a->churn; i++) {
        unsigned k = (unsigned)(i & 63);
        if (ring[k]) { sum += ((unsigned char *)ring[k])[rsz[k] - 1]; free(ring[k]); }
        size_t size = rng_range(&r, 8, 512);
        unsigned char *p = (unsigned char *)malloc(size);
        if (!p) abort();
        for (size_t j = 0; j < size; j += 64) p[j] = (unsigned char)j;
        p[size - 1] = (unsigned char)size;
        ring[k] = p; rsz[k] = size;
    }
    for (int k = 0; k < 64; k++) if (ring[k]) { sum += ((unsigned char *)ring[k])[rsz[k] - 1]; free(ring[k]); }
    /* blocks left behind for the main thread */
    for (long i = 0; i < a->keep; i++) {
        size_t size = rng_range(&r, 16, 2048);
        uint64_t tag = rng_next(&r);
        void *p = malloc(size);
        if (!p) abort();
        stamp_block(p, size, tag);
        a->blocks[i] = p;
    }
    a->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    long waves = 50, threads = 8, keep = 4000, churn = 20000;
    int c;
    while ((c = getopt(argc, argv, "w:t:k:c:h")) != -1) {
        switch (c) {
        case 'w': waves = parse_long(optarg, "-w"); break;
        case 't': threads = parse_long(optarg, "-t"); break;
        case 'k': keep = parse_long(optarg, "-k"); break;
        case 'c': churn = parse_long(optarg, "-c"); break;
        default:
            fprintf(stderr, "usage: %s [-w waves] [-t threads_per_wave] [-k blocks_left_per_thread] [-c churn_ops_per_thread]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads < 1) { fprintf(stderr, "need threads>=1\n"); return 2; }
    pthread_t *tid = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
    targ_t *args = (targ_t *)calloc((size_t)threads, sizeof(targ_t));
    for (long i = 0; i < threads; i++) args[i].blocks = (void **)calloc((size_t)keep + 1, sizeof(void *));
    uint64_t sum = 0;
    unsigned long bad = 0;
    double t0 = now_sec();
    for (long w = 0; w < waves; w++) {
        for (long i = 0; i < threads; i++) {
            args[i].wave = (int)w; args[i].id = (int)i;
            args[i].keep = keep; args[i].churn = churn;
            if (pthread_create(&tid[i], NULL, worker, &args[i])) { perror("pthread_create"); return 1; }
        }
        for (long i = 0; i < threads; i++) pthread_join(tid[i], NULL);
        for (long i = 0; i < threads; i++) {
            sum += args[i].sum;
            for (long k = 0; k < keep; k++) {
                sum += verify_self(args[i].blocks[k], &bad);
                free(args[i].blocks[k]);
            }
        }
    }
    double secs = now_sec() - t0;
    for (long i = 0; i < threads; i++) free(args[i].blocks);
    free(args); free(tid);
    print_result("waves", sum, bad, secs);
    return bad ? 3 : 0;
}
