/* mathlib.c against libm: the samplers' and jemalloc's log, log1p, exp, round. */
#include "internals.h"
#include "unit.h"

#include <math.h>

static void close_to(double got, double want, double tol, const char *what, double x)
{
    double err = fabs(got - want), scale = fabs(want) > 1 ? fabs(want) : 1;
    if (!(err <= tol * scale))
        ck_abort_msg("%s(%.17g) = %.17g, libm says %.17g", what, x, got, want);
}

START_TEST(log_matches_libm)
{
    unsigned long long seed = 1;
    for (int i = 0; i < 200000; i++) {
        double x = ldexp((double)(unit_rand(&seed) >> 11) / 9007199254740992.0 + 0.5,
                         (int)(unit_rand(&seed) % 2000) - 1000);
        close_to(mp_log(x), log(x), 1e-15, "log", x);
    }
    for (double x = 1e-3; x < 10; x += 1e-3)
        close_to(mp_log(x), log(x), 1e-15, "log", x);
    close_to(mp_log(4.9e-320), log(4.9e-320), 1e-15, "log", 4.9e-320); /* subnormal */
    ck_assert(mp_log(0) == -INFINITY);
    ck_assert(isnan(mp_log(-1)));
    ck_assert(mp_log(1) == 0);
}
END_TEST

START_TEST(log1p_keeps_its_precision_near_zero)
{
    for (double x = -0.999; x < 5; x += 0.0007)
        close_to(mp_log1p(x), log1p(x), 1e-15, "log1p", x);
    for (double x = 1e-18; x < 1e-2; x *= 1.7) { /* -1/mean for the samplers' means */
        close_to(mp_log1p(-x), log1p(-x), 1e-15, "log1p", -x);
        close_to(mp_log1p(x), log1p(x), 1e-15, "log1p", x);
    }
}
END_TEST

START_TEST(exp_matches_libm)
{
    for (double x = -745; x < 709.7; x += 0.0137)
        close_to(mp_exp(x), exp(x), 1e-14, "exp", x);
    ck_assert(mp_exp(0) == 1);
    ck_assert(mp_exp(1000) == INFINITY);
    ck_assert(mp_exp(-1000) == 0);
}
END_TEST

START_TEST(round_is_halfway_away_from_zero)
{
    static const double xs[] = { 0, 0.49999999999999994, 0.5, 1.5, 2.5, -0.5, -1.5, -2.4,
                                 1e15 + 0.5, 4503599627370497.0, -4503599627370497.0, 1e300 };
    for (unsigned i = 0; i < sizeof xs / sizeof *xs; i++)
        ck_assert_msg(mp_round(xs[i]) == round(xs[i]), "round(%.17g) = %.17g, libm %.17g", xs[i],
                      mp_round(xs[i]), round(xs[i]));
    ck_assert(signbit(mp_round(-0.3)));
    for (double x = -1000; x < 1000; x += 0.125)
        ck_assert(mp_round(x) == round(x));
}
END_TEST

static Suite *mathlib_suite(void)
{
    Suite *s = suite_create("mathlib");
    TCase *tc = tcase_create("mathlib");
    tcase_add_test(tc, log_matches_libm);
    tcase_add_test(tc, log1p_keeps_its_precision_near_zero);
    tcase_add_test(tc, exp_matches_libm);
    tcase_add_test(tc, round_is_halfway_away_from_zero);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(mathlib_suite)
