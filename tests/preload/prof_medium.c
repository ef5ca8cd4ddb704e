/* prof_medium.c - medium blocks churned: contents kept, spans reused.
 *
 *   MPOOL_PROF=1 ./prof_medium
 *   ./prof_medium wide          (also with MPOOL_DEBUG=1)
 *
 * Medium blocks (64 KiB + 1 .. 128 KiB, pooled by default) are one span
 * each, so a profiled one (about two in three at the default rate) empties
 * a span when it is freed.  Churning 64 of them 200 000 times must reuse
 * those spans, not release each and fault its pages in again: the page
 * faults stay far below one per allocation, and every block keeps its
 * contents until freed; once all are freed, malloc_trim(0) gives back the
 * spans kept for reuse (the pools' mapped bytes fall by their 512 KiB).  "wide": sizes 64 KiB + 1 .. 256 KiB, three
 * classes, so that a class with no free block cuts a larger one
 * (core/tcache.c); contents checked, no page-fault bound.
 */
#define _GNU_SOURCE 1
#include "ptest.h"

#include "../../include/mpool.h"

#include <malloc.h>
#include <stdbool.h>
#include <sys/resource.h>

#define SLOTS 64
#define ROUNDS 200000

static uint64_t mapped_bytes(void)
{
    int (*get)(struct mpool_stats *) = (int (*)(struct mpool_stats *))dlsym(RTLD_DEFAULT, "mpool_stats_get");
    struct mpool_stats st = { 0 };
    return get && get(&st) == 0 ? st.mapped_bytes : 0;
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

int main(int argc, char **argv)
{
    ptest_require_mpool("prof_medium");
    bool wide = argc > 1 && strcmp(argv[1], "wide") == 0;
    size_t span = wide ? (192u << 10) : (64u << 10);
    unsigned char *v[SLOTS] = { 0 };
    size_t len[SLOTS] = { 0 };
    uint64_t r = 88172645463325252ull;
    size_t bad = 0;
    long faults_before = minor_faults();
    for (long i = 0; i < ROUNDS; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        unsigned k = (unsigned)(r % SLOTS);
        if (v[k]) {
            bad += v[k][0] != (unsigned char)k || v[k][len[k] / 2] != (unsigned char)k ||
                   v[k][len[k] - 1] != (unsigned char)k;
            free(v[k]);
        }
        len[k] = (64u << 10) + 1 + (size_t)(r >> 20) % span;
        v[k] = malloc(len[k]);
        if (!CHECK(v[k] != NULL, "malloc(%zu) failed", len[k]))
            return ptest_finish();
        v[k][0] = v[k][len[k] / 2] = v[k][len[k] - 1] = (unsigned char)k;
    }
    long faults = minor_faults() - faults_before;
    for (unsigned k = 0; k < SLOTS; k++)
        free(v[k]);
    uint64_t mapped_freed = mapped_bytes();
    malloc_trim(0);
    uint64_t mapped_after = mapped_bytes();
    /* of 64 blocks freed, some 40 profiled: four emptied 128 KiB spans kept */
    if (!wide)
        CHECK(mapped_freed >= mapped_after + (512u << 10),
              "malloc_trim took the pools' mapped bytes from %lu KiB to %lu KiB only",
              (unsigned long)(mapped_freed >> 10), (unsigned long)(mapped_after >> 10));
    printf("prof_medium: %d medium allocations, %ld page faults\n", ROUNDS, faults);
    CHECK(bad == 0, "%zu blocks lost their first or last byte", bad);
    if (!wide)
        CHECK(faults < ROUNDS / 20, "%ld page faults for %d medium allocations", faults, ROUNDS);
    return ptest_finish();
}
