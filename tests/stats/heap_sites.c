/* heap_sites.c - allocation sites with known figures, for heap_profile.py:
 *
 *   hold()    keeps 40 MB live in 1000-byte blocks
 *   churn()   allocates and frees 400 MB in 200-byte blocks
 *   -> a request dump (mpool_stats_dump, found with dlsym: run under the
 *      preload), heap profile number 0
 *   more()    keeps 20 MB more
 *   -> raise(SIGUSR2): a signal dump, profile number 1
 *   -> exit: profile number 2
 * Built with -rdynamic, so that the profilers can name the functions. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hold(void);
void churn(void);
void more(void);

static void *volatile kept[60000];
static void *volatile sink;

__attribute__((noinline)) void hold(void)
{
    for (int i = 0; i < 40000; i++)
        kept[i] = memset(malloc(1000), 1, 1000);
}

__attribute__((noinline)) void churn(void)
{
    for (int i = 0; i < 2000000; i++) {
        sink = memset(malloc(200), 2, 200);
        free(sink);
    }
}

__attribute__((noinline)) void more(void)
{
    for (int i = 40000; i < 60000; i++)
        kept[i] = memset(malloc(1000), 3, 1000);
}

int main(void)
{
    int (*dump)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "mpool_stats_dump");
    if (dump == NULL) {
        fprintf(stderr, "heap_sites: run under libmpool (LD_PRELOAD)\n");
        return 2;
    }
    hold();
    churn();
    if (dump(NULL) != 0) {
        perror("mpool_stats_dump");
        return 1;
    }
    more();
    raise(SIGUSR2);
    return 0;
}
