/* The malloc family's semantics, after the fast paths (alloc.h) miss: glibc's
 * contract, errno included.  Every path validates the pointer it is given and
 * reports misuse (mp_report_bad_pointer) instead of corrupting the heap.
 *
 * Every allocation that comes here is counted and may be sampled
 * (sample.h): timed, and with MPOOL_PROF profiled, in which case the block
 * comes from a span of profiled blocks (core/sampled.c), whose frees take
 * the slow path to the registry, which remembers the site. */
#define _GNU_SOURCE
#include "core/alloc.h"
#include "base/options.h"
#include "core/bootstrap.h"
#include "core/counters.h"
#include "core/debug.h"
#include "core/init.h"
#include "core/limit.h"
#include "core/reclaim.h"
#include "core/sampled.h"
#include "base/probes.h"
#include "core/sample.h"
#include "fallback/fallback.h"
#include "guard/fault.h"
#include "guard/guard.h"
#include "platform/os.h"
#include "profile/sites.h"

#include <errno.h>
#include <string.h>

static bool is_pow2(size_t x)
{
    return x && !(x & (x - 1));
}

_Atomic int mp_perturb_byte;

void mp_set_perturb(int value)
{
    atomic_store_explicit(&mp_perturb_byte, value, memory_order_relaxed);
    mp_tcache_set_gates();
}

/* The M_PERTURB value, 0 when off (glibc keeps the whole int: 256 fills
 * with 0xff and 0), and always off under MPOOL_DEBUG, whose own fill is
 * checked on reuse. */
