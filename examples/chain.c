/* A byte stream between two threads through a chain of 4 blocks of 128
 * bytes: the writer waits for the reader to give blocks back. */
#include <mpool.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MESSAGES 10000

static void *writer(void *arg)
{
    mpool_chain_t *c = arg;
    char line[64];
    for (int i = 0; i < MESSAGES; i++) {
        int n = snprintf(line, sizeof line, "message %d\n", i);
        mpool_chain_write(c, line, (size_t)n);
    }
    return NULL;
}

int main(void)
{
    struct mpool_fixed_config cfg = { .block_size = 128, .capacity = 4 };
    mpool_fixed_t *blocks = mpool_fixed_create(&cfg);
    mpool_chain_t *c = mpool_chain_new(blocks, 0);
    pthread_t t;
    pthread_create(&t, NULL, writer, c);
    size_t total = 0, lines = 0;
    char buf[500];
    while (lines < MESSAGES) {
        ssize_t n = mpool_chain_read(c, buf, sizeof buf);
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        total += (size_t)n;
    }
    pthread_join(t, NULL);
    printf("read %zu lines, %zu bytes, through %zu blocks\n", lines, total, mpool_fixed_capacity(blocks));
    mpool_chain_free(c);
    mpool_fixed_destroy(blocks);
    return 0;
}
