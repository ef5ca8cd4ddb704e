/* thread_waves.c - waves of short-lived threads whose surviving blocks are
 * freed by the main thread; RSS must stay bounded.
 *
 *   ./thread_waves [scale]
 *
 * 100 waves; each wave starts 8 threads.  A thread allocates a few thousand
 * blocks of mixed sizes, frees most of them itself, keeps ~15% and exits.
 * After the join the main thread verifies the contents of the kept blocks
 * and frees them (the allocating thread is gone by then).  RSS is read from
 * /proc/self/statm after wave 10 and after wave 100; the final value must not
 * exceed the wave-10 value by more than 50% + 8 MiB.
 */
#define _GNU_SOURCE 1
#include "ptest.h"

#include <pthread.h>

#define WAVES 100
#define THREADS 8

typedef struct { unsigned char *p; size_t n; uint64_t key; } blk;

typedef struct {
    int wave, idx, nblocks;
    blk *kept;
    int nkept;
    int bad;          /* content errors seen by the thread itself */
    int nulls;
} targ;

static size_t rand_size(ptest_rng *r)
{
    uint64_t x = ptest_below(r, 1000);
    if (x < 880) return 1 + ptest_below(r, 512);
    if (x < 990) return 513 + ptest_below(r, 8 * 1024);
    if (x < 999) return 8 * 1024 + ptest_below(r, 64 * 1024);
    return 64 * 1024 + ptest_below(r, 512 * 1024);
}

static void *wave_thread(void *arg)
{
    targ *a = arg;
    ptest_rng r = { (uint64_t)a->wave * 1000003u + (uint64_t)a->idx * 7919u + 1 };
    int n = a->nblocks;
    blk *v = malloc(sizeof(blk) * (size_t)n);
    a->kept = malloc(sizeof(blk) * (size_t)n);
    a->nkept = 0;
    if (!v || !a->kept) { a->nulls++; free(v); return NULL; }
    for (int i = 0; i < n; i++) {
        size_t sz = rand_size(&r);
        unsigned char *p = (i % 5 == 0) ? calloc(1, sz) : malloc(sz);
        if (!p) { a->nulls++; v[i].p = NULL; continue; }
        v[i].p = p; v[i].n = sz; v[i].key = ptest_next(&r);
        ptest_fill(p, sz, v[i].key);
        /* free some early, in LIFO-ish order, to churn the thread's cache */
        if (i > 4 && ptest_below(&r, 3) == 0) {
            int j = i - 1 - (int)ptest_below(&r, 4);
            if (v[j].p) {
                if (ptest_verify(v[j].p, v[j].n, v[j].key) != (size_t)-1) a->bad++;
                free(v[j].p);
                v[j].p = NULL;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (!v[i].p) continue;
        if (ptest_verify(v[i].p, v[i].n, v[i].key) != (size_t)-1) a->bad++;
        if (ptest_below(&r, 100) < 15)
            a->kept[a->nkept++] = v[i];
        else
            free(v[i].p);
    }
    free(v);
    return NULL;
}

int main(int argc, char **argv)
{
    ptest_require_mpool("thread_waves");
    double scale = ptest_scale(argc, argv);
    int nblocks = (int)(2500 * scale);
    if (nblocks < 100) nblocks = 100;

    size_t rss10 = 0, rss100 = 0;
    long bad_left = 0, bad_thread = 0, nulls = 0, kept_total = 0;
    double t0 = ptest_now();
    for (int w = 1; w <= WAVES; w++) {
        pthread_t th[THREADS];
        targ a[THREADS];
        for (int i = 0; i < THREADS; i++) {
            a[i] = (targ){ .wave = w, .idx = i, .nblocks = nblocks };
            if (pthread_create(&th[i], NULL, wave_thread, &a[i]) != 0) {
                CHECK(0, "wave %d: pthread_create failed", w);
                return ptest_finish();
            }
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < THREADS; i++) {
            bad_thread += a[i].bad;
            nulls += a[i].nulls;
            kept_total += a[i].nkept;
            for (int k = 0; k < a[i].nkept; k++) {
                blk *b = &a[i].kept[k];
                size_t off = ptest_verify(b->p, b->n, b->key);
                if (off != (size_t)-1 && bad_left++ < 10)
                    fprintf(stderr, "FAIL thread_waves.c: wave %d: block %p (%zu bytes) left by "
                                    "exited thread %d corrupted at offset %zu\n",
                            w, (void *)b->p, b->n, i, off);
                free(b->p);
            }
            free(a[i].kept);
        }
        if (w == 10) rss10 = ptest_rss();
        if (w == WAVES) rss100 = ptest_rss();
    }
    double t1 = ptest_now();
    fprintf(stderr, "thread_waves: %d waves x %d threads x %d blocks in %.2fs, %ld blocks freed by "
                    "main; RSS after wave 10: %.1f MiB, after wave %d: %.1f MiB\n",
            WAVES, THREADS, nblocks, t1 - t0, kept_total, rss10 / 1048576.0, WAVES, rss100 / 1048576.0);
    CHECK(nulls == 0, "%ld allocations returned NULL", nulls);
    CHECK(bad_thread == 0, "%ld blocks corrupted while their thread was alive", bad_thread);
    CHECK(bad_left == 0, "%ld blocks left behind by exited threads were corrupted", bad_left);
    CHECK(rss10 > 0 && rss100 > 0, "could not read RSS from /proc/self/statm");
    CHECK(rss100 <= rss10 + rss10 / 2 + 8 * 1048576,
          "RSS grew from %zu bytes (%.1f MiB) after wave 10 to %zu bytes (%.1f MiB) after wave %d "
          "(limit: +50%% + 8 MiB)", rss10, rss10 / 1048576.0, rss100, rss100 / 1048576.0, WAVES);
    return ptest_finish();
}
