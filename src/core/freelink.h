/* A free block's mark and link: the mark that says a block is free (double
 * frees) and, with safe-linking, covers its link to the next free block.
 * Shared by every module that keeps free blocks in lists: the thread caches
 * and global stacks, the reclaim passes, the spans of profiled blocks. */
#ifndef MPOOL_FREELINK_H
#define MPOOL_FREELINK_H

#include "core/types.h"

/* At start, before any block is freed: draws the secret; safe-linking on
 * or off for good. */
void mp_freelink_init(bool safelink) MP_HIDDEN;

/* A free block carries a mark in its second word: its own address xor the
 * secret.  free() finding the mark already there has met a double free; a
 * live block holds program data there, which matches with probability
 * 2^-64.  Blocks of 32 bytes and more keep the mark on a global stack too
 * (the stack's link goes in their third word); a 16-byte block at the head
 * of a batch has the link there instead, and a double free of exactly that
 * block goes unseen. */
extern uintptr_t mp_secret MP_HIDDEN; /* random per process, low 4 bits 0 */

static inline uintptr_t mp_free_mark(const void *p)
{
    return (uintptr_t)p ^ mp_secret;
}

/* Safe-linking (MPOOL_SAFELINK, and MPOOL_DEBUG): the mark covers the block's
 * link too (its first word, the next block of its bin or batch), and every
 * pop checks it before following the link, so a write after free over
 * either word is reported there instead of handing out a wild pointer at the
 * next call.  It closes the fast paths (the gate, as MPOOL_DEBUG does), which
 * write and read the plain mark and cost nothing more while it is off; their
 * misses then take a checked copy of them, the lane (alloc.h).
 * mp_link_mask is ~0 while it is on, else 0; set at start, before any block
 * is freed, and never changed.  Whoever changes a free block's link rewrites
 * its mark (mp_block_set_next).  A 16-byte block at the head of a batch has
 * no mark (above): its link is not checked. */
extern uintptr_t mp_link_mask MP_HIDDEN;

/* The mark of free block p whose link is next (the slow paths' view). */
static inline uintptr_t mp_free_mark_linked(const void *p, const void *next)
{
    return mp_free_mark(p) ^ ((uintptr_t)next & mp_link_mask);
}

/* b carries its mark: it is free (and with safe-linking, its link is the one
 * written with the mark). */
static inline bool mp_block_is_free(const mp_block_t *b)
{
    return b->link == mp_free_mark_linked(b, b->next);
}

/* Link free block b to next, and mark it. */
static inline void mp_block_set_next(mp_block_t *b, mp_block_t *next)
{
    b->next = next;
    if (MP_CHECKS)
        b->link = mp_free_mark_linked(b, next);
}

/* A free block whose mark is gone: one line naming it, then abort().  func:
 * the call that found it, or NULL (a reclaim pass). */
__attribute__((noreturn)) void mp_report_bad_link(const char *func,
                                                  const void *b) MP_COLD MP_HIDDEN;

/* With safe-linking, where a pop or a walk is about to follow b's link: b
 * must still carry its mark. */
static inline void mp_check_link(const char *func, const mp_block_t *b)
{
    if (MP_CHECKS && MP_UNLIKELY(mp_link_mask != 0) && MP_UNLIKELY(!mp_block_is_free(b)))
        mp_report_bad_link(func, b);
}

#endif
