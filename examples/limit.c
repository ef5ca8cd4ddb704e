/* A program that caps its own memory and gets a clean ENOMEM instead of the
 * OOM killer.  The same cap can be set without code: MPOOL_LIMIT=16M. */
#include <errno.h>
#include <mpool.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    mpool_set_limit(16 << 20);
    void *blocks[100000];
    size_t n = 0;
    while (n < 100000 && (blocks[n] = malloc(4096)) != NULL)
        n++;
    printf("cap 16 MiB: %zu blocks of 4 KiB before malloc failed (%s)\n", n,
           errno == ENOMEM ? "ENOMEM" : "?");
    printf("held through libmpool: %zu bytes\n", mpool_held_bytes());
    for (size_t i = 0; i < n / 2; i++)
        free(blocks[i]);
    void *again = malloc(4096);
    printf("after freeing half: malloc %s\n", again ? "works again" : "still fails");
    free(again);
    for (size_t i = n / 2; i < n; i++)
        free(blocks[i]);
    return 0;
}
