/* The lock-free global stack of batches, one per class (and the free-span
 * lists of region.c). */
#ifndef MPOOL_GSTACK_H
#define MPOOL_GSTACK_H

#include "core/types.h"

void mp_gstack_init(mp_gstack_t *s, bool link_in_third_word) MP_HIDDEN; /* default: false */
void mp_gstack_push(mp_gstack_t *s, mp_block_t *first, unsigned count) MP_HIDDEN;
mp_block_t *mp_gstack_pop(mp_gstack_t *s, unsigned *count) MP_HIDDEN;
void mp_gstack_reset(mp_gstack_t *s) MP_HIDDEN;
mp_block_t *mp_gstack_take_all(mp_gstack_t *s) MP_HIDDEN; /* every batch, as one list */
static inline uint64_t mp_gstack_pops(mp_gstack_t *s) /* batches popped so far, roughly */
{
    return atomic_load_explicit(&s->pops, memory_order_relaxed);
}
/* The batch after `batch` in a taken list (NULL at the end); *count: batch's blocks. */
mp_block_t *mp_gstack_next_batch(const mp_gstack_t *s, mp_block_t *batch, unsigned *count) MP_HIDDEN;
extern void (*mp_gstack_pop_window_hook)(void) MP_HIDDEN; /* tests only */

#endif