static int perturb_byte(void)
{
    int v = atomic_load_explicit(&mp_perturb_byte, memory_order_relaxed);
    return MP_UNLIKELY(v) && !mp_opt.debug ? v : 0;
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

/* ---- accounting of fallback blocks ---------------------------------------- */

/* The fallback's counters: on the thread's cache, or (tc NULL: a thread
 * without a cache) on the shared atomics; and the active bytes. */
static void count_fallback(mp_tcache_t *tc, uint64_t allocs, uint64_t frees, size_t in, size_t out)
{
    if (tc) {
        mp_count(tc, fallback_allocs, allocs);
        mp_count(tc, fallback_frees, frees);
        mp_count(tc, fallback_bytes_in, in);
        mp_count(tc, fallback_bytes_out, out);
    } else {
        mp_count_shared(fallback_allocs, allocs);
        mp_count_shared(fallback_frees, frees);
        mp_count_shared(fallback_bytes_in, in);
        mp_count_shared(fallback_bytes_out, out);
    }
    mp_counters_add_active((int64_t)in - (int64_t)out);
}

/* A pooled block freed by a thread without a cache. */
static void count_uncached_class_free(unsigned cls)
{
    atomic_fetch_add_explicit(&mp_shared.class_frees[cls], 1, memory_order_relaxed);
    mp_counters_add_active(-(int64_t)mp_classes[cls].size);
}

static void count_alloc_of(mp_tcache_t *tc, const mp_fallback_info_t *info)
{
    if (!MP_COUNTERS)
        return;
    if (info->cls) { /* a sampled pool request: counted in its class (by its countdown), never a reuse */
        tc->bump[info->cls].fresh++;
        mp_counters_held(tc, mp_classes[info->cls].size);
    } else {
        count_fallback(tc, 1, 0, info->usable, 0);
    }
}

static void count_free_of(const mp_fallback_info_t *info)
{
    if (!MP_COUNTERS)
        return;
    mp_tcache_t *tc = mp_tls_cache != &mp_tcache_empty ? mp_tls_cache : NULL;
    mp_sample_free(info);
    if (info->cls && tc) {
        tc->bins[info->cls].frees++;
        mp_counters_held(tc, -(int64_t)mp_classes[info->cls].size);
    } else if (info->cls) {
        count_uncached_class_free(info->cls);
    } else {
        count_fallback(tc, 0, 1, 0, info->usable);
    }
}

static void *fallback_alloc(mp_tcache_t *tc, size_t n, size_t align, bool zero, uint32_t site,
                            unsigned cls)
{
    mp_fallback_info_t info;
    void *p = mp_fallback_alloc(n, align, zero, site, cls, &info);
    if (p == NULL)
        return NULL;
    count_alloc_of(tc, &info);
    mp_sample_credit(site, cls, n);
    if (n >= ((size_t)1 << 20))
        mp_reclaim_big_alloc(); /* its free will leave memory for the decay */
    if (site != MP_NO_SITE)
        MP_PROBE(sample_alloc, p, n, site);
    else if (cls == 0)
        MP_PROBE(large_alloc, p, n);
    return p;
}

/* A profiled request of a pool class: a block of that class from a span of
 * profiled blocks (core/sampled.c), which remembers its site; the fallback
 * serves it if no such block can be had.  Counted in its class. */
static void *sampled_alloc(mp_tcache_t *tc, unsigned cls, size_t n, size_t align, bool zero,
                           const mp_sample_t *s, bool *reused)
{
    uint32_t site = s->site;
    int was = mp_tls_unsampled;
    mp_tls_unsampled = 1; /* a signal handler's allocation meanwhile: not sampled into our lock */
    mp_sampled_block_t what = { site, (uint32_t)(s->t0 / 1000u), (uint32_t)n, 1 }; /* born: the call's start */
    void *p = mp_sampled_alloc(cls, &what, reused);
    mp_tls_unsampled = was;
    if (p == NULL) {
        *reused = false;
        return fallback_alloc(tc, n, align, zero, site, cls);
    }
    if (MP_UNLIKELY(mp_opt.debug) && *reused)
        mp_debug_check_freed(p, mp_classes[cls].size); /* still the fill free() left */
    if (zero)
        memset(p, 0, n);
    if (MP_COUNTERS) { /* counted in its class, as the pools' blocks are */
        if (!*reused)
            tc->bump[cls].fresh++;
        mp_counters_held(tc, mp_classes[cls].size);
    }
    mp_sample_credit(site, cls, n);
    MP_PROBE(sample_alloc, p, n, site);
    return p;
}

/* A guarded request of a pool class (guard/guard.h): counted in its class,
 * as a profiled block is; NULL when no slot is free, and the call goes on
 * as usual. */
static void *guarded_alloc(mp_tcache_t *tc, unsigned cls, size_t n, size_t align, bool zero,
                           const mp_sample_t *s)
{
    void *p = mp_guard_alloc(n, align, s->what & MP_SAMPLE_PROF ? s->site : MP_NO_SITE, cls);
    if (p == NULL)
        return NULL;
    mp_guard_fault_install(); /* before the program can touch it */
    (void)zero; /* a slot's page reads zero */
    if (MP_COUNTERS) {
        tc->bump[cls].fresh++;
        mp_counters_held(tc, mp_classes[cls].size);
    }
    if (s->what & MP_SAMPLE_PROF) {
        mp_sample_credit(s->site, cls, n);
        MP_PROBE(sample_alloc, p, n, s->site);
    }
    return p;
}

/* What a guarded block is, as the callers that speak of fallback blocks see it. */
static mp_fallback_info_t guarded_info(const mp_guard_block_t *b)
{
    return (mp_fallback_info_t){ b->size, b->size, b->size, b->site, b->tag, b->born_us };
}

/* The free of a guarded block (mp_guard_owns(p)). */
static void free_guarded(void *p)
{
    mp_guard_block_t b;
    mp_guard_free(p, &b); /* reports misuse, and what the pattern around it says */
    mp_fallback_info_t info = guarded_info(&b);
    if (info.site != MP_NO_SITE)
        MP_PROBE(sample_free, p, info.sampled, info.site);
    count_free_of(&info);
    if (MP_UNLIKELY(mp_limit_on()))
        mp_limit_release(mp_classes[b.tag].size);
}

/* What the registry would say of a profiled pooled block, for the callers
 * that speak of fallback blocks (counts, realloc). */
static mp_fallback_info_t sampled_info(const mp_sampled_block_t *b, unsigned cls)
{
    return (mp_fallback_info_t){ mp_classes[cls].size, b->requested, b->requested, b->site, cls,
                                 b->born_us };
}

/* The free of a profiled pooled block; p is the start of a block of cls in
 * a span of them (MP_PTR_SAMPLED). */
static void free_sampled(void *p, unsigned cls)
{
    mp_sampled_block_t b;
    if (MP_UNLIKELY(mp_opt.debug) || MP_UNLIKELY(perturb_byte())) {
        /* the checks and fills first, while the block is still ours */
        if (!mp_sampled_lookup(p, cls, &b))
            mp_report_bad_pointer("free", p, MP_PTR_SAMPLED);
        if (mp_opt.debug) {
            mp_debug_check("free", p, mp_classes[cls].size);
            mp_debug_fill_freed(p, mp_classes[cls].size);
        } else {
            memset(p, perturb_byte() & 0xff, mp_classes[cls].size);
        }
    }
    int was = mp_tls_unsampled;
    mp_tls_unsampled = 1;
    bool live = mp_sampled_free(p, cls, &b);
    mp_tls_unsampled = was;
    if (!live)
        mp_report_bad_pointer("free", p, MP_PTR_SAMPLED); /* freed before, or never made */
    mp_fallback_info_t info = sampled_info(&b, cls);
    MP_PROBE(sample_free, p, info.sampled, info.site);
    count_free_of(&info);
    if (MP_UNLIKELY(mp_limit_on()))
        mp_limit_release(mp_classes[cls].size);
}

/* ---- pooled allocation ------------------------------------------------------ */

/* A block of class cls (> 0) for a thread with a cache; *reused says whether
 * it had been freed before. */
static void *class_alloc(mp_tcache_t *tc, unsigned cls, size_t n, size_t align, bool *reused)
{
    mp_bin_t *bin = &tc->bins[cls];
    void *p = bin->head;
    *reused = true;
    if (p) {
        mp_check_link("malloc", p);
        bin->head = bin->head->next;
        bin->count--;
        ((mp_block_t *)p)->link = 0; /* no longer free */
    } else {
        uint64_t fresh = tc->bump[cls].fresh;
        p = mp_tcache_refill(tc, cls);
        if (p == NULL && mp_region_limited() && mp_reclaim_for_space())
            p = mp_tcache_refill(tc, cls); /* a released span's addresses */
        if (p == NULL && mp_region_limited()) {
            errno = ENOMEM; /* the address-space limit: the rest of it is left to threads */
            return NULL;
        }
        if (p == NULL) /* the region is full: jemalloc serves it, tagged with its class */
            return fallback_alloc(tc, n, align, false, MP_NO_SITE, cls);
        *reused = tc->bump[cls].fresh == fresh;
    }
    if (MP_UNLIKELY(mp_opt.debug) && *reused)
        mp_debug_check_freed(p, mp_classes[cls].size); /* still the fill free() left */
    return p;
}

/* What a block counts against the memory cap: pooled requests at their class
 * size (also when sampled), others at the size
 * asked for, corrected to jemalloc's usable size once known. */
static size_t cap_charge(unsigned cls, size_t n)
{
    return cls ? mp_classes[cls].size : n;
}

static void *alloc_block(mp_tcache_t *tc, unsigned cls, size_t n, size_t align, bool zero);
static void *alloc_capped(mp_tcache_t *tc, size_t n, size_t align, bool zero);
static void *debug_alloc(mp_tcache_t *tc, size_t n, size_t align, bool zero);

/* The one path behind every miss: any size, any alignment (a power of two). */
static void *alloc_aligned(size_t n, size_t align, bool zero)
{
    if (MP_UNLIKELY(n > MP_MAX_REQUEST)) {
        errno = ENOMEM;
        return NULL;
    }
    mp_tcache_t *tc = thread_cache(); /* initialises: mp_opt is read after this */
    if (MP_UNLIKELY(mp_opt.debug) && !mp_tls_in_init)
        return debug_alloc(tc, n, align, zero);
    void *p = alloc_capped(tc, n, align, zero);
    int perturb = perturb_byte();
    if (MP_UNLIKELY(perturb) && p && !zero)
        memset(p, (perturb ^ 0xff) & 0xff, n);
    return p;
}

/* Under a memory cap, charge the block first; else just allocate. */
static void *alloc_capped(mp_tcache_t *tc, size_t n, size_t align, bool zero)
{
    unsigned cls = align <= MP_MIN_ALIGN ? mp_size_class(n) : mp_sizeclass_for_alignment(n, align);
    if (MP_LIKELY(!mp_limit_on()) || (tc == NULL && mp_tls_in_init))
        return alloc_block(tc, cls, n, align, zero);
    size_t charge = cap_charge(cls, n);
    if (!mp_limit_reserve(charge)) {
        if (cls && tc && tc->bins[cls].countdown <= 0)
            mp_sample_undo(tc, cls); /* the fast path counted it as the cap closed */
        errno = ENOMEM;
        return NULL;
    }
    void *p = alloc_block(tc, cls, n, align, zero);
    if (p == NULL) {
        mp_limit_release(charge);
    } else if (cls == 0) {
        mp_fallback_info_t info;
        if (mp_fallback_lookup(p, &info) && info.usable > charge)
            mp_limit_charge(info.usable - charge); /* rounding: counted, not refused */
    }
    return p;
}

static void *alloc_block(mp_tcache_t *tc, unsigned cls, size_t n, size_t align, bool zero)
{
    if (MP_UNLIKELY(tc == NULL)) {
        if (mp_tls_in_init) {
            void *p = mp_boot_alloc(n, align);
            if (p == NULL)
                errno = ENOMEM;
            return p; /* the bootstrap arena is static, hence zeroed */
        }
        return fallback_alloc(NULL, n, align, zero, MP_NO_SITE, 0);
    }

    if (MP_COUNTERS && !mp_tls_unsampled)
        tc->recent[tc->recent_pos++] = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    mp_sample_t s;
    if (MP_LIKELY(mp_sample_alloc(tc, cls, n, &s) == MP_SAMPLE_NONE)) {
        if (cls == 0)
            return fallback_alloc(tc, n, align, zero, MP_NO_SITE, 0);
        bool reused;
        void *p = class_alloc(tc, cls, n, align, &reused);
        if (p == NULL)
            mp_sample_undo(tc, cls); /* counted above, but nothing was handed out */
        else if (zero)
            memset(p, 0, n);
        return p;
    }

    /* Timed, or profiled, or guarded, or some of these. */
    bool prof_it = s.what & MP_SAMPLE_PROF;
    void *p;
    bool reused = false;
    if (s.what & MP_SAMPLE_GUARD) {
        p = guarded_alloc(tc, cls, n, align, zero, &s);
        if (p)
            return p; /* its time is the slot's, not the pools': not timed */
    }
    if (prof_it && cls) {
        p = sampled_alloc(tc, cls, n, align, zero, &s, &reused);
    } else if (cls == 0) {
        p = fallback_alloc(tc, n, align, zero, s.site, 0);
    } else {
        p = class_alloc(tc, cls, n, align, &reused);
        if (p && zero)
            memset(p, 0, n);
    }
    if (p == NULL && cls)
        mp_sample_undo(tc, cls);
    mp_sample_alloc_done(tc, cls, n, &s, reused);
    return p;
}

/* Safe-linking alone closes the gates (no cap, no MPOOL_DEBUG, no
 * M_PERTURB): the fast paths' misses take the safe-linked lane (alloc.h). */
static inline bool lane_open(void)
{
    return MP_UNLIKELY(mp_link_mask != 0) && mp_tcache_calls_unwatched();
}

/* noinline: a call here gets the copy of alloc_aligned specialised for it */
__attribute__((noinline)) void *mp_malloc_slow(size_t n)
{
    return alloc_aligned(n, 0, false);
}

void *mp_malloc_generic(size_t n)
{
    if (lane_open())
        return mp_malloc_body(n, true);
    return mp_malloc_slow(n);
}

void mp_free_generic(void *p)
{
    if (lane_open() && mp_tls_cache != &mp_tcache_empty)
        mp_free_body(p, true);
    else
        mp_free_slow(p);
}

/* Free p if it is a live fallback block; false if it is not one. */
static bool free_fallback(void *p)
{
    mp_fallback_info_t info;
    if (MP_UNLIKELY(mp_opt.debug) && mp_fallback_lookup(p, &info))
        mp_debug_check("free", p, info.usable);

    if (!mp_fallback_free(p, &info))
        return false;
    if (info.site != MP_NO_SITE)
        MP_PROBE(sample_free, p, info.sampled, info.site);
    else if (info.cls == 0)
        MP_PROBE(large_free, p, info.usable);
    count_free_of(&info);
    mp_reclaim_fallback_freed();
    if (MP_UNLIKELY(mp_limit_on()))
        mp_limit_release(info.cls ? mp_classes[info.cls].size : info.usable);
    return true;
}

void mp_free_slow(void *p)
{
    if (p == NULL)
        return;
    int saved_errno = errno;
    unsigned cls;
    mp_ptr_kind_t kind = mp_region_classify(p, &cls);
    if (kind == MP_PTR_POOL) {
        mp_block_t *blk = p;
        if (MP_CHECKS && mp_block_is_free(blk))
            mp_report_bad_pointer("free", p, MP_PTR_POOL); /* double free */
        if (MP_UNLIKELY(mp_opt.debug)) {
            mp_debug_check("free", p, mp_classes[cls].size);
            mp_debug_fill_freed(p, mp_classes[cls].size);
        }
        int perturb = perturb_byte(); /* pooled blocks only: glibc does not fill what it unmaps */
        if (MP_UNLIKELY(perturb))
            memset(p, perturb & 0xff, mp_classes[cls].size); /* the links below go over it */
        if (MP_UNLIKELY(mp_limit_on()))
            mp_limit_release(mp_classes[cls].size);
        mp_tcache_t *tc = thread_cache();
        if (tc == NULL) {
            mp_tcache_free_uncached(p, cls);
            if (MP_COUNTERS)
                count_uncached_class_free(cls);
        } else {
            mp_bin_t *bin = &tc->bins[cls];
            uint32_t flush_at = __atomic_load_n(&bin->flush_at, __ATOMIC_RELAXED);
            if (bin->count >= (flush_at ? flush_at : mp_classes[cls].cache_limit)) /* 0: gate closed */
                mp_tcache_flush(tc, cls);
            mp_block_set_next(blk, bin->head);
            bin->head = blk;
            bin->count++;
            if (MP_COUNTERS)
                bin->frees++;
        }
    } else if (kind == MP_PTR_SAMPLED) {
        free_sampled(p, cls);
    } else if (kind == MP_PTR_OUTSIDE && mp_guard_owns(p)) {
        free_guarded(p);
    } else if (kind == MP_PTR_OUTSIDE && mp_boot_owns(p, NULL)) {
        /* bootstrap blocks are never reused */
    } else if (kind == MP_PTR_OUTSIDE && free_fallback(p)) {
        /* done */
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

/* What a live block is, found once; misuse is reported naming func. */
typedef struct live_block {
    size_t usable;        /* bytes the program may use */
    unsigned cls;         /* > 0: a pooled block of this class */
    bool fallback;        /* a live fallback block, described by info */
    bool boot;            /* a bootstrap block (never armed by MPOOL_DEBUG) */
    mp_fallback_info_t info; /* when fallback */
} live_block_t;

static live_block_t live_block_or_report(const char *func, const void *p)
{
    live_block_t b = { 0 };
    mp_ptr_kind_t kind = mp_region_classify(p, &b.cls);
    if (kind == MP_PTR_POOL) {
        if (MP_CHECKS && mp_block_is_free(p))
            mp_report_bad_pointer(func, p, MP_PTR_POOL); /* a freed block */
        b.usable = mp_classes[b.cls].size;
        return b;
    }
    mp_sampled_block_t sb;
    if (kind == MP_PTR_SAMPLED && mp_sampled_lookup(p, b.cls, &sb)) {
        b.info = sampled_info(&sb, b.cls);
        b.cls = 0;
        b.fallback = true; /* described as the fallback's blocks are: realloc moves it */
        b.usable = b.info.usable;
        return b;
    }
    b.cls = 0;
    if (kind == MP_PTR_OUTSIDE && mp_guard_owns(p)) {
        mp_guard_block_t gb;
        mp_guard_lookup(p, func, &gb); /* reports a freed or a wild one */
        b.info = guarded_info(&gb);
        b.fallback = true; /* described as the fallback's blocks are: realloc moves it */
        b.usable = gb.size;
        return b;
    }
    if (kind == MP_PTR_OUTSIDE && mp_boot_owns(p, &b.usable)) {
        b.boot = true;
        return b;
    }
    if (kind == MP_PTR_OUTSIDE && mp_fallback_lookup(p, &b.info)) {
        b.fallback = true;
        b.usable = b.info.usable;
        return b;
    }
    mp_report_bad_pointer(func, p, kind);
}

/* ---- MPOOL_DEBUG: each block carries a canary and a trailer (debug.c) ---------- */

static void *debug_alloc(mp_tcache_t *tc, size_t n, size_t align, bool zero)
{
    if (n > MP_MAX_REQUEST - MP_DEBUG_MIN_BLOCK) {
        errno = ENOMEM;
        return NULL;
    }
    uint32_t site = mp_opt.prof && tc ? mp_site_capture() : MP_NO_SITE;
    void *p = alloc_capped(tc, mp_debug_size(n), align, zero);
    if (p) {
        live_block_t b = live_block_or_report("malloc", p);
        if (!b.boot) /* bootstrap blocks are never armed */
            mp_debug_arm(p, n, b.usable, site);
    }
    return p;
}

void *mp_realloc(void *p, size_t n)
{
    if (p == NULL)
        return mp_malloc(n);
    if (n == 0) { /* glibc: frees and returns NULL */
        mp_free(p);
        return NULL;
    }
    live_block_t b = live_block_or_report("realloc", p);
    size_t old = b.usable;
    if (n > MP_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (MP_UNLIKELY(mp_opt.debug) && !b.boot) {
        old = mp_debug_check("realloc", p, b.usable);
        if (mp_debug_size(n) > b.usable)
            goto move;
        mp_debug_arm(p, n, b.usable, mp_debug_site(p, b.usable)); /* the canary moves */
        return p;
    }
    if (n <= old && (n * 2 >= old || old <= 32))
        return p; /* fits, and shrinking to less than half is worth a move */
    if (b.fallback && b.info.cls == 0 && mp_size_class(n) == 0) {
        /* fallback to fallback: jemalloc resizes in place if it can */
        mp_fallback_info_t was = b.info, now;
        bool capped = mp_limit_on();
        size_t grow = n > was.usable ? n - was.usable : 0;
        if (capped && !mp_limit_reserve(grow)) {
            errno = ENOMEM;
            return NULL;
        }
        void *q = mp_fallback_realloc(p, n, &was, &now);
        if (capped) { /* settle on the usable sizes: counted, not refused */
            if (q == NULL)
                mp_limit_release(grow);
            else if (now.usable > was.usable + grow)
                mp_limit_charge(now.usable - was.usable - grow);
            else
                mp_limit_release(was.usable + grow - now.usable);
        }
        if (q && MP_COUNTERS)
            count_fallback(thread_cache(), 0, 0, now.usable, was.usable);
        return q;
    }
move:;
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

/* C17 (and glibc from 2.38): an alignment that is not a power of two,
 * zero included, is refused. */
void *mp_aligned_alloc(size_t align, size_t n)
{
    if (!is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
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
    if (p == NULL)
        return 0;
    live_block_t b = live_block_or_report("malloc_usable_size", p);
    if (MP_UNLIKELY(mp_opt.debug) && !b.boot)
        return mp_debug_check("malloc_usable_size", p, b.usable); /* the canary starts there */
    return b.usable;
}

void mp_free_sized(void *p, size_t n)
{
    (void)n;
    mp_free(p);
}
