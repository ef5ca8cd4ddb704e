/* A known allocation pattern between two dumps.  The driver (check_stats.py)
 * checks the second dump minus the first, number by number, and the leak
 * sites named after the functions below.  Nothing here allocates between the
 * dumps except the pattern itself: output goes through write(2). */
#include <mpool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) void *leak_in_named_function(size_t n)
{
    void *p = malloc(n);
    memset(p, 0x11, n);
    return p;
}

__attribute__((noinline)) void *big_leak_in_named_function(size_t n)
{
    void *p = malloc(n);
    memset(p, 0x22, n);
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    free(malloc(1)); /* profiled: libmpool loads libunwind (its allocations) before the first dump */
    if (mpool_stats_dump(argv[1]) != 0)
        return 3;
    static void *keep[1000];
    for (int i = 0; i < 1000; i++) /* 1000 x 100 bytes: class 112 */
        keep[i] = malloc(100);
    for (int i = 0; i < 600; i++)
        free(keep[i]);
    for (int i = 0; i < 600; i++) /* reuses of the 600 just freed */
        keep[i] = malloc(97);
    for (int i = 0; i < 1000; i++)
        free(keep[i]);
    for (int i = 0; i < 10; i++) /* 10 x 400000 bytes: the fallback */
        keep[i] = malloc(400000);
    for (int i = 0; i < 10; i++)
        free(keep[i]);
    for (int i = 0; i < 7; i++) /* leaks: 7 x 3000 and 2 x 300000 (the fallback) */
        leak_in_named_function(3000);
    for (int i = 0; i < 2; i++)
        big_leak_in_named_function(300000);
    if (mpool_stats_dump(argv[2]) != 0)
        return 4;
    return 0;
}
