/* accuracy_sites.c - three sites whose true figures are known, for the
 * accuracy of MPOOL_PROF's estimates at the default rate
 * (bench/prof_accuracy.py; docs/PERFORMANCE.md):
 *
 *   hold()            keeps 40 MiB live in 1024-byte blocks
 *   churn()           allocates 2 GiB in 64-byte blocks, holding one at a time
 *   peak_then_free()  takes 150 MiB in 4096-byte blocks, then frees them
 *
 * Built with -rdynamic so that the sites are named. */
#include <stdlib.h>
#include <string.h>

#define MiB (1024 * 1024)

void hold(void);
void churn(void);
void peak_then_free(void);

static void *volatile sink;
static void *held[40 * 1024];
static void *peak[150 * 256];

__attribute__((noinline)) void hold(void)
{
    for (int i = 0; i < 40 * 1024; i++)
        held[i] = memset(malloc(1024), 1, 1024);
}

__attribute__((noinline)) void churn(void)
{
    for (long i = 0; i < 2048L * MiB / 64; i++) {
        sink = malloc(64);
        free(sink);
    }
}

__attribute__((noinline)) void peak_then_free(void)
{
    for (int i = 0; i < 150 * 256; i++)
        peak[i] = memset(malloc(4096), 2, 4096);
    for (int i = 0; i < 150 * 256; i++)
        free(peak[i]);
}

int main(void)
{
    hold();
    churn();
    peak_then_free();
    return 0;
}
