/* realloc: realloc-driven growth.
 *
 * `rounds` rounds; each round grows, interleaved round-robin so that
 * neighbours get in the way of in-place growth:
 *   - `vecs` vectors of 8-byte elements whose capacity doubles from 16 bytes
 *     up to a random limit between 64 KiB and `maxkib` KiB (a few MiB), and
 *   - `strs` strings grown by small appends (1..24 bytes) with an exact-fit
 *     realloc() per append, up to 4..64 KiB each.
 * Every element/byte written is checked at the end of the round, then all
 * are freed. Stresses realloc in place vs. move, size-class transitions up
 * through the large/huge path, and copying.
 *
 * usage: realloc [-n rounds] [-v vectors] [-s strings] [-m max_vector_kib]
 */
#include "bench_common.h"

typedef struct { uint64_t *data; size_t len, cap, limit; } vec_t;
typedef struct { char *data; size_t len, limit; } str_t;

int main(int argc, char **argv)
{
    long rounds = 12, nv = 16, ns = 64, maxkib = 4096;
    int c;
    while ((c = getopt(argc, argv, "n:v:s:m:h")) != -1) {
        switch (c) {
        case 'n': rounds = parse_long(optarg, "-n"); break;
        case 'v': nv = parse_long(optarg, "-v"); break;
        case 's': ns = parse_long(optarg, "-s"); break;
        case 'm': maxkib = parse_long(optarg, "-m"); break;
        default:
            fprintf(stderr, "usage: %s [-n rounds] [-v vectors] [-s strings] [-m max_vector_kib]\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (maxkib < 64) maxkib = 64;
    rng_t r;
    rng_seed(&r, 0x5eed5eedULL);
    vec_t *v = (vec_t *)calloc((size_t)nv + 1, sizeof(vec_t));
    str_t *s = (str_t *)calloc((size_t)ns + 1, sizeof(str_t));
    uint64_t sum = 0;
    unsigned long bad = 0;
    long nreallocs = 0;
    double t0 = now_sec();
    for (long round = 0; round < rounds; round++) {
        for (long i = 0; i < nv; i++) {
            v[i].data = NULL; v[i].len = 0; v[i].cap = 0;
            v[i].limit = rng_range(&r, 64 * 1024, (size_t)maxkib * 1024) / 8;
        }
        for (long i = 0; i < ns; i++) {
            s[i].data = NULL; s[i].len = 0;
            s[i].limit = rng_range(&r, 4 * 1024, 64 * 1024);
        }
        int active = 1;
        while (active) {
            active = 0;
            /* each vector: push elements until the next doubling */
            for (long i = 0; i < nv; i++) {
                vec_t *x = &v[i];
                if (x->len >= x->limit) continue;
                active = 1;
                if (x->len == x->cap) {
                    size_t ncap = x->cap ? x->cap * 2 : 2;
                    uint64_t *nd = (uint64_t *)realloc(x->data, ncap * sizeof(uint64_t));
                    if (!nd) abort();
                    nreallocs++;
                    x->data = nd; x->cap = ncap;
                }
                while (x->len < x->cap && x->len < x->limit) {
                    x->data[x->len] = x->len * 0x9e3779b97f4a7c15ULL + (uint64_t)i;
                    x->len++;
                }
            }
            /* each string: a handful of small appends, exact-fit realloc each */
            for (long i = 0; i < ns; i++) {
                str_t *x = &s[i];
                for (int a = 0; a < 8 && x->len < x->limit; a++) {
                    active = 1;
                    size_t add = rng_range(&r, 1, 24);
                    char *nd = (char *)realloc(x->data, x->len + add + 1);
                    if (!nd) abort();
                    nreallocs++;
                    x->data = nd;
                    for (size_t k = 0; k < add; k++) x->data[x->len + k] = (char)('a' + (x->len + k + (size_t)i) % 26);
                    x->len += add;
                    x->data[x->len] = '\0';
                }
            }
        }
        /* verify and free */
        for (long i = 0; i < nv; i++) {
            vec_t *x = &v[i];
            for (size_t k = 0; k < x->len; k += 61) {
                if (x->data[k] != k * 0x9e3779b97f4a7c15ULL + (uint64_t)i) { bad++; break; }
                sum += x->data[k];
            }
            if (x->len && x->data[x->len - 1] != (x->len - 1) * 0x9e3779b97f4a7c15ULL + (uint64_t)i) bad++;
            sum = mix64(sum, x->len);
            free(x->data);
        }
        for (long i = 0; i < ns; i++) {
            str_t *x = &s[i];
            uint64_t bytes = 0;
            for (size_t k = 0; k < x->len; k++) {
                if (x->data[k] != (char)('a' + (k + (size_t)i) % 26)) { bad++; break; }
                bytes += (unsigned char)x->data[k];
            }
            sum = mix64(sum, bytes);
            sum = mix64(sum, x->len);
            free(x->data);
        }
    }
    double secs = now_sec() - t0;
    printf("metric reallocs %ld\n", nreallocs);
    print_result("realloc", sum, bad, secs);
    free(v); free(s);
    return bad ? 3 : 0;
}
