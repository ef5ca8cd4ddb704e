/* rss_decay.c - memory goes back to the OS.
 *
 *   ./rss_decay
 *
 * 1. Decay: the program allocates 256 MiB in small blocks of mixed sizes,
 *    frees them all and goes on with light work (a few small allocations
 *    every millisecond).  Within one second, RSS must be back within a
 *    quarter of what it rose by (MPOOL_DECAY_MS is 500 by default).
 * 2. malloc_trim(0): the same heap, freed, is released at once.
 * 3. The memory is usable again: a second fill succeeds and reads zero in
 *    calloc'ed blocks.
 * 4. mallopt(M_TRIM_THRESHOLD, -1), glibc's "never trim": the decay is off,
 *    so a freed heap stays for 1.5 s of light work, until malloc_trim(0).
 * 5. Medium blocks (65..128 KiB: pooled by default, a span each) decay the
 *    same way: 128 MiB of them, freed, back within one second.
 */
#define _GNU_SOURCE 1
#include "ptest.h"

#include <malloc.h>

#define HEAP (256u << 20)

static void **fill(size_t *count)
{
    size_t n = 0, bytes = 0, cap = HEAP / 64;
    void **v = malloc(cap * sizeof *v);
    while (bytes < HEAP && n < cap) {
        size_t size = 48 + (n % 7) * 40; /* 48 .. 288: seven classes */
        v[n] = malloc(size);
        memset(v[n], (int)n, size);
        bytes += size;
        n++;
    }
    *count = n;
    return v;
}

static void light_work(void);

static void **fill_medium(size_t *count)
{
    size_t n = 0, cap = (128u << 20) / (64u << 10);
    void **v = malloc(cap * sizeof *v);
    for (size_t bytes = 0; bytes < (128u << 20) && n < cap; n++) {
        size_t size = (64u << 10) + 1 + (n * 7919) % (64u << 10); /* 64 KiB + 1 .. 128 KiB */
        v[n] = malloc(size);
        memset(v[n], (int)n, size);
        bytes += size;
    }
    *count = n;
    return v;
}

/* Free v's n blocks and do light work until RSS is back within a quarter of
 * its rise over base, for at most 3 s: the seconds that took, or -1. */
static double free_and_wait(void **v, size_t n, size_t base, size_t peak, size_t *now)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    double t0 = ptest_now();
    size_t rise = peak - base;
    *now = peak;
    while (ptest_now() - t0 < 3.0) {
        light_work();
        *now = ptest_rss();
        if (*now <= base + rise / 4)
            return ptest_now() - t0;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return -1;
}

static void light_work(void)
{
    void *q[32];
    for (int i = 0; i < 32; i++)
        q[i] = malloc(16 + (size_t)i * 24);
    for (int i = 0; i < 32; i++)
        free(q[i]);
}

int main(void)
{
    ptest_require_mpool("rss_decay");
    size_t base = ptest_rss(), n;
    void **v = fill(&n);
    size_t peak = ptest_rss(), now;
    double took = free_and_wait(v, n, base, peak, &now);
    printf("decay: base %.1f MiB, peak %.1f MiB, down to %.1f MiB after %.2f s\n", base / 1048576.0,
           peak / 1048576.0, now / 1048576.0, took);
    CHECK(took >= 0 && took <= 1.0,
          "RSS still %.1f MiB (base %.1f, peak %.1f) 3 s after freeing everything", now / 1048576.0,
          base / 1048576.0, peak / 1048576.0);

    size_t base_m = ptest_rss(), n_m;
    void **v_m = fill_medium(&n_m);
    size_t peak_m = ptest_rss();
    took = free_and_wait(v_m, n_m, base_m, peak_m, &now);
    printf("medium decay: base %.1f MiB, peak %.1f MiB, down to %.1f MiB after %.2f s\n",
           base_m / 1048576.0, peak_m / 1048576.0, now / 1048576.0, took);
    CHECK(peak_m >= base_m + (64u << 20), "128 MiB of medium blocks raised RSS by %.1f MiB only",
          (peak_m - base_m) / 1048576.0);
    CHECK(took >= 0 && took <= 1.0,
          "medium blocks: RSS still %.1f MiB (base %.1f, peak %.1f) 3 s after freeing them",
          now / 1048576.0, base_m / 1048576.0, peak_m / 1048576.0);
    free(v_m);

    size_t n2;
    void **v2 = fill(&n2);
    size_t peak2 = ptest_rss();
    for (size_t i = 0; i < n2; i++)
        free(v2[i]);
    size_t before_trim = ptest_rss();
    int trimmed = malloc_trim(0);
    size_t after = ptest_rss();
    printf("trim: peak %.1f MiB, %.1f MiB right after malloc_trim(0) = %d\n", peak2 / 1048576.0,
           after / 1048576.0, trimmed);
    /* 0 is right only if the decay gave it all back first (a slow machine:
     * spans freed early in the loop were free at two passes before it ended) */
    CHECK(trimmed == 1 || before_trim <= base + (peak2 - base) / 4,
          "malloc_trim(0) = %d after freeing 256 MiB (RSS %.1f MiB just before), want 1", trimmed,
          before_trim / 1048576.0);
    CHECK(after <= base + (peak2 - base) / 4, "malloc_trim(0) left RSS at %.1f MiB (peak %.1f)",
          after / 1048576.0, peak2 / 1048576.0);

    size_t zeros_bad = 0;
    for (size_t i = 0; i < n2; i++) { /* reuse: calloc must still zero */
        unsigned char *p = calloc(1, 48 + (i % 7) * 40);
        for (size_t j = 0; j < 48; j++)
            zeros_bad += p[j] != 0;
        v2[i] = p;
    }
    CHECK(zeros_bad == 0, "%zu nonzero bytes in calloc'ed blocks after the release", zeros_bad);
    for (size_t i = 0; i < n2; i++)
        free(v2[i]);
    malloc_trim(0);

    CHECK(mallopt(M_TRIM_THRESHOLD, -1) == 1, "mallopt(M_TRIM_THRESHOLD, -1) != 1");
    size_t base3 = ptest_rss(), n3;
    void **v3 = fill(&n3);
    size_t peak3 = ptest_rss();
    for (size_t i = 0; i < n3; i++)
        free(v3[i]);
    double t3 = ptest_now();
    size_t low = peak3;
    while (ptest_now() - t3 < 1.5) {
        light_work();
        size_t r = ptest_rss();
        low = r < low ? r : low;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    printf("never trim: base %.1f MiB, peak %.1f MiB, lowest %.1f MiB in 1.5 s\n", base3 / 1048576.0,
           peak3 / 1048576.0, low / 1048576.0);
    CHECK(low >= base3 + (peak3 - base3) / 2,
          "M_TRIM_THRESHOLD -1: RSS fell to %.1f MiB (base %.1f, peak %.1f) without malloc_trim",
          low / 1048576.0, base3 / 1048576.0, peak3 / 1048576.0);
    CHECK(malloc_trim(0) == 1, "malloc_trim(0) released nothing under M_TRIM_THRESHOLD -1");
    free(v);
    free(v2);
    free(v3);
    return ptest_finish();
}
