/* tight: random sizes in a tight loop on one thread.
 *
 * The shape of glibc's bench-malloc-simple / bench-malloc-thread with one
 * thread: `ops` times, pick a random slot of a small array (`slots`, 256 by
 * default) and a random size 16..4096 B (uniform), free the block in the
 * slot and put a new one there. The work around the allocator is kept
 * minimal: one RNG draw per step, and each block gets its first word (size
 * and slot) and its last byte written, checked before it is freed. With so
 * few live blocks this is the allocator's fast path under a size mix that
 * defeats "same size again" caching.
 *
 * usage: tight [-n ops] [-w slots] [-S seed]
 * prints: metric ns_per_op, checksum, time
 */
#include "bench_common.h"

typedef struct { unsigned char *p; size_t size; } slot_t;

static void corrupt(const void *p, size_t size, long step)
{
    printf("CORRUPTION tight: block %p size %zu at step %ld\n", p, size, step);
    fflush(stdout);
    fprintf(stderr, "tight: block %p (size %zu) corrupted, detected at step %ld\n", p, size, step);
    exit(3);
}

static inline uint64_t check(const slot_t *s, size_t k, long step)
{
    uint64_t w = *(const uint64_t *)s->p;   /* malloc alignment >= 8 */
    if (w != ((uint64_t)s->size << 16 | k) || s->p[s->size - 1] != (unsigned char)(s->size ^ k))
        corrupt(s->p, s->size, step);
    return s->size;
}

int main(int argc, char **argv)
{
    long ops = 20000000, nslots = 256;
    uint64_t seed = 0x7167687421ULL;
    int c;
    while ((c = getopt(argc, argv, "n:w:S:h")) != -1) {
        switch (c) {
        case 'n': ops = parse_long(optarg, "-n"); break;
        case 'w': nslots = parse_long(optarg, "-w"); break;
        case 'S': seed = (uint64_t)parse_long(optarg, "-S"); break;
        default:
            fprintf(stderr, "usage: %s [-n ops] [-w slots] [-S seed]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (nslots < 1 || nslots > 65536) { fprintf(stderr, "need 1 <= slots <= 65536\n"); return 2; }
    slot_t *slots = (slot_t *)calloc((size_t)nslots, sizeof(slot_t));
    if (!slots) abort();
    rng_t r;
    rng_seed(&r, seed);
    uint64_t sum = 0;
    double t0 = now_sec();
    for (long i = 0; i < ops; i++) {
        uint64_t v = rng_next(&r);
        size_t k = (size_t)(v % (uint64_t)nslots);
        size_t size = 16 + (size_t)((v >> 20) % (4096 - 16 + 1));
        slot_t *s = &slots[k];
        if (s->p) {
            sum += check(s, k, i);
            free(s->p);
        }
        unsigned char *p = (unsigned char *)malloc(size);
        if (!p) { fprintf(stderr, "tight: malloc(%zu) failed\n", size); return 1; }
        *(uint64_t *)p = (uint64_t)size << 16 | k;
        p[size - 1] = (unsigned char)(size ^ k);
        s->p = p; s->size = size;
    }
    for (long k = 0; k < nslots; k++) {
        if (slots[k].p) {
            sum += check(&slots[k], (size_t)k, ops);
            free(slots[k].p);
        }
    }
    double secs = now_sec() - t0;
    free(slots);
    printf("metric ns_per_op %.2f\n", secs * 1e9 / (double)(ops > 0 ? ops : 1));
    print_result("tight", sum, 0, secs);
    return 0;
}
