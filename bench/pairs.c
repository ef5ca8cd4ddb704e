/* pairs: malloc+free pairs of fixed sizes on one thread.
 *
 * For each size in {16, 64, 256, 1024, 4096}: n times { p = malloc(size);
 * stamp it; read it back; free(p) }. Stresses the allocator's fast path
 * (thread cache / free list pop + push of the same size class).
 *
 * usage: pairs [-n pairs_per_size]
 * prints: metric ns_per_pair_<size> <ns> for each size, checksum, time
 */
#include "bench_common.h"

int main(int argc, char **argv)
{
    long n = 2000000;
    int c;
    while ((c = getopt(argc, argv, "n:h")) != -1) {
        switch (c) {
        case 'n': n = parse_long(optarg, "-n"); break;
        default:
            fprintf(stderr, "usage: %s [-n pairs_per_size]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    static const size_t sizes[] = {16, 64, 256, 1024, 4096};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    double ns[5];
    uint64_t sum = 0;
    unsigned long bad = 0;
    double t0 = now_sec();
    for (int s = 0; s < nsizes; s++) {
        size_t size = sizes[s];
        double ts = now_sec();
        for (long i = 0; i < n; i++) {
            unsigned char *p = (unsigned char *)malloc(size);
            if (!p) { fprintf(stderr, "malloc(%zu) failed\n", size); return 1; }
            uint64_t tag = (uint64_t)i * 0x9e3779b97f4a7c15ULL + size;
            stamp_block(p, size, tag);
            sum += verify_block(p, size, tag, &bad);
            free(p);
        }
        ns[s] = (now_sec() - ts) * 1e9 / (double)(n ? n : 1);
    }
    double secs = now_sec() - t0;
    for (int s = 0; s < nsizes; s++) printf("metric ns_per_pair_%zu %.2f\n", sizes[s], ns[s]);
    print_result("pairs", sum, bad, secs);
    return bad ? 3 : 0;
}
