/* The explicit API of include/mpool.h: the prefixed allocation functions and
 * the counters, for programs that call libmpool by name. */
#include "core/alloc.h"
#include "base/options.h"
#include "core/counters.h"
#include "core/limit.h"
#include "core/reclaim.h"
#include "mpool.h"
#include "observe/dump.h"

#include <errno.h>

MP_EXPORT const char *mpool_version(void)
{
    return "0.1.0";
}

MP_EXPORT void *mpool_malloc(size_t n)
{
    return mp_malloc(n);
}

MP_EXPORT void mpool_free(void *p)
{
    mp_free(p);
}

MP_EXPORT void *mpool_calloc(size_t k, size_t n)
{
    return mp_calloc(k, n);
}

MP_EXPORT void *mpool_realloc(void *p, size_t n)
{
    return mp_realloc(p, n);
}

MP_EXPORT void *mpool_aligned_alloc(size_t align, size_t n)
{
    return mp_aligned_alloc(align, n);
}

MP_EXPORT size_t mpool_usable_size(const void *p)
{
    return mp_usable_size(p);
}

MP_EXPORT size_t mpool_trim(void)
{
    if (mp_tls_cache != &mp_tcache_empty)
        mp_tcache_give_back(mp_tls_cache);
    return mp_reclaim_pass(true);
}

MP_EXPORT int mpool_stats_get(struct mpool_stats *out)
{
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    mp_totals_t t;
    mp_counters_collect(&t);
    *out = (struct mpool_stats){
        .allocs = t.allocs,
        .frees = t.frees,
        .reuses = t.reuses,
        .active_blocks = t.active_blocks,
        .active_bytes = t.active_bytes,
        .peak_active_bytes = t.peak_active_bytes,
        .alloc_ns = t.alloc_ns,
        .reuse_ns = t.reuse_ns,
        .mapped_bytes = t.mapped_bytes,
        .fallback_allocs = t.fallback_allocs,
        .fallback_frees = t.fallback_frees,
        .fallback_active_bytes = t.fallback_bytes,
        .threads_live = t.threads_live,
        .threads_exited = t.threads_exited,
    };
    return 0;
}

MP_EXPORT int mpool_stats_dump(const char *path)
{
    if (path == NULL)
        path = mp_dump_default_path();
    if (path == NULL || *path == '\0') {
        errno = EINVAL;
        return -1;
    }
    return mp_dump_to_path(path, "request");
}

MP_EXPORT size_t mpool_stats_json(char *buf, size_t cap)
{
    return mp_dump_json(buf, buf ? cap : 0);
}

MP_EXPORT int mpool_set_limit(size_t bytes)
{
    return mp_limit_set(bytes);
}

MP_EXPORT size_t mpool_get_limit(void)
{
    return atomic_load_explicit(&mp_limit_bytes, memory_order_relaxed);
}

MP_EXPORT size_t mpool_held_bytes(void)
{
    if (mp_limit_on())
        return mp_limit_held();
    mp_totals_t t; /* without a cap the held bytes are the active bytes */
    mp_counters_collect(&t);
    return t.active_bytes;
}
