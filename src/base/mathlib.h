/* log, log1p, exp and round without libm (mathlib.c says why). */
#ifndef MPOOL_MATHLIB_H
#define MPOOL_MATHLIB_H

#include "base/base.h"

double mp_log(double x) MP_HIDDEN;
double mp_log1p(double x) MP_HIDDEN;
double mp_exp(double x) MP_HIDDEN;
double mp_round(double x) MP_HIDDEN;

#endif
