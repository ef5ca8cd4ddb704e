#include "internals.h"
#include "unit.h"

static void setup(void)
{
    mp_init();
}

START_TEST(every_block_start_maps_to_its_class)
{
    for (unsigned c = 1; c < mp_num_classes; c++) {
        char *span = mp_region_alloc_span(c);
        ck_assert_ptr_nonnull(span);
        ck_assert_uint_eq((uintptr_t)span % MP_PAGE_SIZE, 0);
        const mp_class_info_t *ci = &mp_classes[c];
        for (unsigned i = 0; i < ci->span_blocks; i++) {
            unsigned got = 0;
            ck_assert_int_eq(mp_region_classify(span + (size_t)i * ci->size, &got), MP_PTR_POOL);
            ck_assert_uint_eq(got, c);
            if (ci->size > 16) {
                ck_assert_int_eq(mp_region_classify(span + (size_t)i * ci->size + 16, &got),
                                 MP_PTR_INTERIOR);
            }
            ck_assert_int_eq(mp_region_classify(span + (size_t)i * ci->size + 1, &got),
                             MP_PTR_INTERIOR);
        }
    }
}
END_TEST

START_TEST(foreign_and_uncarved_pointers_are_told_apart)
{
    int local;
    static int global;
    unsigned c;
    ck_assert_int_eq(mp_region_classify(&local, &c), MP_PTR_OUTSIDE);
    ck_assert_int_eq(mp_region_classify(&global, &c), MP_PTR_OUTSIDE);
    ck_assert_int_eq(mp_region_classify(NULL, &c), MP_PTR_OUTSIDE);
    /* the region's last page is never carved in a test */
    void *top = (char *)mp_region.base + mp_region.size - MP_PAGE_SIZE;
    ck_assert_int_eq(mp_region_classify(top, &c), MP_PTR_UNMAPPED);
}
END_TEST

/* A class whose size does not divide its span has a tail past the last
 * block: an address there is a multiple of the size but no block (a "block"
 * there would run into the next span). */
START_TEST(the_tail_past_the_last_block_is_no_block)
{
    unsigned tested = 0;
    for (unsigned c = 1; c < mp_num_classes; c++) {
        const mp_class_info_t *ci = &mp_classes[c];
        if ((size_t)ci->span_bytes == (size_t)ci->span_pages * MP_PAGE_SIZE)
            continue; /* the blocks fill the span: no tail */
        char *span = mp_region_alloc_span(c);
        unsigned got;
        ck_assert_int_eq(mp_region_classify(span + ci->span_bytes - ci->size, &got), MP_PTR_POOL);
        ck_assert_int_eq(mp_region_classify(span + ci->span_bytes, &got), MP_PTR_INTERIOR);
        tested++;
    }
    ck_assert_uint_gt(tested, 5); /* 48, 80, 96, 112, 160, ... */
}
END_TEST

START_TEST(spans_do_not_overlap)
{
    char *a = mp_region_alloc_span(5), *b = mp_region_alloc_span(40);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert(b >= a + (size_t)mp_classes[5].span_pages * MP_PAGE_SIZE ||
              a >= b + (size_t)mp_classes[40].span_pages * MP_PAGE_SIZE);
    ck_assert_uint_ge(mp_region_mapped_bytes(),
                      (size_t)(mp_classes[5].span_pages + mp_classes[40].span_pages) * MP_PAGE_SIZE);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("region");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, every_block_start_maps_to_its_class);
    tcase_add_test(tc, foreign_and_uncarved_pointers_are_told_apart);
    tcase_add_test(tc, spans_do_not_overlap);
    tcase_add_test(tc, the_tail_past_the_last_block_is_no_block);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
