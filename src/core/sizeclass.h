/* Size classes: size -> class in O(1), and each class's geometry. */
#ifndef MPOOL_SIZECLASS_H
#define MPOOL_SIZECLASS_H

#include "core/types.h"

extern mp_class_info_t mp_classes[MP_NUM_CLASSES] MP_HIDDEN;
extern uint8_t mp_lookup_class[MP_LOOKUP_MAX / 16 + 1] MP_HIDDEN;
extern size_t mp_max_class_size MP_HIDDEN; /* 0 until init: all sizes miss */
extern unsigned mp_num_classes MP_HIDDEN;  /* classes in use, 1..mp_num_classes-1 */

void mp_sizeclass_init(size_t max_class) MP_HIDDEN;
unsigned mp_sizeclass_for_alignment(size_t n, size_t align) MP_HIDDEN;

/* size -> class in O(1): 16-byte steps to 128, then four classes per doubling
 * to 64 KiB, then one class per 64 KiB page (sizeclass.c says why).
 * Returns 0 for sizes above MPOOL_MAX_CLASS (and for every size before init). */
static inline unsigned mp_size_class(size_t n)
{
    if (MP_LIKELY(n <= MP_LOOKUP_MAX))
        return mp_lookup_class[(n + 15) >> 4];
    if (n > mp_max_class_size)
        return 0;
    size_t m = n - 1;
    if (m >= MP_PAGE_SIZE)
        return MP_CLASS_PAGE + (unsigned)(m >> MP_PAGE_SHIFT);
    unsigned l = 63u - (unsigned)__builtin_clzl(m); /* floor(log2(n - 1)) >= 10 */
    return 9 + (l - 7) * 4 + (unsigned)((m >> (l - 2)) & 3);
}

/* Above 64 KiB: a class per page, a span per block (sizeclass.c). */
static inline bool mp_class_is_medium(unsigned cls)
{
    return cls > MP_CLASS_PAGE;
}

/* Exact "offset is a multiple of the block size" without a division
 * (Granlund-Montgomery / Lemire): rotate (off * inv) right by shift. */
static inline bool mp_class_divides(const mp_class_info_t *ci, uintptr_t off)
{
    uint64_t x = (uint64_t)off * ci->inv;
    x = (x >> ci->shift) | (x << ((64 - ci->shift) & 63));
    return x <= ci->lim;
}

#endif
