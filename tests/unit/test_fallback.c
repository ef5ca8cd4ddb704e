#include "internals.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static void setup(void)
{
    mp_init();
}

/* A plain fallback block of n bytes. */
static void *alloc_plain(size_t n, size_t align, bool zero, mp_fallback_info_t *info)
{
    return mp_fallback_alloc(n, align, zero, MP_NO_SITE, 0, info);
}

START_TEST(fallback_blocks_are_registered_until_freed)
{
    mp_fallback_info_t info, got;
    char *p = mp_fallback_alloc(1 << 20, 0, false, 17, 3, &info);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(info.usable, 1 << 20);
    ck_assert_uint_eq(info.requested, 1 << 20);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memset(p, 0xab, info.usable);
    ck_assert(mp_fallback_lookup(p, &got));
    ck_assert_uint_eq(got.usable, info.usable);
    ck_assert_uint_eq(got.site, 17); /* the tags travel with the block */
    ck_assert_uint_eq(got.cls, 3);
    ck_assert(!mp_fallback_lookup(p + 4096, &got)); /* interior */
    ck_assert(mp_fallback_free(p, &got));
    ck_assert(!mp_fallback_lookup(p, &got));
    ck_assert(!mp_fallback_free(p, &got)); /* a double free is refused, not passed on */
}
END_TEST

START_TEST(zeroed_and_aligned_requests)
{
    for (size_t align = 16; align <= ((size_t)64 << 20); align *= 4) {
        mp_fallback_info_t u;
        char *p = alloc_plain(100000, align, true, &u);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % align, 0);
        for (size_t i = 0; i < 100000; i += 97)
            ck_assert_int_eq(p[i], 0);
        mp_fallback_free(p, &u);
    }
}
END_TEST

START_TEST(impossible_sizes_fail_with_enomem)
{
    mp_fallback_info_t u;
    errno = 0;
    ck_assert_ptr_null(alloc_plain((size_t)1 << 62, 0, false, &u));
    ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

START_TEST(the_registry_grows_and_shrinks)
{
    enum { N = 20000 };
    static void *v[N];
    mp_fallback_info_t u;
    for (int i = 0; i < N; i++) {
        v[i] = alloc_plain(70000 + (size_t)i * 16, 0, false, &u);
        ck_assert_ptr_nonnull(v[i]);
    }
    for (int i = 0; i < N; i += 2)
        ck_assert(mp_fallback_free(v[i], &u));
    for (int i = 0; i < N; i++)
        ck_assert(mp_fallback_lookup(v[i], &u) == (i % 2 == 1));
    for (int i = 1; i < N; i += 2)
        ck_assert(mp_fallback_free(v[i], &u));
}
END_TEST

START_TEST(realloc_keeps_contents_in_place_or_moved)
{
    mp_fallback_info_t u, was, now;
    char *p = alloc_plain(200000, 0, false, &u);
    for (size_t i = 0; i < 200000; i++)
        p[i] = (char)(i * 7);
    ck_assert(mp_fallback_lookup(p, &was));
    char *q = mp_fallback_realloc(p, 5000000, &was, &now);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(was.usable, u.usable);
    ck_assert_uint_ge(now.usable, 5000000);
    ck_assert_uint_eq(now.requested, 5000000);
    for (size_t i = 0; i < 200000; i++)
        ck_assert_int_eq(q[i], (char)(i * 7));
    if (q != p)
        ck_assert(!mp_fallback_lookup(p, &u));
    ck_assert(mp_fallback_lookup(q, &u));
    errno = 0;
    ck_assert(mp_fallback_lookup(q, &was));
    ck_assert_ptr_null(mp_fallback_realloc(q, (size_t)1 << 62, &was, &now));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(mp_fallback_lookup(q, &u)); /* a failed realloc keeps the block */
    ck_assert(mp_fallback_free(q, &u));
}
END_TEST

static void *large_churn(void *arg)
{
    unsigned long long seed = (uintptr_t)arg;
    void *v[32] = { 0 };
    mp_fallback_info_t u;
    for (int i = 0; i < 20000; i++) {
        int k = (int)(unit_rand(&seed) % 32);
        if (v[k]) {
            ck_assert(mp_fallback_free(v[k], &u));
            v[k] = NULL;
        } else {
            v[k] = alloc_plain(65536 + unit_rand(&seed) % 300000, 0, false, &u);
            ck_assert_ptr_nonnull(v[k]);
        }
    }
    for (int k = 0; k < 32; k++)
        if (v[k])
            ck_assert(mp_fallback_free(v[k], &u));
    return NULL;
}

START_TEST(threads_share_the_registry)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, large_churn, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fallback");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fallback_blocks_are_registered_until_freed);
    tcase_add_test(tc, zeroed_and_aligned_requests);
    tcase_add_test(tc, impossible_sizes_fail_with_enomem);
    tcase_add_test(tc, the_registry_grows_and_shrinks);
    tcase_add_test(tc, realloc_keeps_contents_in_place_or_moved);
    tcase_add_test(tc, threads_share_the_registry);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
