/* Profiled blocks that are resized: a site is debited what it was credited.
 * Three 200000-byte blocks from one site; one grows to 8 MiB in steps and is
 * freed: the site keeps 400000 bytes in 2 blocks. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void *resized_site(size_t n)
{
    return malloc(n);
}

int main(void)
{
    void *b[3];
    for (int i = 0; i < 3; i++)
        b[i] = resized_site(200000);
    b[1] = realloc(b[1], 300000);  /* in place or moved */
    b[1] = realloc(b[1], 8 << 20);
    memset(b[1], 1, 8 << 20);
    free(b[1]);
    return 0; /* b[0] and b[2] leak */
}
