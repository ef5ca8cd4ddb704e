/* glibc's tuning and reporting calls (glibc.c). */
#ifndef MPOOL_GLIBC_H
#define MPOOL_GLIBC_H

#include "base/base.h"

#include <malloc.h>
#include <stdio.h>

int mp_mallopt(int param, int value) MP_HIDDEN;
struct mallinfo2 mp_mallinfo2(void) MP_HIDDEN;
int mp_malloc_info(int options, FILE *fp) MP_HIDDEN;
void mp_malloc_stats(void) MP_HIDDEN;

#endif
