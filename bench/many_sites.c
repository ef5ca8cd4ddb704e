/* many_sites.c - 10 000 distinct allocation stacks (four levels of ten
 * call sites each), every one holding a block, then one stats dump on
 * request: for the cost of writing a heap profile of that many sites
 * (docs/PERFORMANCE.md, "Heap profiles").  Run under the preload with
 * MPOOL_PROF_SAMPLE=1, so that every site is seen:
 *
 *   MPOOL_PROF_SAMPLE=1 MPOOL_HEAP_PROFILE=/tmp/p.heap LD_PRELOAD=build/libmpool.so build/bench/bench-many-sites
 *
 * writes the stats to argv[1] (default /tmp/mpool-many-sites.json) and
 * prints the time the dump took (stats and heap profile), in ms. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TEN(call)                                                                              \
    switch (i % 10) {                                                                          \
    case 0: call; break; case 1: call; break; case 2: call; break; case 3: call; break;        \
    case 4: call; break; case 5: call; break; case 6: call; break; case 7: call; break;        \
    case 8: call; break; default: call; break;                                                 \
    }

static void *volatile kept[10000];

__attribute__((noinline)) static void leaf(int n) { kept[n] = malloc(64); }
__attribute__((noinline)) static void level3(int n, int i) { TEN(leaf(n)) }
__attribute__((noinline)) static void level2(int n, int i) { TEN(level3(n, n % 10)) }
__attribute__((noinline)) static void level1(int n, int i) { TEN(level2(n, n / 10 % 10)) }
__attribute__((noinline)) static void level0(int n, int i) { TEN(level1(n, n / 100 % 10)) }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    for (int n = 0; n < 10000; n++)
        level0(n, n / 1000 % 10);
    int (*dump)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "mpool_stats_dump");
    if (!dump) {
        fprintf(stderr, "many_sites: run under libmpool\n");
        return 2;
    }
    double t0 = now_ms();
    int rc = dump(argc > 1 ? argv[1] : "/tmp/mpool-many-sites.json");
    printf("dump_ms=%.1f rc=%d\n", now_ms() - t0, rc);
    return rc != 0;
}
