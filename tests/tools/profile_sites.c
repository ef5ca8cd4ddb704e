/* A program whose heap profile is known in advance (tests/tools/test_profile.py):
 *
 *   hold()            41,943 blocks of 1,000 bytes, kept: 41,943,000 bytes (40 MiB) live at exit
 *   peak_then_free()  61,440 blocks of 1,024 bytes (60 MiB), all freed before it returns: in the
 *                     alloc and peak views only (the peak is hold's + this, 100 MiB)
 *   two_calls()       2 x 1,000 blocks of 4,000 bytes through grab(), from two lines, kept: two
 *                     sites with the same functions, one stack once frames are named (8 MB)
 *   churn()           2,000,000 blocks of 200 bytes, each freed at once: 400 MB allocated, none
 *                     live, never more than one block at a time
 *
 * Built with -rdynamic so that dladdr names the program's functions (and without it to check
 * that pprof names them from the binary); noinline keeps each function a frame of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLD_BLOCKS 41943
#define PEAK_BLOCKS 61440
#define TWO_BLOCKS 1000
#define CHURN_BLOCKS 2000000

static void *held[HOLD_BLOCKS];
static void *peaked[PEAK_BLOCKS];
static void *two[2][TWO_BLOCKS];
void *volatile sink; /* so that the compiler keeps churn's malloc/free pairs */

__attribute__((noinline)) void hold(void)
{
    for (int i = 0; i < HOLD_BLOCKS; i++) {
        held[i] = malloc(1000);
        memset(held[i], 1, 16);
    }
}

__attribute__((noinline)) void peak_then_free(void)
{
    for (int i = 0; i < PEAK_BLOCKS; i++) {
        peaked[i] = malloc(1024);
        memset(peaked[i], 2, 16);
    }
    for (int i = 0; i < PEAK_BLOCKS; i++)
        free(peaked[i]);
}

__attribute__((noinline)) void *grab(size_t n)
{
    void *p = malloc(n);
    memset(p, 3, 16);
    return p;
}

__attribute__((noinline)) void two_calls(void)
{
    for (int i = 0; i < TWO_BLOCKS; i++)
        two[0][i] = grab(4000);
    for (int i = 0; i < TWO_BLOCKS; i++)
        two[1][i] = grab(4000);
}

__attribute__((noinline)) void churn(void)
{
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        sink = malloc(200);
        ((char *)sink)[0] = (char)i;
        free(sink);
    }
}

int main(void)
{
    hold();
    peak_then_free();
    two_calls();
    churn();
    puts("done");
    return 0;
}
