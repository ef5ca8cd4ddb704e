/* Fixed-size pools (mpool_fixed_*).
 *
 * Blocks are made in slabs: one allocation from libmpool's own classes, sized
 * to fit the largest class (or one block per fallback allocation when a block
 * is larger), so the memory cap and the stats see them like any allocation.
 * Each block has a 32-byte header before it:
 *   words 0-1  the free stack's links while the block is free (gstack.c),
 *   word 2     owner: the pool's address xor a per-process secret, | 1 while
 *              the block is handed out.
 * put swaps the owner word from handed-out to free with one CAS: a block of
 * another pool, one never handed out, or a second put fails it and is
 * reported.  A block's header is read only after its address is known to be
 * mapped: inside libmpool's region, or the start of a live fallback block.
 *
 * The free blocks are a lock-free stack (the same tagged stack as the size
 * classes, batches of one).  A get that finds it empty makes a slab while the
 * pool is under capacity; otherwise it waits on a futex word that put bumps
 * when someone waits.  Waiters register before they look, so a put either
 * sees the waiter or the waiter sees the block: no lost wakeup. */
#define _GNU_SOURCE
#include "api/pools.h"
#include "base/fmt.h"
#include "base/report.h"
#include "core/alloc.h"
#include "core/gstack.h"
#include "core/init.h"
#include "fallback/fallback.h"
#include "observe/dump.h"
#include "platform/os.h"
#include "profile/sites.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#define HDR 32
#define OUT_BIT ((uintptr_t)1)
#define MP_POOL_RECORDS 1024 /* pools listed in a dump; more may exist */

/* What the stats dump shows of a pool; written by the pool, read racily. */
typedef struct mp_pool_record {
    _Atomic int live;            /* 1 live, 0 free, -1 being set up */
    size_t block_size, capacity; /* as configured */
    _Atomic size_t made;         /* blocks made */
    _Atomic uint64_t gets, puts, waits, timeouts;
} mp_pool_record_t;

typedef struct block_hdr {
    mp_block_t node; /* free-stack links while free */
    uintptr_t owner; /* pool ^ secret, | OUT_BIT while handed out */
    uintptr_t unused;
} block_hdr_t;

typedef struct slab {
    struct slab *next;
    size_t blocks;
    char pad[HDR - sizeof(struct slab *) - sizeof(size_t)];
} slab_t;

struct mpool_fixed {
    mp_gstack_t free;                /* free blocks, batches of one */
    size_t block_size;               /* rounded up to 16 */
    size_t stride;                   /* HDR + block_size */
    size_t per_slab;                 /* blocks per slab */
    size_t capacity;                 /* 0 = unbounded */
    void (*init)(void *, void *);
    void (*reset)(void *, void *);
    void *arg;
    uintptr_t tag;                   /* owner word of a free block */
    mp_pool_record_t *rec;           /* counters: a listed record, or own_rec */
    mp_pool_record_t own_rec;        /* when all MP_POOL_RECORDS are taken */
    pthread_mutex_t slab_lock;       /* guards slabs (making and destroying only) */
    slab_t *slabs;
    _Alignas(MP_CACHELINE) _Atomic size_t made; /* blocks made */
    _Atomic uint32_t seq;            /* futex word: bumped by put when waiters */
    _Atomic uint32_t waiters;        /* gets asleep or about to be */
};

/* ---- the records the stats dump lists ------------------------------------------- */

static mp_pool_record_t records[MP_POOL_RECORDS];

static const mp_column_t pool_columns[] = {
    { "block_size", "block", 9 }, { "capacity", "capacity", 10 }, { "made", "made", 10 },
    { "gets", "gets", 12 },       { "puts", "puts", 12 },         { "waits", "waits", 10 },
    { "timeouts", "timeouts", 10 },
};

void mp_pools_emit(mp_emitter_t *e, const mp_pool_row_t *rows, unsigned n)
{
    enum { NPCOL = sizeof pool_columns / sizeof *pool_columns };
    mp_emit_table_begin(e, "pools", "fixed pools (mpool_fixed_*)", pool_columns, NPCOL);
    for (unsigned i = 0; i < n; i++) {
        const mp_pool_row_t *r = &rows[i];
        uint64_t row[NPCOL] = { r->block_size, r->capacity, r->made, r->gets,
                                r->puts, r->waits, r->timeouts };
        mp_emit_table_row(e, pool_columns, row, NPCOL);
    }
    mp_emit_table_end(e);
}

