#include "internals.h"
#include "unit.h"

static void setup(void)
{
    mp_init();
}

START_TEST(every_size_gets_the_smallest_class_that_fits)
{
    unsigned prev = 1;
    for (size_t n = 0; n <= mp_max_class_size; n++) {
        unsigned c = mp_size_class(n);
        ck_assert_uint_ge(c, 1);
        ck_assert_uint_lt(c, mp_num_classes);
        ck_assert_uint_ge(mp_classes[c].size, n);
        if (c > 1)
            ck_assert_uint_lt(mp_classes[c - 1].size, n); /* the one below is too small */
        ck_assert_uint_ge(c, prev);                     /* monotone */
        prev = c;
    }
}
END_TEST

START_TEST(sizes_above_the_largest_class_have_no_class)
{
    ck_assert_uint_eq(mp_size_class(mp_max_class_size + 1), 0);
    ck_assert_uint_eq(mp_size_class(SIZE_MAX), 0);
    ck_assert_uint_eq(mp_size_class((size_t)1 << 40), 0);
}
END_TEST

START_TEST(classes_are_16_aligned_with_bounded_waste)
{
    for (unsigned c = 1; c < mp_num_classes; c++) {
        const mp_class_info_t *ci = &mp_classes[c];
        ck_assert_uint_eq(ci->size % 16, 0);
        if (c > 1 && c <= 8) /* 16-byte steps: alignment allows no finer */
            ck_assert_uint_eq(ci->size - mp_classes[c - 1].size, 16);
        if (c > 8 && c <= MP_CLASS_PAGE) /* the worst request is one byte above the previous class */
            ck_assert_uint_le((ci->size - mp_classes[c - 1].size - 1) * 4, ci->size);
        ck_assert_uint_ge(ci->span_blocks, 1);
        ck_assert_uint_le((size_t)ci->span_blocks * ci->size, (size_t)ci->span_pages * MP_PAGE_SIZE);
        ck_assert_uint_ge(ci->batch, 1);
        ck_assert_uint_le(ci->batch, MP_BATCH_MAX);
        if (c <= MP_CLASS_PAGE) {
            ck_assert_uint_eq(ci->cache_limit, 2 * ci->batch);
        } else { /* medium: a page more than the class below, a span of its own, one cached */
            ck_assert_uint_eq(ci->size - mp_classes[c - 1].size, MP_PAGE_SIZE);
            ck_assert_uint_eq(ci->span_blocks, 1);
            ck_assert_uint_eq((size_t)ci->span_pages * MP_PAGE_SIZE, ci->size);
            ck_assert_uint_eq(ci->cache_limit, 1);
        }
    }
    ck_assert_uint_eq(mp_classes[MP_CLASS_PAGE].size, MP_PAGE_SIZE);
    ck_assert_uint_eq(mp_classes[1].size, 16);
    ck_assert_uint_eq(mp_classes[8].size, 128);
    ck_assert_uint_eq(mp_classes[9].size, 160);
    ck_assert_uint_eq(mp_max_class_size, mp_opt.max_class);
}
END_TEST

START_TEST(divisibility_test_is_exact)
{
    for (unsigned c = 1; c < mp_num_classes; c++) {
        const mp_class_info_t *ci = &mp_classes[c];
        size_t span = (size_t)ci->span_pages * MP_PAGE_SIZE;
        size_t step = ci->size > 4096 ? 7 : 1; /* every offset for small classes */
        for (size_t off = 0; off < span; off += step)
            ck_assert_msg(mp_class_divides(ci, off) == (off % ci->size == 0),
                          "class %u size %u offset %zu", c, ci->size, off);
    }
}
END_TEST

START_TEST(aligned_classes_are_multiples_of_the_alignment)
{
    for (size_t align = 32; align <= MP_PAGE_SIZE; align *= 2) {
        for (size_t n = 0; n <= 3 * align && n <= mp_max_class_size; n += align / 2 + 1) {
            unsigned c = mp_sizeclass_for_alignment(n, align);
            if (c == 0) { /* only when no class both fits and aligns */
                ck_assert_uint_gt(n < align ? align : n, mp_max_class_size / 2);
                continue;
            }
            ck_assert_uint_eq(mp_classes[c].size % align, 0);
            ck_assert_uint_ge(mp_classes[c].size, n);
        }
    }
    ck_assert_uint_eq(mp_sizeclass_for_alignment(16, MP_PAGE_SIZE * 2), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sizeclass");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, every_size_gets_the_smallest_class_that_fits);
    tcase_add_test(tc, sizes_above_the_largest_class_have_no_class);
    tcase_add_test(tc, classes_are_16_aligned_with_bounded_waste);
    tcase_add_test(tc, divisibility_test_is_exact);
    tcase_add_test(tc, aligned_classes_are_multiples_of_the_alignment);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
