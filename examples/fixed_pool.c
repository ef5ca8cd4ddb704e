/* A bounded pool of connection objects: made once, reset on every put; a
 * worker that finds the pool exhausted waits (here: at most 100 ms). */
#include <errno.h>
#include <mpool.h>
#include <stdio.h>
#include <string.h>

struct conn {
    int id;
    char buffer[240];
};

static void conn_init(void *block, void *arg)
{
    static int next_id;
    (void)arg;
    ((struct conn *)block)->id = ++next_id; /* once per object, when made */
}

static void conn_reset(void *block, void *arg)
{
    (void)arg;
    memset(((struct conn *)block)->buffer, 0, sizeof ((struct conn *)block)->buffer);
}

int main(void)
{
    struct mpool_fixed_config cfg = {
        .block_size = sizeof(struct conn), .capacity = 2, .prealloc = 2,
        .init = conn_init, .reset = conn_reset,
    };
    mpool_fixed_t *pool = mpool_fixed_create(&cfg);
    if (!pool)
        return perror("mpool_fixed_create"), 1;
    struct conn *a = mpool_fixed_get(pool), *b = mpool_fixed_get(pool);
    printf("got connections %d and %d; available now: %zu\n", a->id, b->id,
           mpool_fixed_available(pool));
    if (mpool_fixed_get_timeout(pool, 100) == NULL && errno == ETIMEDOUT)
        printf("third get timed out after 100 ms: the pool holds %zu\n", mpool_fixed_capacity(pool));
    strcpy(a->buffer, "request 1");
    mpool_fixed_put(pool, a);
    struct conn *c = mpool_fixed_get(pool);
    printf("reused connection %d, buffer reset: '%s'\n", c->id, c->buffer);
    mpool_fixed_put(pool, b);
    mpool_fixed_put(pool, c);
    mpool_fixed_destroy(pool);
    return 0;
}
