/* MPOOL_DEBUG: canaries after every block and a fill in freed ones. */
#ifndef MPOOL_DEBUG_H
#define MPOOL_DEBUG_H

#include "base/base.h"

#define MP_DEBUG_TAIL 24      /* canary (>= 8) + trailer (16) after each request */
#define MP_DEBUG_MIN_BLOCK 48 /* free-list words (24), some fill, the trailer */
size_t mp_debug_size(size_t n) MP_HIDDEN; /* what to ask for to serve n */
void mp_debug_arm(void *p, size_t n, size_t usable, uint32_t site) MP_HIDDEN;
/* Check a live block's canary and trailer (abort naming func on damage);
 * returns the size requested. */
size_t mp_debug_check(const char *func, const void *p, size_t usable) MP_HIDDEN;
uint32_t mp_debug_site(const void *p, size_t usable) MP_HIDDEN; /* of a checked block */
void mp_debug_fill_freed(void *p, size_t usable) MP_HIDDEN;
void mp_debug_check_freed(const void *p, size_t usable) MP_HIDDEN; /* on reuse */

#endif
