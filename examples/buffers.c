/* One message, shared by several consumers without copying: each holds a
 * reference; the last release frees it. */
#include <mpool.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void *consumer(void *arg)
{
    mpool_buf_t *msg = arg;
    printf("consumer read %zu bytes: %s\n", mpool_buf_len(msg), (char *)mpool_buf_data(msg));
    mpool_buf_release(msg); /* its reference */
    return NULL;
}

int main(void)
{
    const char text[] = "hello from the producer";
    mpool_buf_t *msg = mpool_buf_new(sizeof text);
    memcpy(mpool_buf_data(msg), text, sizeof text);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, consumer, mpool_buf_retain(msg));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("references left: %u\n", mpool_buf_refcount(msg));
    mpool_buf_release(msg); /* the last: memory returned */
    return 0;
}
