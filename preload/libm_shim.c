/* The libm functions the embedded jemalloc calls, answered by src/base/mathlib.c
 * inside libmpool.so, which therefore does not load libm (see there).
 * Hidden: the program's own calls still go to libm. */
#include "base/mathlib.h"

MP_HIDDEN double log(double x) { return mp_log(x); }
MP_HIDDEN double exp(double x) { return mp_exp(x); }
MP_HIDDEN double round(double x) { return mp_round(x); }
