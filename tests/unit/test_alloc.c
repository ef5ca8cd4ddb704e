/* The malloc family's contract, called through the internal entry points. */
#include "internals.h"
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

START_TEST(every_size_is_16_aligned_and_fits)
{
    for (size_t n = 0; n < 70000; n += (n < 2048 ? 1 : 61)) {
        char *p = mp_malloc(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        ck_assert_uint_ge(mp_usable_size(p), n);
        memset(p, 0x5a, mp_usable_size(p)); /* the slack is writable */
        mp_free(p);
    }
}
END_TEST

START_TEST(malloc_zero_is_unique)
{
    void *a = mp_malloc(0), *b = mp_malloc(0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    mp_free(a);
    mp_free(b);
    ck_assert_uint_eq(mp_usable_size(NULL), 0);
}
END_TEST

START_TEST(too_large_is_enomem_everywhere)
{
    errno = 0;
    ck_assert_ptr_null(mp_malloc(SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(mp_calloc(SIZE_MAX / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(mp_memalign(64, SIZE_MAX - 100));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(mp_pvalloc(SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    void *p = mp_malloc(100);
    memset(p, 7, 100);
    errno = 0;
    ck_assert_ptr_null(mp_realloc(p, SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(mp_reallocarray(p, SIZE_MAX / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(((char *)p)[99], 7); /* intact */
    mp_free(p);
    void *q = (void *)0x1234;
    ck_assert_int_eq(mp_posix_memalign(&q, 24, 8), EINVAL);
    ck_assert_int_eq(mp_posix_memalign(&q, 4, 8), EINVAL);
    ck_assert_int_eq(mp_posix_memalign(&q, 64, SIZE_MAX), ENOMEM);
    ck_assert_ptr_eq(q, (void *)0x1234);
}
END_TEST

START_TEST(alignments_up_to_64_mib)
{
    for (size_t align = 8; align <= ((size_t)64 << 20); align *= 2) {
        size_t sizes[] = { 0, 1, align - 1, align, align + 1, 3 * align };
        for (int i = 0; i < 6; i++) {
            if (sizes[i] > ((size_t)200 << 20))
                continue;
            void *p = NULL;
            ck_assert_int_eq(mp_posix_memalign(&p, align < 8 ? 8 : align, sizes[i]), 0);
            ck_assert_uint_eq((uintptr_t)p % align, 0);
            ck_assert_uint_ge(mp_usable_size(p), sizes[i]);
            mp_free(p);
            char *q = mp_memalign(align, sizes[i]);
            ck_assert_uint_eq((uintptr_t)q % align, 0);
            mp_free(q);
        }
    }
    char *v = mp_valloc(10);
    ck_assert_uint_eq((uintptr_t)v % 4096, 0);
    mp_free(v);
    char *pv = mp_pvalloc(0);
    ck_assert_uint_eq((uintptr_t)pv % 4096, 0);
    ck_assert_uint_ge(mp_usable_size(pv), 4096);
    mp_free(pv);
    char *odd = mp_memalign(48, 10); /* not a power of two: rounded up to 64 */
    ck_assert_uint_eq((uintptr_t)odd % 64, 0);
    mp_free(odd);
}
END_TEST

/* Index of the first byte of p[0..n) that breaks the pattern, or n. */
static size_t first_bad(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + 7))
            return i;
    return n;
}

START_TEST(realloc_keeps_contents_across_classes_and_the_fallback)
{
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t n = 1; n < ((size_t)8 << 20); n = n * 3 / 2 + 1) {
        p = mp_realloc(p, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(first_bad(p, have), have);
        for (size_t i = have; i < n; i++)
            p[i] = (unsigned char)(i * 31 + 7);
        have = n;
    }
    for (size_t n = have; n > 0; n /= 3) {
        p = mp_realloc(p, n);
        ck_assert_uint_eq(first_bad(p, n), n);
    }
    ck_assert_ptr_null(mp_realloc(p, 0)); /* frees */
}
END_TEST

START_TEST(realloc_within_the_usable_size_stays_put)
{
    char *p = mp_malloc(20);
    size_t u = mp_usable_size(p);
    memset(p, 1, u);
    ck_assert_ptr_eq(mp_realloc(p, u), p);
    char *big = mp_malloc(200000);
    size_t bu = mp_usable_size(big);
    ck_assert_ptr_eq(mp_realloc(big, bu), big);
    mp_free(big);
    mp_free(p);
}
END_TEST

START_TEST(calloc_zeroes_recycled_memory)
{
    for (size_t n = 16; n < 200000; n = n * 2 + 8) {
        char *d = mp_malloc(n);
        memset(d, 0xff, n);
        mp_free(d);
        char *z = mp_calloc(1, n);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(z[i], 0);
        mp_free(z);
    }
}
END_TEST

START_TEST(free_preserves_errno)
{
    void *p = mp_malloc(10), *big = mp_malloc(1 << 24);
    errno = 1234;
    mp_free(p);
    mp_free(big);
    ck_assert_int_eq(errno, 1234);
}
END_TEST

START_TEST(stats_count_what_happened)
{
    mp_totals_t a, b;
    mp_free(mp_malloc(1)); /* the cache exists before the first snapshot */
    mp_counters_collect(&a);
    void *v[100];
    for (int i = 0; i < 100; i++)
        v[i] = mp_malloc(40);
    for (int i = 0; i < 60; i++)
        mp_free(v[i]);
    void *big = mp_malloc(mp_max_class_size + 1); /* the fallback's */
    mp_counters_collect(&b);
    ck_assert_uint_eq(b.allocs - a.allocs, 101);
    ck_assert_uint_eq(b.frees - a.frees, 60);
    ck_assert_uint_eq(b.active_blocks - a.active_blocks, 41);
    ck_assert_uint_eq(b.fallback_allocs - a.fallback_allocs, 1);
    ck_assert_uint_ge(b.active_bytes - a.active_bytes, 40 * 48 + mp_max_class_size + 1);
    for (int i = 0; i < 60; i++)
        v[i] = mp_malloc(40); /* served by the 60 freed blocks */
    mp_totals_t c;
    mp_counters_collect(&c);
    ck_assert_uint_eq(c.reuses - b.reuses, 60);
    for (int i = 0; i < 100; i++)
        mp_free(v[i]);
    mp_free(big);
}
END_TEST

/* Misuse: each of these must abort (Check asserts the signal). */
START_TEST(free_of_a_stack_address_aborts)
{
    char local[64];
    memset(local, 0, sizeof local);
    mp_free(local + 16);
}
END_TEST

START_TEST(free_of_an_interior_pointer_aborts)
{
    char *p = mp_malloc(64);
    mp_free(p + 16);
}
END_TEST

START_TEST(free_of_an_uncarved_region_address_aborts)
{
    mp_free((char *)mp_region.base + mp_region.size - 4096);
}
END_TEST

START_TEST(double_free_of_a_fallback_block_aborts)
{
    void *p = mp_malloc(mp_max_class_size + 1);
    mp_free(p);
    mp_free(p);
}
END_TEST

START_TEST(double_free_of_a_pooled_block_aborts)
{
    void *p = mp_malloc(48);
    mp_free(p);
    mp_free(p);
}
END_TEST

START_TEST(double_free_after_other_traffic_aborts)
{
    void *p = mp_malloc(100), *v[300];
    mp_free(p);
    for (int i = 0; i < 300; i++) /* enough to flush batches to the global stack */
        v[i] = mp_malloc(100 + (size_t)(i % 3) * 200);
    for (int i = 0; i < 300; i++)
        mp_free(v[i]);
    mp_free(p);
}
END_TEST

START_TEST(double_free_of_a_batch_head_on_the_global_stack_aborts)
{
    void *v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = mp_malloc(64);
    for (int i = 0; i < 1000; i++) /* flushes batches to the class's global stack */
        mp_free(v[i]);
    unsigned cls = mp_size_class(64), n;
    mp_block_t *head = mp_gstack_pop(&mp_class_stacks[cls], &n);
    ck_assert_ptr_nonnull(head);
    mp_gstack_push(&mp_class_stacks[cls], head, n);
    mp_free(head); /* its second word still has the mark, not the stack's link */
}
END_TEST

START_TEST(realloc_of_a_freed_block_aborts)
{
    void *p = mp_malloc(64);
    mp_free(p);
    mp_realloc(p, 200);
}
END_TEST

START_TEST(usable_size_of_a_freed_block_aborts)
{
    void *p = mp_malloc(64);
    mp_free(p);
    mp_usable_size(p);
}
END_TEST

START_TEST(a_reused_block_is_not_taken_for_a_double_free)
{
    for (int i = 0; i < 100000; i++) { /* the mark is cleared when a block is handed out */
        void *p = mp_malloc((size_t)(i % 200));
        memset(p, i, (size_t)(i % 200));
        mp_free(p);
    }
}
END_TEST

START_TEST(realloc_of_an_interior_pointer_aborts)
{
    char *p = mp_malloc(1 << 20);
    mp_realloc(p + 4096, 10);
}
END_TEST

START_TEST(usable_size_of_a_wild_pointer_aborts)
{
    static char global[64];
    mp_usable_size(global + 16);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("contract");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_size_is_16_aligned_and_fits);
    tcase_add_test(tc, malloc_zero_is_unique);
    tcase_add_test(tc, too_large_is_enomem_everywhere);
    tcase_add_test(tc, alignments_up_to_64_mib);
    tcase_add_test(tc, realloc_keeps_contents_across_classes_and_the_fallback);
    tcase_add_test(tc, realloc_within_the_usable_size_stays_put);
    tcase_add_test(tc, calloc_zeroes_recycled_memory);
    tcase_add_test(tc, free_preserves_errno);
    tcase_add_test(tc, stats_count_what_happened);
    tcase_add_test(tc, a_reused_block_is_not_taken_for_a_double_free);
    tcase_add_test_raise_signal(tc, double_free_of_a_batch_head_on_the_global_stack_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("misuse");
    tcase_add_test_raise_signal(tm, free_of_a_stack_address_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, free_of_an_interior_pointer_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, free_of_an_uncarved_region_address_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, double_free_of_a_fallback_block_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, realloc_of_an_interior_pointer_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, double_free_of_a_pooled_block_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, double_free_after_other_traffic_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, realloc_of_a_freed_block_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, usable_size_of_a_freed_block_aborts, SIGABRT);
    tcase_add_test_raise_signal(tm, usable_size_of_a_wild_pointer_aborts, SIGABRT);
    suite_add_tcase(s, tm);
    return s;
}

UNIT_MAIN(suite)