/* The dump's section: the live pools, read racily (a dump may run in a
 * signal handler).  The rows are static: dumps take turns (observe/dump.c). */
static void pools_section(mp_emitter_t *e)
{
    static mp_pool_row_t rows[MP_DUMP_POOLS];
    unsigned n = 0;
    for (unsigned i = 0; i < MP_POOL_RECORDS && n < MP_DUMP_POOLS; i++) {
        mp_pool_record_t *r = &records[i];
        if (atomic_load_explicit(&r->live, memory_order_acquire) != 1)
            continue;
        rows[n++] = (mp_pool_row_t){
            r->block_size, r->capacity,
            atomic_load_explicit(&r->made, memory_order_relaxed),
            atomic_load_explicit(&r->gets, memory_order_relaxed),
            atomic_load_explicit(&r->puts, memory_order_relaxed),
            atomic_load_explicit(&r->waits, memory_order_relaxed),
            atomic_load_explicit(&r->timeouts, memory_order_relaxed),
        };
    }
    mp_pools_emit(e, rows, n);
}

__attribute__((constructor)) static void pools_register_section(void)
{
    mp_dump_add_section(pools_section);
}

/* One line naming the block and the pool, then abort(). */
__attribute__((noreturn)) static void report_bad_block(const void *pool, const void *block,
                                                       const char *what)
{
    char line[256];
    mp_fmt(line, sizeof line, "mpool_fixed_put(): invalid block %p for pool %p (%s)", block, pool,
           what);
    mp_report_abort(line);
}

static mp_pool_record_t *record_acquire(void)
{
    for (unsigned i = 0; i < MP_POOL_RECORDS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&records[i].live, &expected, -1)) {
            mp_pool_record_t *r = &records[i];
            atomic_store(&r->gets, 0);
            atomic_store(&r->puts, 0);
            atomic_store(&r->waits, 0);
            atomic_store(&r->timeouts, 0);
            atomic_store(&r->made, 0);
            return r;
        }
    }
    return NULL; /* more live pools than records: this one is not listed */
}

/* One relaxed add per get and per put; handed out = gets - puts. */
#define COUNT(p, field) atomic_fetch_add_explicit(&(p)->rec->field, 1, memory_order_relaxed)

/* ---- helpers ------------------------------------------------------------------------ */

static block_hdr_t *hdr_of(void *block)
{
    return (block_hdr_t *)((char *)block - HDR);
}

static void *block_of(block_hdr_t *h)
{
    return (char *)h + HDR;
}

/* Make a slab of want blocks (already counted in made), or of one block if
 * the region is full (*made_n says which); returns one block handed out, the
 * rest free.  NULL + ENOMEM. */
/* A get gave up capacity it had reserved: a waiter may have seen the pool
 * full meanwhile, and only a put would wake it. */
static void wake_waiter(mpool_fixed_t *p)
{
    if (atomic_load(&p->waiters)) {
        atomic_fetch_add(&p->seq, 1);
        mp_os_futex_wake(&p->seq, 1);
    }
}

/* Slab memory: never sampled (a sampled block would come from the fallback,
 * where only a slab's start is a known block).  A slab that still lands
 * outside the region (the region is full) must hold a single block. */
static slab_t *slab_alloc(size_t bytes)
{
    int was = mp_tls_unsampled;
    mp_tls_unsampled = 1;
    slab_t *s = mp_malloc(bytes);
    mp_tls_unsampled = was;
    return s;
}

static void *make_slab(mpool_fixed_t *p, size_t want, size_t *made_n)
{
    slab_t *s = slab_alloc(sizeof(slab_t) + want * p->stride);
    unsigned cls;
    if (s && want > 1 && mp_region_classify(s, &cls) != MP_PTR_POOL) {
        mp_free(s); /* outside the region: one block per slab instead */
        atomic_fetch_sub(&p->made, want - 1);
        want = 1;
        wake_waiter(p);
        s = slab_alloc(sizeof(slab_t) + p->stride);
    }
    if (s == NULL) {
        atomic_fetch_sub(&p->made, want);
        wake_waiter(p);
        errno = ENOMEM;
        return NULL;
    }
    s->blocks = want;
    if (made_n)
        *made_n = want;
    char *first = (char *)(s + 1);
    for (size_t i = 0; i < want; i++) {
        block_hdr_t *h = (block_hdr_t *)(first + i * p->stride);
        h->owner = p->tag;
        if (p->init)
            p->init(block_of(h), p->arg);
    }
    pthread_mutex_lock(&p->slab_lock);
    s->next = p->slabs;
    p->slabs = s;
    pthread_mutex_unlock(&p->slab_lock);
    if (p->rec)
        atomic_fetch_add_explicit(&p->rec->made, want, memory_order_relaxed);
    for (size_t i = 1; i < want; i++) {
        block_hdr_t *h = (block_hdr_t *)(first + i * p->stride);
        h->node.next = NULL;
        mp_gstack_push(&p->free, &h->node, 1);
    }
    block_hdr_t *h = (block_hdr_t *)first;
    h->owner = p->tag | OUT_BIT;
    return block_of(h);
}

