/* The few libm functions libmpool needs, so that libm is not loaded into
 * every process: its IFUNC relocations alone cost 0.5 MiB of RSS at start.
 * Used by the samplers (tcache.c) and, through preload/libm_shim.c, by the
 * embedded jemalloc.  Accurate to a few ulps over the ranges they see;
 * tests/unit/test_mathlib.c compares them with libm. */
#include "base/mathlib.h"

#include <string.h>

#define LN2 0.693147180559945309417232121458

/* 2 atanh(s) = log((1 + s) / (1 - s)), for |s| <= 0.172 */
static double two_atanh(double s)
{
    double s2 = s * s, term = s, sum = s;
    for (int k = 3; k <= 29; k += 2) {
        term *= s2;
        sum += term / k;
    }
    return 2 * sum;
}

double mp_log(double x)
{
    if (!(x > 0)) /* 0, negative, NaN */
        return x == 0 ? -__builtin_inf() : __builtin_nan("");
    if (x == __builtin_inf())
        return x;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff);
    if (e == 0) { /* subnormal: scale into the normal range */
        x *= 0x1p54;
        memcpy(&bits, &x, sizeof bits);
        e = (int)((bits >> 52) & 0x7ff) - 54;
    }
    e -= 1023;
    bits = (bits & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1023 << 52); /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421356237309504880) { /* into [sqrt(1/2), sqrt(2)) */
        m /= 2;
        e++;
    }
    return e * LN2 + two_atanh((m - 1) / (m + 1));
}

double mp_log1p(double x)
{
    if (x > -0.29 && x < 0.41) /* (1+x) near 1: no cancellation through log() */
        return two_atanh(x / (2 + x));
    return mp_log(1 + x);
}

/* Round half away from zero, without libm (and without SSE4.1's roundsd). */
double mp_round(double x)
{
    if (!(x > -0x1p52 && x < 0x1p52)) /* already whole, infinite or NaN */
        return x;
    double t = (double)(int64_t)x; /* toward zero */
    double d = x - t;
    if (d >= 0.5)
        t += 1;
    else if (d <= -0.5)
        t -= 1;
    return t == 0 && x < 0 ? -0.0 : t;
}

double mp_exp(double x)
{
    if (x != x)
        return x;
    if (x > 709.78)
        return __builtin_inf();
    if (x < -745.2)
        return 0;
    double k = mp_round(x / LN2);
    /* ln2 in two parts (fdlibm's): k * LN2_HI is exact, so r keeps its bits */
    double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double term = 1, sum = 1;
    for (int i = 1; i <= 20; i++) {
        term *= r / i;
        sum += term;
    }
    int ki = (int)k;
    /* scale by 2^k in two steps, so neither factor overflows or flushes */
    int half = ki / 2;
    uint64_t b1 = (uint64_t)(half + 1023) << 52, b2 = (uint64_t)(ki - half + 1023) << 52;
    double f1, f2;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    return sum * f1 * f2;
}
