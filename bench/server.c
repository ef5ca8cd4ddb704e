/* server: server-like replacement of blocks in a shared slot array.
 *
 * `threads` threads share one array of `slots` atomic pointers. Each of
 * `ops` operations per thread allocates a stamped block of 16..4096 bytes
 * (mostly small), swaps it into a random slot with an atomic exchange and
 * verifies and frees whatever block was there -- which was allocated by any
 * thread, so roughly half of all frees are remote. Models a cache/session
 * table in a multi-threaded server.
 *
 * The checksum only covers what each thread allocated (deterministic); the
 * frees are verified from the self-describing block header.
 *
 * usage: server [-t threads] [-n ops_per_thread] [-w slots]
 */
#include "bench_common.h"
#include <pthread.h>
#include <stdatomic.h>

static _Atomic(void *) *g_slots;
static long g_nslots;

typedef struct {
    int id;
    long ops;
    uint64_t sum;
    unsigned long bad;
} targ_t;

static void *worker(void *arg)
{
    targ_t *a = (targ_t *)arg;
    rng_t r;
    rng_seed(&r, 0x5e7e7ULL + (uint64_t)a->id * 15485863);
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < a->ops; i++) {
        size_t size = rng_size_small(&r, 4096);
        if (size < 16) size = 16;
        uint64_t tag = rng_next(&r);
        void *p = malloc(size);
        if (!p) abort();
        stamp_block(p, size, tag);
        sum += size ^ (tag & 0xffffff);
        size_t k = (size_t)(rng_next(&r) % (uint64_t)g_nslots);
        void *old = atomic_exchange_explicit(&g_slots[k], p, memory_order_acq_rel);
        if (old) {
            verify_self(old, &bad);
            free(old);
        }
    }
    a->sum = sum;
    a->bad = bad;
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 2, ops = 3000000, slots = 50000;
    int c;
    while ((c = getopt(argc, argv, "t:n:w:h")) != -1) {
        switch (c) {
        case 't': threads = parse_long(optarg, "-t"); break;
        case 'n': ops = parse_long(optarg, "-n"); break;
        case 'w': slots = parse_long(optarg, "-w"); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-n ops_per_thread] [-w slots]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads < 1 || slots < 1) { fprintf(stderr, "need threads>=1, slots>=1\n"); return 2; }
    g_nslots = slots;
    g_slots = (_Atomic(void *) *)calloc((size_t)slots, sizeof(*g_slots));
    pthread_t *tid = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
    targ_t *args = (targ_t *)calloc((size_t)threads, sizeof(targ_t));
    double t0 = now_sec();
    for (long i = 0; i < threads; i++) {
        args[i].id = (int)i; args[i].ops = ops;
        if (pthread_create(&tid[i], NULL, worker, &args[i])) { perror("pthread_create"); return 1; }
    }
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        sum += args[i].sum;
        bad += args[i].bad;
    }
    long live = 0;
    for (long k = 0; k < slots; k++) {
        void *p = atomic_load(&g_slots[k]);
        if (p) { verify_self(p, &bad); free(p); live++; }
    }
    double secs = now_sec() - t0;
    printf("metric ns_per_op %.2f\n", secs * 1e9 / (double)(ops * threads > 0 ? ops * threads : 1));
    print_result("server", sum, bad, secs);
    free((void *)g_slots); free(tid); free(args);
    return bad ? 3 : 0;
}