/* A block now, or NULL: EAGAIN (exhausted) or ENOMEM. */
static void *take(mpool_fixed_t *p)
{
    unsigned n;
    mp_block_t *node = mp_gstack_pop(&p->free, &n);
    if (node) {
        block_hdr_t *h = (block_hdr_t *)node;
        /* popped: ours alone, so a plain store marks it handed out */
        if (h->owner != p->tag)
            mp_report_fatal("mpool_fixed_get(): a free block's header was overwritten "
                            "(write after put?)");
        h->owner = p->tag | OUT_BIT;
        return block_of(h);
    }
    size_t made = atomic_load(&p->made), want;
    do {
        if (p->capacity && made >= p->capacity) {
            errno = EAGAIN;
            return NULL;
        }
        want = p->per_slab;
        if (p->capacity && want > p->capacity - made)
            want = p->capacity - made;
    } while (!atomic_compare_exchange_weak(&p->made, &made, made + want));
    return make_slab(p, want, NULL);
}

/* ---- the API ------------------------------------------------------------------------ */

MP_EXPORT mpool_fixed_t *mpool_fixed_create(const struct mpool_fixed_config *cfg)
{
    if (cfg == NULL || cfg->block_size == 0 || cfg->block_size > MP_MAX_REQUEST / 2 ||
        (cfg->capacity && cfg->prealloc > cfg->capacity)) {
        errno = EINVAL;
        return NULL;
    }
    mp_init();
    mpool_fixed_t *p = mp_memalign(MP_CACHELINE, sizeof *p);
    if (p == NULL)
        return NULL;
    memset(p, 0, sizeof *p);
    p->block_size = (cfg->block_size + 15) & ~(size_t)15;
    p->stride = HDR + p->block_size;
    /* a slab fits the largest class, so it is a pooled block; else one block
     * per (fallback) allocation, whose start the registry knows.  At most a
     * 64 KiB page: medium classes would make every slab up to 16 times that */
    size_t slab_max = mp_max_class_size < MP_PAGE_SIZE ? mp_max_class_size : MP_PAGE_SIZE;
    size_t room = slab_max > sizeof(slab_t) ? slab_max - sizeof(slab_t) : 0;
    p->per_slab = room / p->stride ? room / p->stride : 1;
    if (p->per_slab > 64)
        p->per_slab = 64;
    p->capacity = cfg->capacity;
    p->init = cfg->init;
    p->reset = cfg->reset;
    p->arg = cfg->arg;
    p->tag = (uintptr_t)p ^ mp_secret; /* the secret's low 4 bits are 0: OUT_BIT is free */
    pthread_mutex_init(&p->slab_lock, NULL);
    mp_gstack_init(&p->free, false); /* nodes are headers: the link in their second word */
    p->rec = record_acquire();
    if (p->rec == NULL) /* not listed in dumps, but counted all the same */
        p->rec = &p->own_rec;
    p->rec->block_size = cfg->block_size;
    p->rec->capacity = cfg->capacity;
    if (p->rec != &p->own_rec)
        atomic_store_explicit(&p->rec->live, 1, memory_order_release);
    for (size_t done = 0; done < cfg->prealloc;) {
        size_t want = cfg->prealloc - done < p->per_slab ? cfg->prealloc - done : p->per_slab;
        atomic_fetch_add(&p->made, want);
        void *b = make_slab(p, want, &want); /* may make fewer (region full) */
        if (b == NULL) {
            mpool_fixed_destroy(p);
            errno = ENOMEM;
            return NULL;
        }
        hdr_of(b)->owner = p->tag; /* made free, not handed out */
        hdr_of(b)->node.next = NULL;
        mp_gstack_push(&p->free, &hdr_of(b)->node, 1);
        done += want;
    }
    return p;
}

