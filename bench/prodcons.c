/* prodcons: producer/consumer where every free is a remote free.
 *
 * `pairs` producer threads each allocate `n` blocks (16..4 KiB, mostly
 * small), stamp them and push the pointers through a bounded lock-free SPSC
 * ring to their own consumer thread, which verifies the block and frees it.
 * Every free() therefore happens on a different thread than the malloc():
 * stresses remote-free paths (cross-thread free lists, ownership transfer,
 * page reclamation of blocks freed by non-owners).
 *
 * usage: prodcons [-t pairs] [-n blocks_per_producer] [-r ring_slots]
 */
#include "bench_common.h"
#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    _Alignas(64) _Atomic size_t head;   /* written by consumer */
    _Alignas(64) _Atomic size_t tail;   /* written by producer */
    _Alignas(64) size_t cap;
    void **buf;
    int id;
    long n;
    uint64_t prod_sum, cons_sum;
    unsigned long bad;
} ring_t;

static void backoff(unsigned *spins)
{
    if (++*spins < 64) cpu_relax();
    else { sched_yield(); *spins = 0; }
}

static void *producer(void *arg)
{
    ring_t *q = (ring_t *)arg;
    rng_t r;
    rng_seed(&r, 0xabcdef01ULL + (uint64_t)q->id * 104729);
    uint64_t sum = 0;
    size_t tail = 0;
    for (long i = 0; i < q->n; i++) {
        size_t size = rng_size_small(&r, 4096);
        if (size < 16) size = 16;
        uint64_t tag = rng_next(&r);
        void *p = malloc(size);
        if (!p) abort();
        stamp_block(p, size, tag);
        sum += size + (tag & 0xffff);
        unsigned spins = 0;
        while (tail - atomic_load_explicit(&q->head, memory_order_acquire) >= q->cap) backoff(&spins);
        q->buf[tail % q->cap] = p;
        atomic_store_explicit(&q->tail, ++tail, memory_order_release);
    }
    q->prod_sum = sum;
    return NULL;
}

static void *consumer(void *arg)
{
    ring_t *q = (ring_t *)arg;
    uint64_t sum = 0;
    unsigned long bad = 0;
    size_t head = 0;
    for (long i = 0; i < q->n; i++) {
        unsigned spins = 0;
        while (atomic_load_explicit(&q->tail, memory_order_acquire) == head) backoff(&spins);
        void *p = q->buf[head % q->cap];
        atomic_store_explicit(&q->head, ++head, memory_order_release);
        const uint64_t *h = (const uint64_t *)p;
        size_t size = (size_t)h[0];
        uint64_t tag = h[1];
        verify_self(p, &bad);
        sum += size + (tag & 0xffff);
        free(p);
    }
    q->cons_sum = sum;
    q->bad = bad;
    return NULL;
}

int main(int argc, char **argv)
{
    long pairs = 1, n = 2000000, cap = 1024;
    int c;
    while ((c = getopt(argc, argv, "t:n:r:h")) != -1) {
        switch (c) {
        case 't': pairs = parse_long(optarg, "-t"); break;
        case 'n': n = parse_long(optarg, "-n"); break;
        case 'r': cap = parse_long(optarg, "-r"); break;
        default:
            fprintf(stderr, "usage: %s [-t producer_consumer_pairs] [-n blocks_per_producer] [-r ring_slots]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (pairs < 1 || cap < 1) { fprintf(stderr, "need pairs>=1, ring>=1\n"); return 2; }
    ring_t *q = (ring_t *)aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
    pthread_t *tp = (pthread_t *)calloc((size_t)pairs * 2, sizeof(pthread_t));
    if (!q || !tp) abort();
    memset(q, 0, sizeof(ring_t) * (size_t)pairs);
    double t0 = now_sec();
    for (long i = 0; i < pairs; i++) {
        q[i].cap = (size_t)cap;
        q[i].buf = (void **)calloc((size_t)cap, sizeof(void *));
        q[i].id = (int)i;
        q[i].n = n;
        atomic_init(&q[i].head, 0);
        atomic_init(&q[i].tail, 0);
        if (pthread_create(&tp[2 * i], NULL, consumer, &q[i]) ||
            pthread_create(&tp[2 * i + 1], NULL, producer, &q[i])) { perror("pthread_create"); return 1; }
    }
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < pairs * 2; i++) pthread_join(tp[i], NULL);
    for (long i = 0; i < pairs; i++) {
        if (q[i].prod_sum != q[i].cons_sum) bad++;
        sum += q[i].cons_sum;
        bad += q[i].bad;
        free(q[i].buf);
    }
    double secs = now_sec() - t0;
    printf("metric ns_per_block %.2f\n", secs * 1e9 / (double)(n * pairs > 0 ? n * pairs : 1));
    print_result("prodcons", sum, bad, secs);
    free(tp); free(q);
    return bad ? 3 : 0;
}
