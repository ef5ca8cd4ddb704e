/* The global stack of one size class: a Treiber stack whose nodes are batches
 * (NULL-terminated lists of free blocks).  A thread cache that runs dry pops
 * one batch; one that overflows pushes one.  One CAS moves up to a batch of
 * blocks, so threads meet here once per batch, not once per block.
 *
 * A batch's first block carries the link to the next batch and the batch's
 * count in one word: bits 0..47 the pointer (user-space addresses fit in 47
 * bits), bits 48..63 the count.  The word is the block's second by default;
 * the class stacks of blocks of 32 bytes and more use the third, so the
 * second keeps free()'s double-free mark even on a batch's first block.
 *
 * ABA: pop reads top->link and then CASes the head from top to that link.  If
 * in between top were popped, reused and pushed again, a plain CAS would
 * succeed and install a stale link.  The head is therefore two words, {top,
 * tag}, swapped together with cmpxchg16b, and every successful push or pop
 * increments the tag; a CAS that raced with any change sees a different tag and
 * fails.  The 64-bit tag cannot wrap within any realistic preemption.
 *
 * The racy read of top->link is safe because batches live only in the region,
 * which is never unmapped: at worst it reads garbage from a block now in use,
 * and then the CAS fails.
 *
 * Memory order: the CAS is a full barrier on x86-64 (lock cmpxchg16b); it
 * publishes the batch's list writes (push) and acquires them (pop).  The two
 * halves of the head are read separately; a torn read only fails the CAS. */
#include "core/gstack.h"

typedef union mp_gstack_head {
    unsigned __int128 raw;
    struct {
        uintptr_t top; /* first block of the top batch, or 0 */
        uint64_t tag;  /* incremented by every successful push and pop */
    } s;
} mp_gstack_head_t;

/* Test seam: called between reading top->link and the CAS, so a unit test can
 * force the preemption that exposes ABA.  NULL in production: one predictable
 * branch per batch, not per block. */
void (*mp_gstack_pop_window_hook)(void);

static inline mp_gstack_head_t load_head(mp_gstack_t *st)
{
    mp_gstack_head_t h;
    uint64_t *w = (uint64_t *)&st->head;
    h.s.tag = __atomic_load_n(&w[1], __ATOMIC_ACQUIRE);
    h.s.top = __atomic_load_n(&w[0], __ATOMIC_ACQUIRE);
    return h;
}

/* Where a batch's first block keeps the stack's link (see above). */
static inline uintptr_t *link_of(const mp_gstack_t *st, mp_block_t *b)
{
    return (uintptr_t *)b + (st->link_in_third_word ? 2 : 1);
}

/* An empty stack that keeps batch links in the given word. */
void mp_gstack_init(mp_gstack_t *st, bool link_in_third_word)
{
    mp_gstack_reset(st);
    st->link_in_third_word = link_in_third_word;
}

static inline bool cas_head(mp_gstack_t *st, mp_gstack_head_t old, mp_gstack_head_t new)
{
    return __sync_bool_compare_and_swap(&st->head, old.raw, new.raw);
}

void mp_gstack_push(mp_gstack_t *st, mp_block_t *first, unsigned count)
{
    mp_gstack_head_t old, new;
    do {
        old = load_head(st);
        __atomic_store_n(link_of(st, first), old.s.top | ((uintptr_t)count << 48), __ATOMIC_RELAXED);
        new.s.top = (uintptr_t)first;
        new.s.tag = old.s.tag + 1;
    } while (!cas_head(st, old, new));
}

mp_block_t *mp_gstack_pop(mp_gstack_t *st, unsigned *count)
{
    mp_gstack_head_t old, new;
    do {
        old = load_head(st);
        if (old.s.top == 0)
            return NULL;
        uintptr_t link = __atomic_load_n(link_of(st, (mp_block_t *)old.s.top), __ATOMIC_RELAXED);
        new.s.top = link & MP_LINK_PTR_MASK;
        new.s.tag = old.s.tag + 1;
        if (MP_UNLIKELY(mp_gstack_pop_window_hook != NULL))
            mp_gstack_pop_window_hook();
    } while (!cas_head(st, old, new));
    mp_block_t *first = (mp_block_t *)old.s.top;
    *count = (unsigned)(*link_of(st, first) >> 48); /* ours now: the link is stable */
    /* how much the stack is drawn on, for reclaim.c: a load and a store, no
     * lock prefix; two pops at once may count one */
    atomic_store_explicit(&st->pops, atomic_load_explicit(&st->pops, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return first;
}

/* Take every batch at once (reclaim.c): the stack is empty after, and the
 * caller owns the list, walked with mp_gstack_next_batch. */
mp_block_t *mp_gstack_take_all(mp_gstack_t *st)
{
    mp_gstack_head_t old, new;
    do {
        old = load_head(st);
        if (old.s.top == 0)
            return NULL;
        new.s.top = 0;
        new.s.tag = old.s.tag + 1;
    } while (!cas_head(st, old, new));
    return (mp_block_t *)old.s.top;
}

mp_block_t *mp_gstack_next_batch(const mp_gstack_t *st, mp_block_t *batch, unsigned *count)
{
    uintptr_t link = *link_of(st, batch);
    *count = (unsigned)(link >> 48);
    return (mp_block_t *)(link & MP_LINK_PTR_MASK);
}

/* After fork() in the child: the stacks are consistent (every change is one
 * CAS), so nothing needs resetting; this exists for tests. */
void mp_gstack_reset(mp_gstack_t *st)
{
    mp_gstack_head_t h = { .s = { 0, 0 } };
    st->head = h.raw;
}