MP_EXPORT void *mpool_fixed_try_get(mpool_fixed_t *p)
{
    void *b = take(p);
    if (b)
        COUNT(p, gets);
    return b;
}

MP_EXPORT void *mpool_fixed_get_timeout(mpool_fixed_t *p, long ms)
{
    void *first = take(p); /* the common case: no waiting, no waiter bookkeeping */
    if (MP_LIKELY(first != NULL)) {
        COUNT(p, gets);
        return first;
    }
    if (errno != EAGAIN)
        return NULL;
    uint64_t deadline = ms > 0 ? mp_os_now_ns() + (uint64_t)ms * 1000000u : 0;
    bool waited = false;
    for (;;) {
        atomic_fetch_add(&p->waiters, 1);
        uint32_t seq = atomic_load(&p->seq);
        void *b = take(p);
        if (b || errno != EAGAIN) {
            atomic_fetch_sub(&p->waiters, 1);
            if (b)
                COUNT(p, gets);
            return b;
        }
        int64_t timeout = -1; /* ns; < 0: none */
        if (ms >= 0) {
            uint64_t now = mp_os_now_ns();
            if (ms <= 0 || now > deadline) {
                atomic_fetch_sub(&p->waiters, 1);
                COUNT(p, timeouts);
                errno = ETIMEDOUT;
                return NULL;
            }
            timeout = (int64_t)(deadline - now);
        }
        if (!waited) {
            COUNT(p, waits);
            waited = true;
        }
        mp_os_futex_wait(&p->seq, seq, timeout);
        atomic_fetch_sub(&p->waiters, 1);
    }
}

MP_EXPORT void *mpool_fixed_get(mpool_fixed_t *p)
{
    return mpool_fixed_get_timeout(p, -1);
}

/* Is the 32-byte header before block readable memory of ours? */
static bool header_mapped(const void *block)
{
    const char *h = (const char *)block - HDR;
    unsigned cls;
    mp_ptr_kind_t kind = mp_region_classify(h, &cls);
    if (kind == MP_PTR_INTERIOR || kind == MP_PTR_POOL)
        return true; /* inside a span of the region: mapped */
    mp_fallback_info_t info; /* a one-block slab: the slab starts right before */
    return kind == MP_PTR_OUTSIDE && ((uintptr_t)h & 15) == 0 &&
           mp_fallback_lookup(h - sizeof(slab_t), &info);
}

MP_EXPORT void mpool_fixed_put(mpool_fixed_t *p, void *block)
{
    if (block == NULL || ((uintptr_t)block & 15) || !header_mapped(block))
        mp_report_bad_pointer("mpool_fixed_put", block, MP_PTR_OUTSIDE);
    block_hdr_t *h = hdr_of(block);
    uintptr_t expected = p->tag | OUT_BIT;
    if (!atomic_compare_exchange_strong((_Atomic uintptr_t *)&h->owner, &expected, p->tag)) {
        report_bad_block(p, block, expected == p->tag ? "already put back (double put)"
                                                          : "not a block of this pool");
    }
    if (p->reset)
        p->reset(block, p->arg);
    h->node.next = NULL;
    mp_gstack_push(&p->free, &h->node, 1);
    COUNT(p, puts);
    wake_waiter(p); /* seq_cst: pairs with the waiter's register-then-look */
}

MP_EXPORT size_t mpool_fixed_capacity(const mpool_fixed_t *p)
{
    return p->capacity;
}

MP_EXPORT size_t mpool_fixed_available(const mpool_fixed_t *p)
{
    if (p->capacity == 0)
        return SIZE_MAX;
    /* puts first: a racing get then makes out look larger, never negative */
    uint64_t puts = atomic_load_explicit(&p->rec->puts, memory_order_acquire);
    uint64_t gets = atomic_load_explicit(&p->rec->gets, memory_order_acquire);
    uint64_t out = gets > puts ? gets - puts : 0;
    return out < p->capacity ? p->capacity - (size_t)out : 0;
}

MP_EXPORT void mpool_fixed_destroy(mpool_fixed_t *p)
{
    if (p == NULL)
        return;
    if (p->rec != &p->own_rec)
        atomic_store_explicit(&p->rec->live, 0, memory_order_release);
    for (slab_t *s = p->slabs, *next; s; s = next) {
        next = s->next;
        mp_free(s);
    }
    pthread_mutex_destroy(&p->slab_lock);
    mp_free(p);
}

size_t mp_pool_block_payload(const mpool_fixed_t *p)
{
    return p->block_size;
}
