/* Reference-counted buffers (mpool_buf_*): a 32-byte header, then the data,
 * in one libmpool block.  The count is atomic: retain is a relaxed increment
 * (the caller already holds a reference), release an acq_rel decrement, so
 * the thread that frees sees every other holder's writes.  A magic word,
 * cleared when the buffer is freed, turns most uses of a dead buffer into a
 * clear report instead of a double free. */
#include "core/alloc.h"
#include "base/report.h"
#include "mpool.h"

#include <errno.h>

#define BUF_MAGIC 0x6d706f6f6c627566ull /* "mpoolbuf" */
#define BUF_DEAD 0x646561646275666full  /* "deadbufo" */

struct mpool_buf {
    _Atomic uint64_t magic; /* BUF_MAGIC while live */
    _Atomic unsigned refs;  /* holders */
    unsigned pad;
    size_t len;             /* data bytes */
    size_t pad2;
    /* data follows, 16-byte aligned */
};

_Static_assert(sizeof(struct mpool_buf) == 32, "buffer header is 32 bytes");

static void check_live(const mpool_buf_t *b, const char *func)
{
    if (b == NULL || atomic_load_explicit(&((mpool_buf_t *)b)->magic, memory_order_relaxed) != BUF_MAGIC)
        mp_report_bad_pointer(func, b, MP_PTR_OUTSIDE);
}

MP_EXPORT mpool_buf_t *mpool_buf_new(size_t len)
{
    if (len > MP_MAX_REQUEST - sizeof(mpool_buf_t)) {
        errno = ENOMEM;
        return NULL;
    }
    mpool_buf_t *b = mp_malloc(sizeof *b + len);
    if (b == NULL)
        return NULL;
    b->len = len;
    atomic_init(&b->refs, 1);
    atomic_store_explicit(&b->magic, BUF_MAGIC, memory_order_relaxed);
    return b;
}

MP_EXPORT void *mpool_buf_data(const mpool_buf_t *b)
{
    return (char *)(b + 1);
}

MP_EXPORT size_t mpool_buf_len(const mpool_buf_t *b)
{
    return b->len;
}

MP_EXPORT mpool_buf_t *mpool_buf_retain(mpool_buf_t *b)
{
    check_live(b, "mpool_buf_retain");
    unsigned old = atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    if (old == 0 || old == UINT32_MAX)
        mp_report_fatal(old ? "mpool_buf_retain(): reference count overflow"
                            : "mpool_buf_retain(): buffer already released");
    return b;
}

MP_EXPORT void mpool_buf_release(mpool_buf_t *b)
{
    check_live(b, "mpool_buf_release");
    unsigned old = atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel);
    if (old == 1) {
        atomic_store_explicit(&b->magic, BUF_DEAD, memory_order_relaxed);
        mp_free(b);
    } else if (old == 0) {
        mp_report_bad_pointer("mpool_buf_release", b, MP_PTR_POOL);
    }
}

MP_EXPORT unsigned mpool_buf_refcount(const mpool_buf_t *b)
{
    check_live(b, "mpool_buf_refcount");
    return atomic_load_explicit(&((mpool_buf_t *)b)->refs, memory_order_relaxed);
}
