/* The memory cap through the API.  The unit test process's own malloc is not
 * libmpool's: these count only mpool_* allocations. */
#include "mpool.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

START_TEST(allocations_past_the_cap_fail_and_freeing_makes_room)
{
    ck_assert_int_eq(mpool_set_limit(8 << 20), 0);
    ck_assert_uint_eq(mpool_get_limit(), 8 << 20);
    static void *v[20000];
    int n = 0;
    errno = 0;
    while (n < 20000 && (v[n] = mpool_malloc(1000)) != NULL)
        n++;
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_gt(n, 7000); /* 1008-byte class: about 8 MiB of them */
    ck_assert_int_lt(n, 8400);
    ck_assert_uint_le(mpool_held_bytes(), 8 << 20);
    errno = 0;
    ck_assert_ptr_null(mpool_malloc(1 << 20)); /* the fallback refuses too */
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_null(mpool_calloc(1, 500));
    struct mpool_fixed_config c = { .block_size = 64 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    if (p) { /* the pool itself fit: its blocks do not */
        errno = 0;
        ck_assert_ptr_null(mpool_fixed_try_get(p));
        ck_assert_int_eq(errno, ENOMEM);
    }
    for (int i = 0; i < 100; i++)
        mpool_free(v[--n]);
    void *again = mpool_malloc(1000); /* room again */
    ck_assert_ptr_nonnull(again);
    mpool_free(again);
    ck_assert_int_eq(mpool_set_limit(0), 0); /* lifted */
    void *big = mpool_malloc(16 << 20);
    ck_assert_ptr_nonnull(big);
    mpool_free(big);
    if (p)
        mpool_fixed_destroy(p);
    while (n)
        mpool_free(v[--n]);
}
END_TEST

START_TEST(realloc_under_the_cap)
{
    mpool_set_limit(4 << 20);
    char *p = mpool_malloc(100);
    memset(p, 5, 100);
    errno = 0;
    ck_assert_ptr_null(mpool_realloc(p, 8 << 20));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(p[99], 5); /* intact */
    p = mpool_realloc(p, 2 << 20);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p[99], 5);
    errno = 0;
    ck_assert_ptr_null(mpool_realloc(p, 5 << 20)); /* in-place growth is refused too */
    ck_assert_int_eq(errno, ENOMEM);
    mpool_free(p);
    ck_assert_uint_lt(mpool_held_bytes(), 1 << 20);
    mpool_set_limit(0);
}
END_TEST

static void *fill_to_cap(void *arg)
{
    static __thread void *mine[5000];
    int n = 0;
    while (n < 5000 && (mine[n] = mpool_malloc(512)) != NULL)
        n++;
    *(int *)arg = n;
    while (n)
        mpool_free(mine[--n]);
    return NULL;
}

START_TEST(the_cap_holds_across_threads)
{
    mpool_set_limit(1 << 20);
    int got[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fill_to_cap, &got[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int total = got[0] + got[1] + got[2] + got[3];
    ck_assert_int_gt(total, 0);
    ck_assert_int_le(total, 4 * ((1 << 20) / 512)); /* never all 5000 each */
    ck_assert_int_lt(got[0], 5000);
    mpool_set_limit(0);
}
END_TEST

/* A cap set while another thread allocates: that thread's mallocs are
 * charged from the next call on, so malloc/free pairs leave held unchanged. */
static _Atomic int go, stop;
static void *pairs_forever(void *arg)
{
    (void)arg;
    while (!atomic_load(&go))
        ;
    while (!atomic_load(&stop))
        mpool_free(mpool_malloc(16));
    return NULL;
}

START_TEST(a_cap_set_while_threads_allocate_does_not_drift)
{
    pthread_t t;
    pthread_create(&t, NULL, pairs_forever, NULL);
    mpool_free(mpool_malloc(16));
    atomic_store(&go, 1);
    usleep(20000);
    mpool_set_limit(64 << 20);
    size_t before = mpool_held_bytes();
    usleep(100000); /* tens of thousands of pairs */
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    size_t after = mpool_held_bytes();
    ck_assert_msg(after + 64 >= before && after <= before + 64,
                  "held drifted from %zu to %zu", before, after);
    mpool_set_limit(0);
}
END_TEST

START_TEST(a_cap_past_int64_max_refuses_nothing_ordinary)
{
    ck_assert_int_eq(mpool_set_limit(SIZE_MAX), 0);
    void *p = mpool_malloc(100);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(mpool_set_limit((size_t)1 << 63), 0);
    void *q = mpool_malloc(1 << 20);
    ck_assert_ptr_nonnull(q);
    mpool_free(p);
    mpool_free(q);
    mpool_set_limit(0);
}
END_TEST

START_TEST(refused_allocations_are_not_counted)
{
    struct mpool_stats a, b;
    mpool_free(mpool_malloc(32)); /* a warm bin */
    mpool_stats_get(&a);
    mpool_set_limit(1);
    for (int i = 0; i < 10000; i++)
        ck_assert_ptr_null(mpool_malloc(32));
    mpool_set_limit(0);
    mpool_stats_get(&b);
    ck_assert_uint_eq(b.allocs - a.allocs, 0);
    ck_assert_uint_eq(b.active_blocks, a.active_blocks);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("limit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, allocations_past_the_cap_fail_and_freeing_makes_room);
    tcase_add_test(tc, realloc_under_the_cap);
    tcase_add_test(tc, the_cap_holds_across_threads);
    tcase_add_test(tc, a_cap_set_while_threads_allocate_does_not_drift);
    tcase_add_test(tc, refused_allocations_are_not_counted);
    tcase_add_test(tc, a_cap_past_int64_max_refuses_nothing_ordinary);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
