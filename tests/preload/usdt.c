/* usdt.c - a program for usdt.py: 100 requests of 1 MiB (jemalloc's), and
 * 200 000 small blocks taken and given back (refills and flushes). */
#include <stdlib.h>
#include <string.h>

static void *volatile sink;
static void *small[200000];

int main(void)
{
    for (int i = 0; i < 100; i++) {
        sink = memset(malloc(1 << 20), 1, 64);
        free(sink);
    }
    for (int i = 0; i < 200000; i++)
        small[i] = memset(malloc(48), 2, 48);
    for (int i = 0; i < 200000; i++)
        free(small[i]);
    return 0;
}
