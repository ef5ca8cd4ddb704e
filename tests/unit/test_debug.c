/* debug.c: the canary, the trailer and the free fill, on plain buffers. */
#include "internals.h"
#include "unit.h"

#include <signal.h>
#include <string.h>

static _Alignas(16) unsigned char block[256];

static void arm(size_t n, size_t usable)
{
    memset(block, 0x55, sizeof block);
    mp_debug_arm(block, n, usable, MP_NO_SITE);
}

START_TEST(a_request_asks_for_room_for_the_tail)
{
    ck_assert_uint_eq(mp_debug_size(0), MP_DEBUG_MIN_BLOCK);
    ck_assert_uint_eq(mp_debug_size(100), 100 + MP_DEBUG_TAIL);
}
END_TEST

START_TEST(an_intact_block_passes_and_gives_its_size)
{
    for (size_t n = 0; n + MP_DEBUG_TAIL <= 128; n++) {
        arm(n, 128);
        memset(block, 0x41, n); /* the program may use every requested byte */
        ck_assert_uint_eq(mp_debug_check("free", block, 128), n);
    }
}
END_TEST

START_TEST(one_byte_past_the_request_aborts)
{
    arm(40, 128);
    block[40] ^= 1;
    mp_debug_check("free", block, 128);
}
END_TEST

START_TEST(the_last_canary_byte_is_checked)
{
    arm(40, 128);
    block[128 - 17] = 0;
    mp_debug_check("free", block, 128);
}
END_TEST

START_TEST(a_damaged_trailer_aborts)
{
    arm(40, 128);
    block[128 - 1] ^= 0x80; /* the check word */
    mp_debug_check("free", block, 128);
}
END_TEST

START_TEST(a_trailer_moved_to_another_block_aborts)
{
    static _Alignas(16) unsigned char other[128];
    arm(40, 128);
    memcpy(other, block, sizeof other); /* the check word covers the address */
    mp_debug_check("free", other, 128);
}
END_TEST

START_TEST(the_fill_survives_untouched)
{
    arm(100, 160);
    mp_debug_fill_freed(block, 160);
    memset(block, 0, 24); /* the free list's words are not checked */
    mp_debug_check_freed(block, 160);
    for (size_t i = 24; i < 160 - 16; i++)
        ck_assert_uint_eq(block[i], 0xdf);
}
END_TEST

START_TEST(a_write_after_free_aborts)
{
    arm(100, 160);
    mp_debug_fill_freed(block, 160);
    block[143] = 0xdf ^ 1; /* the last filled byte */
    mp_debug_check_freed(block, 160);
}
END_TEST

static Suite *debug_suite(void)
{
    Suite *s = suite_create("debug");
    TCase *tc = tcase_create("debug");
    tcase_add_test(tc, a_request_asks_for_room_for_the_tail);
    tcase_add_test(tc, an_intact_block_passes_and_gives_its_size);
    tcase_add_test_raise_signal(tc, one_byte_past_the_request_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, the_last_canary_byte_is_checked, SIGABRT);
    tcase_add_test_raise_signal(tc, a_damaged_trailer_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, a_trailer_moved_to_another_block_aborts, SIGABRT);
    tcase_add_test(tc, the_fill_survives_untouched);
    tcase_add_test_raise_signal(tc, a_write_after_free_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(debug_suite)
