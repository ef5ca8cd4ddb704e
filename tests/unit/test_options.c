#include "internals.h"
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(sizes_take_suffixes)
{
    size_t v;
    ck_assert_int_eq(mp_option_parse(MP_OPT_SIZE, "4096", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(mp_option_parse(MP_OPT_SIZE, "64K", &v), 0);
    ck_assert_uint_eq(v, 65536);
    ck_assert_int_eq(mp_option_parse(MP_OPT_SIZE, "2m", &v), 0);
    ck_assert_uint_eq(v, 2 << 20);
    ck_assert_int_eq(mp_option_parse(MP_OPT_SIZE, "1GiB", &v), 0);
    ck_assert_uint_eq(v, 1 << 30);
    ck_assert_int_eq(mp_option_parse(MP_OPT_SIZE, "3kb", &v), 0);
    ck_assert_uint_eq(v, 3072);
}
END_TEST

START_TEST(bad_sizes_are_rejected)
{
    size_t v = 77;
    const char *bad[] = { "", "abc", "-1", "12Q", "1K2", "99999999999999999999", "20000000000T", " 5" };
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(mp_option_parse(MP_OPT_SIZE, bad[i], &v) != 0, "accepted '%s'", bad[i]);
    ck_assert_uint_eq(v, 77);
}
END_TEST

START_TEST(durations_are_milliseconds)
{
    static const struct { const char *text; size_t ms; } good[] = {
        { "250", 250 },     { "250ms", 250 }, { "2s", 2000 },       { "1.5s", 1500 },
        { "0.25s", 250 },   { "5m", 300000 }, { "1min", 60000 },    { "1h", 3600000 },
        { "0.0001s", 0 },   { "10ms", 10 },
    };
    for (unsigned i = 0; i < sizeof good / sizeof *good; i++) {
        size_t v = 7;
        ck_assert_msg(mp_option_parse(MP_OPT_DURATION, good[i].text, &v) == 0, "refused '%s'",
                      good[i].text);
        ck_assert_msg(v == good[i].ms, "'%s' = %zu ms", good[i].text, v);
    }
    const char *bad[] = { "", "fast", "1.s", ".5s", "5 s", "5sec", "-1s", "1e3", "99999999999999h" };
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t v = 77;
        ck_assert_msg(mp_option_parse(MP_OPT_DURATION, bad[i], &v) != 0, "accepted '%s'", bad[i]);
        ck_assert_uint_eq(v, 77);
    }
}
END_TEST

START_TEST(booleans)
{
    size_t v;
    const char *yes[] = { "1", "yes", "TRUE", "on" }, *no[] = { "0", "no", "False", "OFF" };
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(mp_option_parse(MP_OPT_BOOL, yes[i], &v), 0);
        ck_assert_uint_eq(v, 1);
        ck_assert_int_eq(mp_option_parse(MP_OPT_BOOL, no[i], &v), 0);
        ck_assert_uint_eq(v, 0);
    }
    ck_assert_int_ne(mp_option_parse(MP_OPT_BOOL, "2", &v), 0);
    ck_assert_int_ne(mp_option_parse(MP_OPT_BOOL, "yess", &v), 0);
}
END_TEST

/* Load settings with stderr sent to a file; return what was written. */
static char *load_capturing_stderr(void)
{
    static char out[4096];
    char path[] = "/tmp/mpool-options-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    dup2(fd, 2);
    mp_options_load();
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return out;
}

START_TEST(a_bad_value_warns_once_and_keeps_the_default)
{
    size_t def = mp_opt.max_class;
    setenv("MPOOL_MAX_CLASS", "lots", 1);
    char *err = load_capturing_stderr();
    ck_assert_uint_eq(mp_opt.max_class, def);
    ck_assert_ptr_nonnull(strstr(err, "MPOOL_MAX_CLASS"));
    ck_assert_ptr_nonnull(strstr(err, "lots"));
    ck_assert_ptr_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
    setenv("MPOOL_MAX_CLASS", "8G", 1);
    err = load_capturing_stderr();
    ck_assert_uint_eq(mp_opt.max_class, def);
    ck_assert_ptr_nonnull(strstr(err, "outside"));
}
END_TEST

START_TEST(a_good_value_takes_effect_silently)
{
    setenv("MPOOL_MAX_CLASS", "16K", 1);
    char *err = load_capturing_stderr();
    ck_assert_uint_eq(mp_opt.max_class, 16384);
    ck_assert_str_eq(err, "");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sizes_take_suffixes);
    tcase_add_test(tc, bad_sizes_are_rejected);
    tcase_add_test(tc, booleans);
    tcase_add_test(tc, durations_are_milliseconds);
    tcase_add_test(tc, a_bad_value_warns_once_and_keeps_the_default);
    tcase_add_test(tc, a_good_value_takes_effect_silently);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
