#include "mpool.h"
#include "unit.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

START_TEST(new_retain_release)
{
    mpool_buf_t *b = mpool_buf_new(1000);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(mpool_buf_len(b), 1000);
    ck_assert_uint_eq(mpool_buf_refcount(b), 1);
    ck_assert_uint_eq((uintptr_t)mpool_buf_data(b) % 16, 0);
    memset(mpool_buf_data(b), 7, 1000);
    ck_assert_ptr_eq(mpool_buf_retain(b), b);
    ck_assert_uint_eq(mpool_buf_refcount(b), 2);
    mpool_buf_release(b);
    ck_assert_uint_eq(mpool_buf_refcount(b), 1);
    ck_assert_int_eq(((char *)mpool_buf_data(b))[999], 7);
    size_t before = mpool_held_bytes();
    mpool_buf_release(b); /* the last one frees */
    ck_assert_uint_lt(mpool_held_bytes(), before);
    mpool_buf_t *z = mpool_buf_new(0);
    ck_assert_ptr_nonnull(z);
    mpool_buf_release(z);
}
END_TEST

enum { HOLDERS = 4, ROUNDS = 50000 };
static void *hold_and_release(void *arg)
{
    mpool_buf_t *b = arg;
    for (int i = 0; i < ROUNDS; i++) {
        mpool_buf_retain(b);
        ck_assert_int_eq(((char *)mpool_buf_data(b))[0], 42);
        mpool_buf_release(b);
    }
    mpool_buf_release(b); /* the reference main handed over */
    return NULL;
}

START_TEST(threads_share_and_the_last_release_frees)
{
    mpool_buf_t *b = mpool_buf_new(64);
    ((char *)mpool_buf_data(b))[0] = 42;
    pthread_t t[HOLDERS];
    for (int i = 0; i < HOLDERS; i++) {
        mpool_buf_retain(b);
        pthread_create(&t[i], NULL, hold_and_release, b);
    }
    for (int i = 0; i < HOLDERS; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_eq(mpool_buf_refcount(b), 1);
    mpool_buf_release(b);
}
END_TEST

START_TEST(release_of_a_freed_buffer_aborts)
{
    mpool_buf_t *b = mpool_buf_new(64);
    mpool_buf_release(b);
    mpool_buf_release(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, new_retain_release);
    tcase_add_test(tc, threads_share_and_the_last_release_frees);
    tcase_add_test_raise_signal(tc, release_of_a_freed_buffer_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
