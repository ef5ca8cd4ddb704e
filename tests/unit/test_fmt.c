#include "internals.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

START_TEST(matches_snprintf_for_supported_conversions)
{
    char a[128], b[128];
    mp_fmt(a, sizeof a, "%s=%d %u %ld %lu %zu %llu %x %lx %c %%", "k", -42, 7u, -9000000000L,
           18446744073709551615UL, (size_t)123456789, 1ULL << 63, 0xbeefu, 0xdeadbeefcafeUL, 'z');
    snprintf(b, sizeof b, "%s=%d %u %ld %lu %zu %llu %x %lx %c %%", "k", -42, 7u, -9000000000L,
             18446744073709551615UL, (size_t)123456789, 1ULL << 63, 0xbeefu, 0xdeadbeefcafeUL, 'z');
    ck_assert_str_eq(a, b);
    mp_fmt(a, sizeof a, "%p", (void *)0x7f00dead0010);
    ck_assert_str_eq(a, "0x7f00dead0010");
    mp_fmt(a, sizeof a, "%d", (int)-2147483647 - 1);
    ck_assert_str_eq(a, "-2147483648");
    mp_fmt(a, sizeof a, "[%-8s|%8s|%7u|%-5d|%05d|%08lx|%.3s|%3s]", "ab", "cd", 42u, -3, -42, 0xbeefUL,
           "abcdef", "toolong");
    snprintf(b, sizeof b, "[%-8s|%8s|%7u|%-5d|%05d|%08lx|%.3s|%3s]", "ab", "cd", 42u, -3, -42, 0xbeefUL,
             "abcdef", "toolong");
    ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(truncates_but_reports_the_full_length)
{
    char a[8];
    size_t n = mp_fmt(a, sizeof a, "hello, %s", "world");
    ck_assert_uint_eq(n, 12);
    ck_assert_str_eq(a, "hello, ");
    ck_assert_uint_eq(mp_fmt(NULL, 0, "%d", 12345), 5);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fmt");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, matches_snprintf_for_supported_conversions);
    tcase_add_test(tc, truncates_but_reports_the_full_length);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
