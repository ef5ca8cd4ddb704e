/* larson: Larson & Krishnan's server simulation (the classic "larson" shape).
 *
 * `threads` lineages, each owning an array of `slots` blocks. The main thread
 * fills every array first (so the first generation frees blocks that main
 * made). Then each lineage runs `gens` generations of threads: a generation
 * replaces `ops` random blocks of its array (check and free the old block,
 * allocate a block of min..max bytes and write it), then starts the next
 * generation's thread, hands it the array and exits. So most frees hit
 * blocks that an earlier -- by then dead -- thread allocated, while the
 * lineages run concurrently. Unlike the original (which runs for a fixed
 * time and counts), the amount of work is fixed: every lineage's RNG state
 * travels with its array, so the blocks and the checksum do not depend on
 * scheduling.
 *
 * usage: larson [-t threads] [-w slots_per_thread] [-n ops_per_generation]
 *               [-g generations] [-m min_size] [-M max_size] [-S seed]
 * prints: metric ns_per_op (wall time / all replacements), metric
 *         mops_per_s, checksum, time
 */
#include "bench_common.h"
#include <pthread.h>

typedef struct { void *p; size_t size; uint64_t tag; } slot_t;

typedef struct {
    int id;
    long gen;
    rng_t rng;
    slot_t *slots;
    uint64_t sum;
    unsigned long bad;
} lineage_t;

static long g_slots, g_ops, g_gens;
static size_t g_min, g_max;
static pthread_attr_t g_attr;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static long g_done;

static void new_block(rng_t *r, slot_t *s)
{
    size_t size = rng_range(r, g_min, g_max);
    uint64_t tag = rng_next(r);
    void *p = malloc(size);
    if (!p) { fprintf(stderr, "larson: malloc(%zu) failed\n", size); exit(1); }
    stamp_block(p, size, tag);
    s->p = p; s->size = size; s->tag = tag;
}

/* stop at the first bad block: freeing it could crash before the report */
static uint64_t check(const slot_t *s, int id, unsigned long *bad)
{
    unsigned long before = *bad;
    uint64_t h = verify_block(s->p, s->size, s->tag, bad);
    if (*bad != before) {
        printf("CORRUPTION larson lineage %d: block %p size %zu\n", id, s->p, s->size);
        fflush(stdout);
        fprintf(stderr, "larson: lineage %d: block %p (size %zu) corrupted\n", id, s->p, s->size);
        exit(3);
    }
    return h;
}

static void *generation(void *arg)
{
    lineage_t *l = (lineage_t *)arg;
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < g_ops; i++) {
        slot_t *s = &l->slots[rng_next(&l->rng) % (uint64_t)g_slots];
        sum += check(s, l->id, &bad);
        free(s->p);
        new_block(&l->rng, s);
    }
    l->sum += sum;
    l->bad += bad;
    if (++l->gen < g_gens) {
        pthread_t t;   /* hand the array to a new thread and exit */
        if (pthread_create(&t, &g_attr, generation, l)) { perror("pthread_create"); exit(1); }
    } else {
        pthread_mutex_lock(&g_mu);
        g_done++;
        pthread_cond_signal(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 2, slots = 5000, ops = 50000, gens = 20, minsz = 8, maxsz = 1000;
    uint64_t seed = 4141;
    int c;
    while ((c = getopt(argc, argv, "t:w:n:g:m:M:S:h")) != -1) {
        switch (c) {
        case 't': threads = parse_long(optarg, "-t"); break;
        case 'w': slots = parse_long(optarg, "-w"); break;
        case 'n': ops = parse_long(optarg, "-n"); break;
        case 'g': gens = parse_long(optarg, "-g"); break;
        case 'm': minsz = parse_long(optarg, "-m"); break;
        case 'M': maxsz = parse_long(optarg, "-M"); break;
        case 'S': seed = (uint64_t)parse_long(optarg, "-S"); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-w slots_per_thread] [-n ops_per_generation] "
                            "[-g generations] [-m min_size] [-M max_size] [-S seed]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads < 1 || slots < 1 || gens < 1 || minsz < 1 || maxsz < minsz) {
        fprintf(stderr, "need threads>=1, slots>=1, generations>=1, 1<=min<=max\n");
        return 2;
    }
    g_slots = slots; g_ops = ops; g_gens = gens; g_min = (size_t)minsz; g_max = (size_t)maxsz;
    pthread_attr_init(&g_attr);
    pthread_attr_setdetachstate(&g_attr, PTHREAD_CREATE_DETACHED);
    lineage_t *lin = (lineage_t *)calloc((size_t)threads, sizeof(lineage_t));
    if (!lin) abort();
    double t0 = now_sec();
    for (long i = 0; i < threads; i++) {
        lin[i].id = (int)i;
        rng_seed(&lin[i].rng, seed + (uint64_t)i * 104729);
        lin[i].slots = (slot_t *)calloc((size_t)slots, sizeof(slot_t));
        if (!lin[i].slots) abort();
        for (long k = 0; k < slots; k++) new_block(&lin[i].rng, &lin[i].slots[k]);
    }
    for (long i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, &g_attr, generation, &lin[i])) { perror("pthread_create"); return 1; }
    }
    pthread_mutex_lock(&g_mu);
    while (g_done < threads) pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    double secs = now_sec() - t0;
    uint64_t sum = 0;
    unsigned long bad = 0;
    for (long i = 0; i < threads; i++) {
        for (long k = 0; k < slots; k++) {
            slot_t *s = &lin[i].slots[k];
            lin[i].sum += check(s, (int)i, &lin[i].bad);
            free(s->p);
        }
        sum = mix64(sum, lin[i].sum);
        bad += lin[i].bad;
        free(lin[i].slots);
    }
    double total = (double)threads * (double)ops * (double)gens;
    printf("metric ns_per_op %.2f\n", secs * 1e9 / (total > 0 ? total : 1));
    printf("metric mops_per_s %.2f\n", total / secs / 1e6);
    print_result("larson", sum, bad, secs);
    free(lin);
    pthread_attr_destroy(&g_attr);
    return bad ? 3 : 0;
}
