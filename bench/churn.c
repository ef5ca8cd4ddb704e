/* churn: random-size churn over a working set of slots.
 *
 * Each thread owns `slots` slots. Each of `ops` operations picks a random
 * slot, verifies and frees the block in it (if any) and puts a freshly
 * allocated, stamped block of a random size there (mostly 8..512 bytes,
 * ~5% tail up to 8 KiB). Threads are independent (no sharing), so with
 * -t 2 this measures per-thread scalability and fragmentation under churn.
 *
 * usage: churn [-t threads] [-n ops_per_thread] [-w slots_per_thread]
 */
#include "bench_common.h"
#include <pthread.h>

typedef struct {
    int id;
    long ops, slots;
    uint64_t sum;
    unsigned long bad;
} targ_t;

typedef struct { void *p; size_t size; uint64_t tag; } slot_t;

static void *worker(void *arg)
{
    targ_t *a = (targ_t *)arg;
    rng_t r;
    rng_seed(&r, 0x1234567ULL + (uint64_t)a->id * 7919);
    slot_t *slots = (slot_t *)calloc((size_t)a->slots, sizeof(slot_t));
    if (!slots) abort();
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < a->ops; i++) {
        size_t k = (size_t)(rng_next(&r) % (uint64_t)a->slots);
        slot_t *s = &slots[k];
        if (s->p) {
            sum += verify_block(s->p, s->size, s->tag, &bad);
            free(s->p);
        }
        size_t size = rng_size_small(&r, 8192);
        uint64_t tag = rng_next(&r);
        void *p = malloc(size);
        if (!p) abort();
        stamp_block(p, size, tag);
        s->p = p; s->size = size; s->tag = tag;
    }
    for (long k = 0; k < a->slots; k++) {
        if (slots[k].p) {
            sum += verify_block(slots[k].p, slots[k].size, slots[k].tag, &bad);
            free(slots[k].p);
        }
    }
    free(slots);
    a->sum = sum;
    a->bad = bad;
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 1, ops = 4000000, slots = 20000;
    int c;
    while ((c = getopt(argc, argv, "t:n:w:h")) != -1) {
        switch (c) {
        case 't': threads = parse_long(optarg, "-t"); break;
        case 'n': ops = parse_long(optarg, "-n"); break;
        case 'w': slots = parse_long(optarg, "-w"); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-n ops_per_thread] [-w slots_per_thread]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads < 1 || slots < 1) { fprintf(stderr, "need threads>=1, slots>=1\n"); return 2; }
    pthread_t *tid = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
    targ_t *args = (targ_t *)calloc((size_t)threads, sizeof(targ_t));
    double t0 = now_sec();
    for (long i = 0; i < threads; i++) {
        args[i].id = (int)i; args[i].ops = ops; args[i].slots = slots;
        if (pthread_create(&tid[i], NULL, worker, &args[i])) { perror("pthread_create"); return 1; }
    }
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        sum += args[i].sum;   /* addition: independent of thread finishing order */
        bad += args[i].bad;
    }
    double secs = now_sec() - t0;
    printf("metric ns_per_op %.2f\n", secs * 1e9 / (double)(ops * threads > 0 ? ops * threads : 1));
    print_result("churn", sum, bad, secs);
    free(tid); free(args);
    return bad ? 3 : 0;
}
