/* Chained buffers (mpool_chain_*): a byte stream kept in blocks of a fixed
 * pool, for one writer and one reader at a time.
 *
 * Each block starts with a 16-byte link (the next block); the rest holds
 * data.  The writer owns the tail block and its fill offset; the reader owns
 * the head block and its read offset.  They share two things: `len`, the
 * bytes written and not yet read (the writer adds after copying, release;
 * the reader loads, acquire, before copying), and each block's `next` link
 * (set by the writer before the bytes that cross into the new block are
 * published by `len`).
 *
 * The reader gives a block back once it has read all of it and the writer
 * has moved past it (`next` set): the writer never touches a block behind its
 * tail, so the reader may free it.  A drained tail block stays until then. */
#include "api/pools.h"
#include "core/alloc.h"
#include "mpool.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

typedef struct link {
    _Atomic(struct link *) next;
    size_t unused;
} link_t;

struct mpool_chain {
    mpool_fixed_t *pool;
    size_t payload;            /* data bytes per block */
    size_t max_len;            /* 0 = unlimited */
    _Atomic size_t len;        /* written, not yet read */
    /* reader's side */
    _Alignas(MP_CACHELINE) link_t *head;
    size_t head_off;           /* bytes of head already read */
    /* writer's side */
    _Alignas(MP_CACHELINE) link_t *_Atomic tail;
    size_t tail_off;           /* bytes of tail already written */
};

MP_EXPORT mpool_chain_t *mpool_chain_new(mpool_fixed_t *blocks, size_t max_len)
{
    if (blocks == NULL || mp_pool_block_payload(blocks) <= sizeof(link_t)) {
        errno = EINVAL;
        return NULL;
    }
    mpool_chain_t *c = mp_memalign(MP_CACHELINE, sizeof *c);
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    c->pool = blocks;
    c->payload = mp_pool_block_payload(blocks) - sizeof(link_t);
    c->max_len = max_len;
    return c;
}

MP_EXPORT ssize_t mpool_chain_write(mpool_chain_t *c, const void *src, size_t n)
{
    size_t have = atomic_load_explicit(&c->len, memory_order_relaxed);
    if (c->max_len && (n > c->max_len || have > c->max_len - n)) {
        errno = EFBIG;
        return -1;
    }
    if (n > SSIZE_MAX) {
        errno = EINVAL;
        return -1;
    }
    const char *s = src;
    size_t left = n;
    while (left) {
        link_t *tail = atomic_load_explicit(&c->tail, memory_order_relaxed);
        if (tail == NULL || c->tail_off == c->payload) {
            link_t *b = mpool_fixed_get(c->pool); /* waits while the pool is exhausted */
            if (b == NULL)
                return -1; /* ENOMEM; what was written stays */
            atomic_store_explicit(&b->next, NULL, memory_order_relaxed);
            c->tail_off = 0;
            if (tail)
                atomic_store_explicit(&tail->next, b, memory_order_release);
            else
                c->head = b; /* the first block: no reader can look before len > 0 */
            atomic_store_explicit(&c->tail, b, memory_order_relaxed);
            tail = b;
        }
        size_t k = c->payload - c->tail_off < left ? c->payload - c->tail_off : left;
        memcpy((char *)(tail + 1) + c->tail_off, s, k);
        c->tail_off += k;
        s += k;
        left -= k;
        atomic_fetch_add_explicit(&c->len, k, memory_order_release);
    }
    return (ssize_t)n;
}

MP_EXPORT ssize_t mpool_chain_read(mpool_chain_t *c, void *dst, size_t n)
{
    size_t avail = atomic_load_explicit(&c->len, memory_order_acquire);
    if (n > avail)
        n = avail;
    if (n == 0)
        return 0; /* nothing published: the head may not even be set yet */
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    char *d = dst;
    size_t done = 0;
    while (done < n) {
        if (c->head_off == c->payload) { /* head fully read: the writer has moved on */
            link_t *next = atomic_load_explicit(&c->head->next, memory_order_acquire);
            mpool_fixed_put(c->pool, c->head);
            c->head = next;
            c->head_off = 0;
        }
        size_t k = c->payload - c->head_off < n - done ? c->payload - c->head_off : n - done;
        memcpy(d + done, (char *)(c->head + 1) + c->head_off, k);
        c->head_off += k;
        done += k;
    }
    atomic_fetch_sub_explicit(&c->len, done, memory_order_release);
    /* a fully read head behind the tail can go back at once */
    if (c->head && c->head_off == c->payload &&
        atomic_load_explicit(&c->head->next, memory_order_acquire)) {
        link_t *next = atomic_load_explicit(&c->head->next, memory_order_acquire);
        mpool_fixed_put(c->pool, c->head);
        c->head = next;
        c->head_off = 0;
    }
    return (ssize_t)done;
}

MP_EXPORT size_t mpool_chain_len(const mpool_chain_t *c)
{
    return atomic_load_explicit(&((mpool_chain_t *)c)->len, memory_order_acquire);
}

MP_EXPORT void mpool_chain_free(mpool_chain_t *c)
{
    if (c == NULL)
        return;
    for (link_t *b = c->head, *next; b; b = next) {
        next = atomic_load_explicit(&b->next, memory_order_relaxed);
        mpool_fixed_put(c->pool, b);
    }
    mp_free(c);
}
