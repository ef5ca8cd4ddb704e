/* after_exit.c - allocations on a thread after libmpool's own thread-exit
 * destructor has run (a pthread key created after libmpool's: its destructor
 * runs later).  They are served by the fallback and must still be 16-byte
 * aligned, usable, and freeable from any thread. */
#include "ptest.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static pthread_key_t key;
static void *late[64];
static int late_n;

static void late_destructor(void *arg)
{
    (void)arg;
    for (int i = 0; i < 64; i++) {
        late[i] = malloc((size_t)(i % 8) + 1);
        if (late[i])
            memset(late[i], 0x5a, (size_t)(i % 8) + 1);
    }
    late_n = 64;
    void *p = malloc(100);
    free(p); /* a free after exit too */
}

static void *thread(void *arg)
{
    (void)arg;
    free(malloc(10)); /* libmpool's cache (and its key destructor) exists first */
    pthread_setspecific(key, (void *)1);
    return NULL;
}

int main(void)
{
    ptest_require_mpool("after_exit");
    pthread_key_create(&key, late_destructor);
    pthread_t t;
    pthread_create(&t, NULL, thread, NULL);
    pthread_join(t, NULL);
    CHECK(late_n == 64, "the late destructor ran");
    int misaligned = 0, null = 0;
    for (int i = 0; i < late_n; i++) {
        null += late[i] == NULL;
        misaligned += ((uintptr_t)late[i] & 15) != 0;
    }
    CHECK(null == 0, "%d allocations after thread exit failed", null);
    CHECK(misaligned == 0, "%d of 64 allocations after thread exit not 16-byte aligned", misaligned);
    for (int i = 0; i < late_n; i++)
        free(late[i]); /* freed by another thread */
    return ptest_finish();
}
