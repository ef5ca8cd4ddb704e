/* The malloc family's semantics, after the fast paths (alloc.h) miss: glibc's
 * contract, errno included.  Every path validates the pointer it is given and
 * reports misuse (report.c) instead of corrupting the heap. */
#define _GNU_SOURCE
#include "alloc.h"

#include <errno.h>
#include <string.h>

static bool is_pow2(size_t x)
{
    return x && !(x & (x - 1));
}

/* The fallback for a thread with a cache, or (tc NULL) without one. */
static void *fallback_alloc(mp_tcache_t *tc, size_t n, size_t align, bool zero)
{
    size_t usable;
    void *p = mp_large_alloc(n, align, zero, &usable);
    if (p == NULL)
        return NULL;
    if (tc) {
        tc->fallback_allocs++;
        tc->fallback_bytes_in += usable;
    } else {
        atomic_fetch_add_explicit(&mp_shared.fallback_allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&mp_shared.fallback_bytes_in, usable, memory_order_relaxed);
    }
    return p;
}

static void count_fallback_free(size_t usable)
{
    mp_tcache_t *tc = mp_tls_cache;
    if (tc != &mp_tcache_empty) {
        tc->fallback_frees++;
        tc->fallback_bytes_out += usable;
    } else {
        atomic_fetch_add_explicit(&mp_shared.fallback_frees, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&mp_shared.fallback_bytes_out, usable, memory_order_relaxed);
    }
}

/* The calling thread's cache, made on first use; NULL while this thread
 * initialises libmpool or after its cache was handed back at thread exit. */
static mp_tcache_t *thread_cache(void)
{
    mp_tcache_t *tc = mp_tls_cache;
    if (MP_UNLIKELY(tc == &mp_tcache_empty))
        tc = mp_tcache_for_thread();
    return tc;
}

/* A block of class cls (> 0) for a thread with a cache. */
static void *class_alloc(mp_tcache_t *tc, unsigned cls, size_t n, size_t align)
{
    mp_bin_t *bin = &tc->bins[cls];
    void *p = bin->head;
    if (p) {
        bin->head = bin->head->next;
        bin->count--;
    } else {
        p = mp_tcache_refill(tc, cls);
        if (p == NULL) /* the region is full: jemalloc serves it instead */
            return fallback_alloc(tc, n, align, false);
    }
    bin->allocs++;
    return p;
}

/* Any size, any alignment (a power of two); the one path behind every miss. */
static void *alloc_aligned(size_t n, size_t align, bool zero)
{
    if (MP_UNLIKELY(n > MP_MAX_REQUEST)) {
        errno = ENOMEM;
        return NULL;
    }
    mp_tcache_t *tc = thread_cache();
    if (MP_UNLIKELY(tc == NULL)) {
        if (mp_tls_in_init) {
            void *p = mp_boot_alloc(n, align);
            if (p == NULL)
                errno = ENOMEM;
            return p; /* the bootstrap arena is static, hence zeroed */
        }
        return fallback_alloc(NULL, n, align, zero);
    }
    unsigned cls = align <= MP_MIN_ALIGN ? mp_size_class(n) : mp_sizeclass_for_alignment(n, align);
    if (cls == 0)
        return fallback_alloc(tc, n, align, zero);
    void *p = class_alloc(tc, cls, n, align);
    if (p && zero)
        memset(p, 0, n);
    return p;
}

void *mp_malloc_generic(size_t n)
{
    return alloc_aligned(n, 0, false);
}

