/* medium: churn over a live set with a medium/large size tail.
 *
 * Each thread keeps `slots` live blocks (filled first) and then, `ops` times,
 * replaces a random one: checks the old block's contents, frees it, and
 * allocates and writes a new one. Request sizes, uniform within each band:
 *
 *      70 %      1 .. 128 B
 *      20 %    129 .. 1126 B      (1.1 KiB)
 *     8.5 %   1127 .. 17408 B     (17 KiB)
 *     1.3 %  17409 .. 286720 B    (280 KiB)
 *     0.2 % 286721 .. 307200 B    (300 KiB)
 *
 * so most requests are small but most bytes are in the medium and large
 * blocks (mean request ~3.4 KiB, ~35 MiB live per thread). Contents: the
 * block is conceptually filled with a stream of 64-bit words derived from
 * its tag; the first and last 64 bytes and one word per 4 KiB are written
 * when it is allocated and compared before it is freed. A mismatch prints a
 * CORRUPTION line and exits 3 at once. Threads are independent (no sharing).
 *
 * usage: medium [-t threads] [-n ops_per_thread] [-w slots_per_thread] [-S seed]
 * prints: metric ns_per_op (wall time / (ops * threads)), checksum, time
 */
#include "bench_common.h"
#include <pthread.h>

typedef struct {
    int id;
    long ops, slots;
    uint64_t seed;
    uint64_t sum;
} targ_t;

typedef struct { unsigned char *p; size_t size; uint64_t tag; } slot_t;

static size_t medium_size(rng_t *r)
{
    uint64_t v = rng_next(r);
    unsigned pick = (unsigned)(v % 1000);
    uint64_t u = v >> 16;
    if (pick < 700) return 1 + (size_t)(u % 128);
    if (pick < 900) return 129 + (size_t)(u % (1126 - 129 + 1));
    if (pick < 985) return 1127 + (size_t)(u % (17408 - 1127 + 1));
    if (pick < 998) return 17409 + (size_t)(u % (286720 - 17409 + 1));
    return 286721 + (size_t)(u % (307200 - 286721 + 1));
}

/* word j of a block's content stream */
static inline uint64_t stream_word(uint64_t tag, size_t j)
{
    uint64_t x = tag + (uint64_t)j * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    return x * 0xbf58476d1ce4e5b9ULL;
}

/* bytes [from, to) of the stream, to - from <= 64 */
static inline void stream_bytes(uint64_t tag, size_t from, size_t to, unsigned char *out)
{
    uint64_t buf[9];
    size_t j0 = from >> 3, nw = ((to + 7) >> 3) - j0;
    for (size_t k = 0; k < nw; k++) buf[k] = stream_word(tag, j0 + k);
    memcpy(out, (unsigned char *)buf + (from & 7), to - from);
}

/* the regions written and checked: [0, min(64,size)), [max(64,size-64), size),
 * and the 8 bytes at every 4096 * k (k >= 1) that lie before the tail */
static void write_block(unsigned char *p, size_t size, uint64_t tag)
{
    size_t head = size < 64 ? size : 64;
    stream_bytes(tag, 0, head, p);
    if (size > 64) {
        size_t t0 = size - 64 > 64 ? size - 64 : 64;
        stream_bytes(tag, t0, size, p + t0);
        for (size_t off = 4096; off + 8 <= t0; off += 4096) {
            uint64_t w = stream_word(tag, off >> 3);
            memcpy(p + off, &w, 8);
        }
    }
}

static void corrupt(int id, const void *p, size_t size, size_t off)
{
    printf("CORRUPTION medium thread %d: block %p size %zu differs at offset %zu\n", id, p, size, off);
    fflush(stdout);
    fprintf(stderr, "medium: thread %d: block %p (size %zu) corrupted at offset %zu\n", id, p, size, off);
    exit(3);
}

static uint64_t check_block(int id, const unsigned char *p, size_t size, uint64_t tag)
{
    unsigned char exp[64];
    size_t head = size < 64 ? size : 64;
    stream_bytes(tag, 0, head, exp);
    if (memcmp(p, exp, head) != 0) corrupt(id, p, size, 0);
    uint64_t h = size + p[0];
    if (size > 64) {
        size_t t0 = size - 64 > 64 ? size - 64 : 64;
        stream_bytes(tag, t0, size, exp);
        if (memcmp(p + t0, exp, size - t0) != 0) corrupt(id, p, size, t0);
        for (size_t off = 4096; off + 8 <= t0; off += 4096) {
            uint64_t w;
            memcpy(&w, p + off, 8);
            if (w != stream_word(tag, off >> 3)) corrupt(id, p, size, off);
            h += w & 0xff;
        }
        h += p[size - 1];
    }
    return h;
}

static unsigned char *new_block(rng_t *r, slot_t *s)
{
    size_t size = medium_size(r);
    uint64_t tag = rng_next(r);
    unsigned char *p = (unsigned char *)malloc(size);
    if (!p) { fprintf(stderr, "medium: malloc(%zu) failed\n", size); exit(1); }
    write_block(p, size, tag);
    s->p = p; s->size = size; s->tag = tag;
    return p;
}

static void *worker(void *arg)
{
    targ_t *a = (targ_t *)arg;
    rng_t r;
    rng_seed(&r, a->seed + (uint64_t)a->id * 7919);
    slot_t *slots = (slot_t *)calloc((size_t)a->slots, sizeof(slot_t));
    if (!slots) abort();
    uint64_t sum = 0;
    for (long k = 0; k < a->slots; k++) new_block(&r, &slots[k]);
    for (long i = 0; i < a->ops; i++) {
        slot_t *s = &slots[rng_next(&r) % (uint64_t)a->slots];
        sum += check_block(a->id, s->p, s->size, s->tag);
        free(s->p);
        new_block(&r, s);
    }
    for (long k = 0; k < a->slots; k++) {
        sum += check_block(a->id, slots[k].p, slots[k].size, slots[k].tag);
        free(slots[k].p);
    }
    free(slots);
    a->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 1, ops = 3000000, slots = 10000;
    uint64_t seed = 0x6d656469756dULL;
    int c;
    while ((c = getopt(argc, argv, "t:n:w:S:h")) != -1) {
        switch (c) {
        case 't': threads = parse_long(optarg, "-t"); break;
        case 'n': ops = parse_long(optarg, "-n"); break;
        case 'w': slots = parse_long(optarg, "-w"); break;
        case 'S': seed = (uint64_t)parse_long(optarg, "-S"); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-n ops_per_thread] [-w slots_per_thread] [-S seed]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (threads < 1 || slots < 1) { fprintf(stderr, "need threads>=1, slots>=1\n"); return 2; }
    pthread_t *tid = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
    targ_t *args = (targ_t *)calloc((size_t)threads, sizeof(targ_t));
    double t0 = now_sec();
    for (long i = 0; i < threads; i++) {
        args[i].id = (int)i; args[i].ops = ops; args[i].slots = slots; args[i].seed = seed;
        if (pthread_create(&tid[i], NULL, worker, &args[i])) { perror("pthread_create"); return 1; }
    }
    uint64_t sum = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        sum += args[i].sum;
    }
    double secs = now_sec() - t0;
    printf("metric ns_per_op %.2f\n", secs * 1e9 / (double)(ops * threads > 0 ? ops * threads : 1));
    print_result("medium", sum, 0, secs);
    free(tid); free(args);
    return 0;
}
