/* The memory cap (mpool_set_limit, MPOOL_LIMIT). */
#ifndef MPOOL_LIMIT_H
#define MPOOL_LIMIT_H

#include "base/base.h"

extern _Atomic size_t mp_limit_bytes MP_HIDDEN; /* 0: no cap */
bool mp_limit_reserve(size_t bytes) MP_HIDDEN;  /* false: the cap would be passed */
void mp_limit_charge(size_t bytes) MP_HIDDEN;   /* count, even past the cap */
void mp_limit_release(size_t bytes) MP_HIDDEN;
size_t mp_limit_held(void) MP_HIDDEN;
int mp_limit_set(size_t bytes) MP_HIDDEN;
static inline bool mp_limit_on(void)
{
    return atomic_load_explicit(&mp_limit_bytes, memory_order_relaxed) != 0;
}

#endif
