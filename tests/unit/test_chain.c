#include "mpool.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

START_TEST(write_then_read_round_trips)
{
    struct mpool_fixed_config c = { .block_size = 64, .capacity = 100 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    mpool_chain_t *ch = mpool_chain_new(p, 0);
    char in[1000], out[1000];
    for (int i = 0; i < 1000; i++)
        in[i] = (char)(i * 7);
    ck_assert_int_eq(mpool_chain_write(ch, in, 1000), 1000);
    ck_assert_uint_eq(mpool_chain_len(ch), 1000);
    ck_assert_uint_lt(mpool_fixed_available(p), 100); /* blocks in use */
    ck_assert_int_eq(mpool_chain_read(ch, out, 300), 300);
    ck_assert_int_eq(mpool_chain_read(ch, out + 300, 5000), 700); /* what there is */
    ck_assert_int_eq(memcmp(in, out, 1000), 0);
    ck_assert_int_eq(mpool_chain_read(ch, out, 10), 0); /* empty: 0, no wait */
    ck_assert_uint_ge(mpool_fixed_available(p), 99); /* drained blocks went back */
    mpool_chain_free(ch);
    ck_assert_uint_eq(mpool_fixed_available(p), 100);
    mpool_fixed_destroy(p);
}
END_TEST

START_TEST(max_len_refuses_whole_writes)
{
    struct mpool_fixed_config c = { .block_size = 64 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    mpool_chain_t *ch = mpool_chain_new(p, 100);
    char buf[200] = { 0 };
    ck_assert_int_eq(mpool_chain_write(ch, buf, 60), 60);
    errno = 0;
    ck_assert_int_eq(mpool_chain_write(ch, buf, 41), -1);
    ck_assert_int_eq(errno, EFBIG);
    ck_assert_uint_eq(mpool_chain_len(ch), 60); /* nothing written */
    ck_assert_int_eq(mpool_chain_write(ch, buf, 40), 40);
    ck_assert_int_eq(mpool_chain_read(ch, buf, 200), 100);
    ck_assert_int_eq(mpool_chain_write(ch, buf, 100), 100); /* room again */
    mpool_chain_free(ch);
    struct mpool_fixed_config tiny = { .block_size = 16 };
    mpool_fixed_t *t = mpool_fixed_create(&tiny);
    errno = 0;
    ck_assert_ptr_null(mpool_chain_new(t, 0)); /* no room for data */
    ck_assert_int_eq(errno, EINVAL);
    mpool_fixed_destroy(t);
    mpool_fixed_destroy(p);
}
END_TEST

/* A producer and a consumer through a chain whose pool has three blocks: the
 * writer must wait for the reader to give blocks back. */
enum { TOTAL = 3 << 20 };
typedef struct { mpool_chain_t *ch; unsigned long long sum; } pc_t;

static void *producer(void *arg)
{
    pc_t *a = arg;
    unsigned char chunk[777];
    unsigned long long x = 1;
    for (size_t sent = 0; sent < TOTAL;) {
        size_t n = TOTAL - sent < sizeof chunk ? TOTAL - sent : sizeof chunk;
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            chunk[i] = (unsigned char)(x >> 56);
            a->sum += chunk[i] * (sent + i + 1);
        }
        ck_assert_int_eq(mpool_chain_write(a->ch, chunk, n), (ssize_t)n);
        sent += n;
    }
    return NULL;
}

START_TEST(producer_consumer_through_a_few_blocks)
{
    struct mpool_fixed_config c = { .block_size = 256, .capacity = 3 };
    mpool_fixed_t *p = mpool_fixed_create(&c);
    pc_t a = { mpool_chain_new(p, 0), 0 };
    pthread_t t;
    pthread_create(&t, NULL, producer, &a);
    unsigned char buf[1000];
    unsigned long long sum = 0;
    size_t got = 0;
    while (got < TOTAL) {
        ssize_t n = mpool_chain_read(a.ch, buf, sizeof buf);
        ck_assert_int_ge(n, 0);
        for (ssize_t i = 0; i < n; i++)
            sum += buf[i] * (got + i + 1);
        got += (size_t)n;
    }
    pthread_join(t, NULL);
    ck_assert_uint_eq(sum, a.sum);
    ck_assert_uint_eq(mpool_chain_len(a.ch), 0);
    mpool_chain_free(a.ch);
    ck_assert_uint_eq(mpool_fixed_available(p), 3);
    mpool_fixed_destroy(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, write_then_read_round_trips);
    tcase_add_test(tc, max_len_refuses_whole_writes);
    tcase_add_test(tc, producer_consumer_through_a_few_blocks);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
