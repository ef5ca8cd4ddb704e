/* large: repeated malloc/free of 5..25 MiB blocks.
 *
 * `n` times: malloc a random 5..25 MiB block, write one byte in every 4 KiB
 * page (so the kernel really has to provide the memory), read them back,
 * free it. Exercises the large/huge fallback path (usually mmap/munmap or a
 * retained-extent cache). Allocators that give every freed block straight
 * back to the kernel pay a page-fault per page on every iteration; known:
 * jemalloc and mimalloc are several times slower than glibc here.
 *
 * usage: large [-n iterations] [-l live_blocks]
 */
#include "bench_common.h"

int main(int argc, char **argv)
{
    long n = 500, live = 1;
    int c;
    while ((c = getopt(argc, argv, "n:l:h")) != -1) {
        switch (c) {
        case 'n': n = parse_long(optarg, "-n"); break;
        case 'l': live = parse_long(optarg, "-l"); break;
        default:
            fprintf(stderr, "usage: %s [-n iterations] [-l live_blocks]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (live < 1) live = 1;
    rng_t r;
    rng_seed(&r, 0x1a2b3c4dULL);
    unsigned char **slot = (unsigned char **)calloc((size_t)live, sizeof(void *));
    size_t *ssz = (size_t *)calloc((size_t)live, sizeof(size_t));
    uint64_t sum = 0;
    unsigned long bad = 0;
    double t0 = now_sec();
    for (long i = 0; i < n; i++) {
        long k = i % live;
        if (slot[k]) {
            unsigned char *p = slot[k];
            for (size_t off = 0; off < ssz[k]; off += 4096) {
                if (p[off] != (unsigned char)((off >> 12) + (size_t)i - (size_t)live)) { bad++; break; }
                sum += p[off];
            }
            free(p);
        }
        size_t size = rng_range(&r, (size_t)5 << 20, (size_t)25 << 20);
        unsigned char *p = (unsigned char *)malloc(size);
        if (!p) { fprintf(stderr, "malloc(%zu) failed\n", size); return 1; }
        for (size_t off = 0; off < size; off += 4096) p[off] = (unsigned char)((off >> 12) + (size_t)i);
        p[size - 1] = 1;
        slot[k] = p; ssz[k] = size;
        sum = mix64(sum, size);
    }
    for (long k = 0; k < live; k++) free(slot[k]);
    double secs = now_sec() - t0;
    printf("metric us_per_block %.2f\n", secs * 1e6 / (double)(n > 0 ? n : 1));
    print_result("large", sum, bad, secs);
    free(slot); free(ssz);
    return bad ? 3 : 0;
}
