/* rlimit.c - an address-space limit (RLIMIT_AS) lowered at run time, as
 * test harnesses and sandboxes do: every allocation path must return NULL
 * with ENOMEM once memory cannot be had, never crash or abort; after the
 * program frees, threads can be created and allocations succeed again.
 *
 *   LD_PRELOAD=libmpool.so ./rlimit [started]
 *
 * "started": one oversized allocation before the limit, so the fallback
 * (jemalloc) has started; without it, its start-up meets the limit.  Runs
 * under any allocator with MPOOL_TEST_ANY_ALLOCATOR=1 (glibc passes). */
#define _GNU_SOURCE 1
#include "ptest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MiB ((size_t)1 << 20)
#define ROOM (200 * MiB) /* the limit: the process's VSZ and this much */

static size_t vsz_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Allocate blocks of n bytes (through how: 0 malloc, 1 calloc, 2
 * posix_memalign) until the allocator says no (or past the limit: a
 * failure), each linked to the last through its first word; the number
 * made, the chain in *chain. */
static size_t fill(size_t n, int how, void **chain, int *err)
{
    size_t made = 0;
    *chain = NULL;
    for (;;) {
        if (made * n > 2 * ROOM) { /* the limit is not honoured: stop before the machine runs out */
            *err = 0;
            return made;
        }
        void *p = NULL;
        errno = 0;
        if (how == 0) {
            p = malloc(n);
            *err = errno;
        } else if (how == 1) {
            p = calloc(1, n);
            *err = errno;
        } else {
            *err = posix_memalign(&p, 64, n);
            if (*err)
                p = NULL;
        }
        if (p == NULL)
            return made;
        memset(p, 0x5a, n < 4096 ? n : 4096); /* touch it: the memory must be there */
        *(void **)p = *chain;
        *chain = p;
        made++;
    }
}

static void release(void *chain)
{
    while (chain) {
        void *next = *(void **)chain;
        free(chain);
        chain = next;
    }
}

static void *worker(void *arg)
{
    void *p[64];
    for (int i = 0; i < 64; i++)
        p[i] = malloc(64 + (size_t)i * 100);
    int ok = 1;
    for (int i = 0; i < 64; i++) {
        ok &= p[i] != NULL;
        free(p[i]);
    }
    *(int *)arg = ok;
    return NULL;
}

int main(int argc, char **argv)
{
    ptest_require_mpool("rlimit");
    int started = argc > 1 && strcmp(argv[1], "started") == 0;
    if (started)
        free(malloc(8 * MiB)); /* the fallback starts here, before the limit */

    size_t limit = vsz_bytes() + ROOM;
    struct rlimit rl = { limit, limit };
    if (!CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS, %zu): %s", limit,
               strerror(errno)))
        return ptest_finish();

    /* pooled sizes first (one-page spans, then longer ones, which must be
     * made of the freed short ones), then the fallback's */
    static const struct { size_t n; int how; const char *what; } phases[] = {
        { 144, 0, "malloc(144)" },           { 3000, 1, "calloc(1, 3000)" },
        { 20 * 1024, 0, "malloc(20 KiB)" },  { 100 * 1024, 0, "malloc(100 KiB)" },
        { 300 * 1024, 2, "posix_memalign(64, 300 KiB)" }, { 8 * MiB, 0, "malloc(8 MiB)" },
    };
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        void *chain;
        int err;
        size_t made = fill(phases[i].n, phases[i].how, &chain, &err);
        CHECK(err == ENOMEM, "%s until it failed: %zu made, then error %d, want ENOMEM",
              phases[i].what, made, err);
        CHECK(made * phases[i].n <= ROOM, "%s: %zu made, %zu bytes with %zu bytes of room",
              phases[i].what, made, made * phases[i].n, ROOM);
        if (phases[i].n <= 64 * 1024) /* the freed room is reused, not lost */
            CHECK(made * phases[i].n >= ROOM / 2, "%s: only %zu made (%zu bytes) with %zu bytes of room",
                  phases[i].what, made, made * phases[i].n, ROOM);
        release(chain);

        /* after freeing: threads can be created, and allocations succeed */
        pthread_t t[4];
        int ok[4] = { 0 };
        int created = 0;
        pthread_attr_t attr; /* 1 MiB stacks: 4 threads need 4 MiB of the limit */
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, MiB);
        for (int k = 0; k < 4; k++)
            created += pthread_create(&t[k], &attr, worker, &ok[k]) == 0;
        pthread_attr_destroy(&attr);
        CHECK(created == 4, "after %s: %d of 4 threads created", phases[i].what, created);
        for (int k = 0; k < created; k++) {
            pthread_join(t[k], NULL);
            CHECK(ok[k], "after %s: a thread's allocations failed", phases[i].what);
        }
        void *again = malloc(phases[i].n);
        CHECK(again != NULL, "after %s was freed, malloc(%zu) = NULL", phases[i].what, phases[i].n);
        free(again);
    }
    return ptest_finish();
}
