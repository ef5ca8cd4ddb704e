#include "mpool.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static _Atomic int inits, resets;
static void count_init(void *b, void *arg)
{
    ck_assert_ptr_eq(arg, (void *)0x1234);
    memset(b, 0xab, 24);
    atomic_fetch_add(&inits, 1);
}
static void count_reset(void *b, void *arg)
{
    (void)b;
    (void)arg;
    atomic_fetch_add(&resets, 1);
}

START_TEST(bad_configs_are_einval)
{
    struct mpool_fixed_config c = { .block_size = 0 };
    errno = 0;
    ck_assert_ptr_null(mpool_fixed_create(&c));
    ck_assert_int_eq(errno, EINVAL);
    c = (struct mpool_fixed_config){ .block_size = 8, .capacity = 4, .prealloc = 5 };
    errno = 0;
    ck_assert_ptr_null(mpool_fixed_create(&c));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(mpool_fixed_create(NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(prealloc_init_reset_capacity_available)
{
    struct mpool_fixed_config c = { .block_size = 24, .capacity = 10, .prealloc = 4,
                                    .init = count_init, .reset = count_reset, .arg = (void *)0x1234 };
    atomic_store(&inits, 0);
    atomic_store(&resets, 0);
    mpool_fixed_t *p = mpool_fixed_create(&c);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(inits, 4); /* made by create */
    ck_assert_uint_eq(mpool_fixed_capacity(p), 10);
    ck_assert_uint_eq(mpool_fixed_available(p), 10);
    void *b[10];
    for (int i = 0; i < 10; i++) {
        b[i] = mpool_fixed_try_get(p);
        ck_assert_ptr_nonnull(b[i]);
        ck_assert_uint_eq((uintptr_t)b[i] % 16, 0);
        ck_assert_uint_eq(mpool_fixed_available(p), 9 - i);
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(b[i], b[j]);
    }
    ck_assert_int_eq(inits, 10); /* once per block, when made */
    errno = 0;
    ck_assert_ptr_null(mpool_fixed_try_get(p));
    ck_assert_int_eq(errno, EAGAIN);
    mpool_fixed_put(p, b[3]);
    ck_assert_int_eq(resets, 1);
    ck_assert_ptr_eq(mpool_fixed_try_get(p), b[3]); /* reused, not made */
    ck_assert_int_eq(inits, 10);
    for (int i = 0; i < 10; i++)
        mpool_fixed_put(p, b[i]);
    ck_assert_uint_eq(mpool_fixed_available(p), 10);
    mpool_fixed_destroy(p);
}
END_TEST

START_TEST(unbounded_pools_grow)
{
    struct mpool_fixed_config c = { .block_size = 100000 }; /* larger than a class */
    mpool_fixed_t *p = mpool_fixed_create(&c);
    ck_assert_uint_eq(mpool_fixed_available(p), SIZE_MAX);
    void *b[50];
    for (int i = 0; i < 50; i++) {
        b[i] = mpool_fixed_get(p);
        memset(b[i], i, 100000);
    }
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(((unsigned char *)b[i])[99999], i);
        mpool_fixed_put(p, b[i]);
    }
    mpool_fixed_destroy(p);
}
END_TEST

START_TEST(timed_get_times_out)
{
    struct mpool_fixed_config c = { .block_size = 64, .capacity = 1 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    void *b = mpool_fixed_get(p);
    double t0 = now_s();
    errno = 0;
    ck_assert_ptr_null(mpool_fixed_get_timeout(p, 200));
    double took = now_s() - t0;
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_msg(took >= 0.19 && took < 5.0, "waited %.3f s for a 200 ms timeout", took);
    errno = 0;
    ck_assert_ptr_null(mpool_fixed_get_timeout(p, 0)); /* no wait */
    ck_assert_int_eq(errno, ETIMEDOUT);
    mpool_fixed_put(p, b);
    ck_assert_ptr_eq(mpool_fixed_get_timeout(p, 200), b);
    mpool_fixed_put(p, b);
    mpool_fixed_destroy(p);
}
END_TEST

typedef struct { mpool_fixed_t *p; void *b; long delay_us; } put_later_t;
static void *put_later(void *arg)
{
    put_later_t *a = arg;
    usleep((useconds_t)a->delay_us);
    mpool_fixed_put(a->p, a->b);
    return NULL;
}

START_TEST(a_waiting_get_wakes_on_put)
{
    struct mpool_fixed_config c = { .block_size = 64, .capacity = 1 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    put_later_t a = { p, mpool_fixed_get(p), 150000 };
    pthread_t t;
    pthread_create(&t, NULL, put_later, &a);
    double t0 = now_s();
    void *b = mpool_fixed_get(p); /* sleeps until the put */
    double took = now_s() - t0;
    pthread_join(t, NULL);
    ck_assert_ptr_eq(b, a.b);
    ck_assert_msg(took >= 0.1 && took < 5.0, "woke after %.3f s", took);
    /* a timed get woken before its deadline */
    a.delay_us = 100000;
    pthread_create(&t, NULL, put_later, &a);
    ck_assert_ptr_eq(mpool_fixed_get_timeout(p, 10000), b);
    pthread_join(t, NULL);
    mpool_fixed_put(p, b);
    mpool_fixed_destroy(p);
}
END_TEST

/* Many threads on a small pool: a block is never held by two at once. */
enum { CAP = 4, THREADS = 8, ROUNDS = 20000 };
static _Atomic int violations;
static void *contend(void *arg)
{
    mpool_fixed_t *p = arg;
    for (int i = 0; i < ROUNDS; i++) {
        _Atomic int *b = (i % 3) ? mpool_fixed_get(p) : mpool_fixed_get_timeout(p, 1000);
        if (b == NULL)
            continue;
        if (atomic_exchange(b, 1) != 0)
            atomic_fetch_add(&violations, 1);
        atomic_store(b, 0);
        mpool_fixed_put(p, (void *)b);
    }
    return NULL;
}

START_TEST(contention_never_shares_a_block)
{
    struct mpool_fixed_config c = { .block_size = 16, .capacity = CAP, .prealloc = CAP };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    void *b[CAP];
    for (int i = 0; i < CAP; i++) {
        b[i] = mpool_fixed_get(p);
        memset(b[i], 0, 16);
    }
    for (int i = 0; i < CAP; i++)
        mpool_fixed_put(p, b[i]);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, contend, p);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(violations, 0);
    ck_assert_uint_eq(mpool_fixed_available(p), CAP);
    mpool_fixed_destroy(p);
}
END_TEST

START_TEST(stats_dump_lists_the_pool)
{
    struct mpool_fixed_config c = { .block_size = 48, .capacity = 3 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    void *a = mpool_fixed_get(p), *b = mpool_fixed_get(p), *d = mpool_fixed_get(p);
    mpool_fixed_get_timeout(p, 10);
    mpool_fixed_put(p, a);
    static char json[1 << 16];
    mpool_stats_json(json, sizeof json);
    ck_assert_msg(strstr(json, "{\"block_size\": 48, \"capacity\": 3, \"made\": 3, \"gets\": 3, "
                               "\"puts\": 1, \"waits\": 1, \"timeouts\": 1}") != NULL, "%s", strstr(json, "pools"));
    mpool_fixed_put(p, b);
    mpool_fixed_put(p, d);
    mpool_fixed_destroy(p);
    mpool_stats_json(json, sizeof json);
    ck_assert_ptr_null(strstr(json, "\"block_size\": 48"));
}
END_TEST

START_TEST(double_put_aborts)
{
    struct mpool_fixed_config c = { .block_size = 32 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    void *b = mpool_fixed_get(p);
    mpool_fixed_put(p, b);
    mpool_fixed_put(p, b);
}
END_TEST

START_TEST(put_into_another_pool_aborts)
{
    struct mpool_fixed_config c = { .block_size = 32 };
    mpool_fixed_t *p = mpool_fixed_create(&c), *q = mpool_fixed_create(&c);
    mpool_fixed_put(q, mpool_fixed_get(p));
}
END_TEST

START_TEST(put_of_a_malloc_block_aborts)
{
    struct mpool_fixed_config c = { .block_size = 32 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    mpool_fixed_put(p, mpool_malloc(32));
}
END_TEST

START_TEST(put_of_a_stack_address_aborts)
{
    struct mpool_fixed_config c = { .block_size = 32 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    char local[64];
    mpool_fixed_put(p, local + 32);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pools");
    TCase *tc = tcase_create("fixed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_configs_are_einval);
    tcase_add_test(tc, prealloc_init_reset_capacity_available);
    tcase_add_test(tc, unbounded_pools_grow);
    tcase_add_test(tc, timed_get_times_out);
    tcase_add_test(tc, a_waiting_get_wakes_on_put);
    tcase_add_test(tc, contention_never_shares_a_block);
    tcase_add_test(tc, stats_dump_lists_the_pool);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("misuse");
    tcase_add_test_raise_signal(tm, double_put_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, put_into_another_pool_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, put_of_a_malloc_block_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, put_of_a_stack_address_aborts, SIGABRT);
    suite_add_tcase(s, tm);
    return s;
}

UNIT_MAIN(suite)