void mp_free_generic(void *p)
{
    if (p == NULL)
        return;
    int saved_errno = errno;
    unsigned cls;
    size_t usable;
    mp_ptr_kind_t kind = mp_segment_classify(p, &cls);
    if (kind == MP_PTR_POOL) {
        mp_tcache_t *tc = thread_cache();
        if (tc == NULL) {
            mp_tcache_free_uncached(p, cls);
            atomic_fetch_add_explicit(&mp_shared.class_frees[cls], 1, memory_order_relaxed);
        } else {
            mp_bin_t *bin = &tc->bins[cls];
            if (bin->count >= bin->limit)
                mp_tcache_flush(tc, cls);
            mp_block_t *b = p;
            b->next = bin->head;
            bin->head = b;
            bin->count++;
            bin->frees++;
        }
    } else if (kind == MP_PTR_OUTSIDE && mp_boot_owns(p, NULL)) {
        /* bootstrap blocks are never reused */
    } else if (kind == MP_PTR_OUTSIDE && mp_large_free(p, &usable)) {
        count_fallback_free(usable);
    } else {
        mp_report_bad_pointer("free", p, kind);
    }
    errno = saved_errno;
}

void *mp_calloc(size_t k, size_t n)
{
    size_t total;
    if (__builtin_mul_overflow(k, n, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(total, 0, true);
}

/* Usable size of a live block, or report misuse naming func. */
static size_t usable_or_report(const char *func, const void *p)
{
    unsigned cls;
    size_t usable;
    mp_ptr_kind_t kind = mp_segment_classify(p, &cls);
    if (kind == MP_PTR_POOL)
        return mp_classes[cls].size;
    if (kind == MP_PTR_OUTSIDE && (mp_boot_owns(p, &usable) || mp_large_owns(p, &usable)))
        return usable;
    mp_report_bad_pointer(func, p, kind);
}

void *mp_realloc(void *p, size_t n)
{
    if (p == NULL)
        return mp_malloc(n);
    if (n == 0) { /* glibc: frees and returns NULL */
        mp_free(p);
        return NULL;
    }
    size_t old = usable_or_report("realloc", p);
    if (n > MP_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned cls;
    bool pooled = mp_segment_classify(p, &cls) == MP_PTR_POOL;
    if (pooled && n <= old && (n * 2 >= old || old <= 32))
        return p; /* fits, and shrinking to less than half is worth a move */
    if (!pooled && !mp_boot_owns(p, NULL) && mp_size_class(n) == 0) {
        size_t was, now; /* fallback to fallback: jemalloc resizes in place if it can */
        void *q = mp_large_realloc(p, n, &was, &now);
        if (q) {
            mp_tcache_t *tc = thread_cache();
            if (tc) {
                tc->fallback_bytes_in += now;
                tc->fallback_bytes_out += was;
            } else {
                atomic_fetch_add_explicit(&mp_shared.fallback_bytes_in, now, memory_order_relaxed);
                atomic_fetch_add_explicit(&mp_shared.fallback_bytes_out, was, memory_order_relaxed);
            }
        }
        return q;
    }
    void *q = mp_malloc(n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    mp_free(p);
    return q;
}

void *mp_reallocarray(void *p, size_t k, size_t n)
{
    size_t total;
    if (__builtin_mul_overflow(k, n, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return mp_realloc(p, total);
}

/* glibc's memalign: an alignment that is not a power of two is rounded up. */
void *mp_memalign(size_t align, size_t n)
{
    if (align <= MP_MIN_ALIGN)
        return mp_malloc(n);
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!is_pow2(align))
        align = (size_t)1 << (64 - __builtin_clzl(align));
    return alloc_aligned(n, align, false);
}

void *mp_aligned_alloc(size_t align, size_t n)
{
    return mp_memalign(align, n);
}

int mp_posix_memalign(void **out, size_t align, size_t n)
{
    if (!is_pow2(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved_errno = errno;
    void *p = align <= MP_MIN_ALIGN ? mp_malloc(n) : alloc_aligned(n, align, false);
    errno = saved_errno;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *mp_valloc(size_t n)
{
    return alloc_aligned(n, mp_os_page_size(), false);
}

void *mp_pvalloc(size_t n)
{
    size_t page = mp_os_page_size();
    if (n > MP_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    n = n ? (n + page - 1) & ~(page - 1) : page;
    return alloc_aligned(n, page, false);
}

size_t mp_usable_size(const void *p)
{
    return p ? usable_or_report("malloc_usable_size", p) : 0;
}

void mp_free_sized(void *p, size_t n)
{
    (void)n;
    mp_free(p);
}
