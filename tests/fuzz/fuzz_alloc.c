/* libFuzzer harness for libmpool (issue #6, "Tests").
 *
 * The fuzzer executable is built from libmpool's own sources (see
 * tests/fuzz/meson.build), so its malloc family IS libmpool: the harness, libc,
 * libstdc++ and libFuzzer itself all allocate through it.
 *
 * Input: a sequence of 5-byte records (a trailing partial record is ignored)
 *
 *   byte 0   T ooooooo   T = thread (0: the fuzzer's thread, 1: the worker),
 *                        ooooooo % OP_COUNT = the operation
 *   byte 1   xx ssssss   ssssss = slot (0..63) in the shared slot table,
 *                        xx = two flag bits some operations use
 *   byte 2   e           an operation-specific parameter byte
 *   byte 3-4 size        16-bit little endian, decoded by decode_size()
 *
 * The records of each thread run in order, the two threads concurrently.
 * Blocks live in a slot table shared by both threads (ownership of a slot is
 * taken with a CAS, so either thread may free the other's blocks); every
 * block is filled with a pattern derived from its seed and checked before it
 * is freed, reallocated or at the end of the input.  Everything is freed at
 * the end of each input.  Any failed check prints one line and abort()s.
 * See tests/fuzz/README.md for the operation table. */
#define _GNU_SOURCE
#include <mpool.h>

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not declared by Debian 12's glibc (2.36); libmpool exports them. */
void free_sized(void *p, size_t n);
void cfree(void *p);

#define NSLOTS 64
#define NPOOLS 4          /* private fixed pools per thread */
#define POOL_BLOCKS 16    /* handed-out blocks remembered per private pool */
#define MAX_OPS 4096      /* per thread per input */
#define OUTBOX_MAX 4096   /* blocks parked for the other thread */
#define BURST_MAX 1020

#define INIT_BYTE 0xa5    /* fixed-pool init callback fill */
#define RESET_BYTE 0x5a   /* fixed-pool reset callback fill */

enum op {
    OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_FREE, OP_USABLE, OP_CHECK,
    OP_VALLOC, OP_FIXED_CREATE, OP_FIXED_GET, OP_FIXED_PUT, OP_FIXED_DESTROY,
    OP_SHARED_GET, OP_BUF_NEW, OP_BUF_RETAIN, OP_CHAIN, OP_CHAIN_PRIV, OP_LIMIT,
    OP_STATS, OP_TRIM, OP_BURST, OP_SPAWN, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "malloc", "calloc", "realloc", "aligned", "free", "usable", "check",
    "valloc", "fixed_create", "fixed_get", "fixed_put", "fixed_destroy",
    "shared_get", "buf_new", "buf_retain", "chain", "chain_priv", "limit",
    "stats", "trim", "burst", "spawn",
};

/* ---- failure reporting ---------------------------------------------------- */

static _Thread_local int cur_thread = -1;
static _Thread_local size_t cur_op_index;
static _Thread_local int cur_op = -1;

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mpool-fuzz: FAIL thread %d, op #%zu (%s): %s\n", cur_thread, cur_op_index,
            cur_op >= 0 && cur_op < OP_COUNT ? op_names[cur_op] : "-", msg);
    abort();
}

/* ---- the memory cap: failures are allowed while one may be in force -------- */

static atomic_uint limit_epoch; /* odd while a cap is set */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned epoch_now(void) { return atomic_load(&limit_epoch); }
/* Could a cap have applied to a call made between epochs e0 and now? */
static bool capped_since(unsigned e0) { return (e0 & 1) || epoch_now() != e0; }

/* A NULL result: allowed only with errno ENOMEM while a cap may apply. */
static void check_null(void *p, unsigned e0, const char *what, size_t n)
{
    if (p != NULL)
        return;
    if (!capped_since(e0))
        fail("%s(%zu) returned NULL (errno %d) with no memory cap set", what, n, errno);
    if (errno != ENOMEM)
        fail("%s(%zu) returned NULL under a cap with errno %d, not ENOMEM", what, n, errno);
}

/* ---- patterns --------------------------------------------------------------- */

/* The fill and check loops are not instrumented: their comparisons tell the
 * fuzzer nothing about libmpool and would cost most of the time. */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COV __attribute__((no_sanitize("coverage"), noinline))
#else
#define NO_COV __attribute__((noinline))
#endif

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Byte i of a block with this seed: byte (i & 7) of word(i >> 3). */
static inline uint64_t pat_word(uint64_t seed, size_t w)
{
    return (seed ^ (w * 0x9e3779b97f4a7c15ull)) | 0x0101010101010101ull;
}

static inline uint8_t pat_byte(uint64_t seed, size_t i)
{
    return (uint8_t)(pat_word(seed, i >> 3) >> ((i & 7) * 8));
}

/* Offsets are relative to the block start, which is at least 8-aligned. */
NO_COV static void pat_fill_full(void *block, size_t from, size_t to, uint64_t seed)
{
    uint8_t *b = block;
    size_t i = from;
    for (; i < to && (i & 7); i++)
        b[i] = pat_byte(seed, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = pat_word(seed, i >> 3);
        memcpy(b + i, &w, 8);
    }
    for (; i < to; i++)
        b[i] = pat_byte(seed, i);
}

/* The first offset in [from, to) that does not hold the pattern, or SIZE_MAX. */
NO_COV static size_t pat_check_full(const void *block, size_t from, size_t to, uint64_t seed)
{
    const uint8_t *b = block;
    size_t i = from;
    for (; i < to && (i & 7); i++)
        if (b[i] != pat_byte(seed, i))
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != pat_word(seed, i >> 3))
            break;
    }
    for (; i < to; i++)
        if (b[i] != pat_byte(seed, i))
            return i;
    return SIZE_MAX;
}

/* Large blocks carry the pattern sparsely, to keep executions fast: every
 * byte of the first 64 KiB, then the first 256 bytes of each 4 KiB.  The set
 * does not depend on the block's size, so it survives realloc. */
#define DENSE_BYTES ((size_t)64 << 10)
#define SPARSE_STEP ((size_t)4096)
#define SPARSE_RUN ((size_t)256)

static void pat_fill(void *block, size_t from, size_t to, uint64_t seed)
{
    if (from < DENSE_BYTES)
        pat_fill_full(block, from, to < DENSE_BYTES ? to : DENSE_BYTES, seed);
    for (size_t page = (from > DENSE_BYTES ? from : DENSE_BYTES) & ~(SPARSE_STEP - 1); page < to;
         page += SPARSE_STEP) {
        size_t a = page > from ? page : from, z = page + SPARSE_RUN < to ? page + SPARSE_RUN : to;
        if (a < z)
            pat_fill_full(block, a, z, seed);
    }
}

static size_t pat_check(const void *block, size_t from, size_t to, uint64_t seed)
{
    size_t bad = SIZE_MAX;
    if (from < DENSE_BYTES)
        bad = pat_check_full(block, from, to < DENSE_BYTES ? to : DENSE_BYTES, seed);
    for (size_t page = (from > DENSE_BYTES ? from : DENSE_BYTES) & ~(SPARSE_STEP - 1);
         bad == SIZE_MAX && page < to; page += SPARSE_STEP) {
        size_t a = page > from ? page : from, z = page + SPARSE_RUN < to ? page + SPARSE_RUN : to;
        if (a < z)
            bad = pat_check_full(block, a, z, seed);
    }
    return bad;
}

NO_COV static size_t uniform_check(const void *block, size_t n, uint8_t v)
{
    const uint8_t *b = block;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return i;
    return SIZE_MAX;
}

/* ---- sizes ------------------------------------------------------------------------ */

static size_t boundaries[96];
static size_t nboundaries;

static void init_boundaries(void)
{
    for (size_t s = 16; s <= 128; s += 16)
        boundaries[nboundaries++] = s;
    for (size_t base = 128; base < ((size_t)1 << 16); base *= 2)
        for (size_t q = 5; q <= 8; q++)
            boundaries[nboundaries++] = base * q / 4; /* four classes per doubling */
    for (size_t pages = 2; pages <= 16; pages++)
        boundaries[nboundaries++] = pages << 16;    /* medium: a class a page; 256 KiB the default limit */
    boundaries[nboundaries++] = 4096;                 /* page */
}

/* tiny 0..255, mid 0..65532, near a class boundary (+-32), large fallback. */
static size_t decode_size(const uint8_t *b)
{
    unsigned v = b[0] | (unsigned)b[1] << 8;
    unsigned x = v & 0x3fff;
    switch (v >> 14) {
    case 0:
        return v & 0xff;
    case 1:
        return (size_t)x * 4;
    case 2: {
        size_t base = boundaries[(x >> 6) % nboundaries];
        long d = (long)(x & 0x3f) - 32;
        return (long)base + d > 0 ? (size_t)((long)base + d) : 0;
    }
    default:
        if (x < 0x3000)
            return 65536 + (size_t)x * 16;           /* 64 KiB .. 256 KiB */
        if (x < 0x3f00)
            return (size_t)(x - 0x3000) * 1024 + (x & 0xff); /* up to 3.75 MiB */
        return ((size_t)4 << 20) + (size_t)(x & 0xff) * 65536 + (x & 0x3f); /* 4..20 MiB:
                                                     * the huge-block cache */
    }
}

/* ---- the shared slot table ---------------------------------------------------------- */

enum { S_EMPTY, S_FULL, S_BUSY };
enum kind { K_HEAP, K_FIXED, K_BUF };

typedef struct slot {
    atomic_int state;
    int kind;
    void *p;       /* K_HEAP, K_FIXED: the block; K_BUF: the mpool_buf_t */
    size_t size;   /* bytes holding the pattern */
    size_t req;    /* bytes asked for (free_sized) */
    uint64_t seed;
} slot_t;

static slot_t slots[NSLOTS];

/* Take a full slot: ours until slot_put.  false if empty or busy. */
static bool slot_take_full(slot_t *s)
{
    int st = S_FULL;
    return atomic_compare_exchange_strong(&s->state, &st, S_BUSY);
}

/* Take a slot whatever it holds (unless busy); *was_full says which. */
static bool slot_take_any(slot_t *s, bool *was_full)
{
    int st = atomic_load(&s->state);
    while (st != S_BUSY) {
        if (atomic_compare_exchange_weak(&s->state, &st, S_BUSY)) {
            *was_full = st == S_FULL;
            return true;
        }
    }
    return false;
}

static void slot_put(slot_t *s, bool full)
{
    atomic_store(&s->state, full ? S_FULL : S_EMPTY);
}

/* ---- shared per-input objects: a fixed pool and a chain between the threads ----- */

static mpool_fixed_t *shared_pool;
#define SHARED_BS 96
#define SHARED_CAP 32

static struct {
    mpool_chain_t *c;
    mpool_fixed_t *pool;
    size_t max_len;
    uint64_t wpos;          /* writer's (thread 0) stream position */
    uint64_t rpos;          /* reader's (thread 1) stream position */
    atomic_uint_fast64_t read_total; /* rpos, published for the writer's EFBIG check */
} chain;
#define CHAIN_BS 80         /* payload 64 */
#define CHAIN_MAX 4096
#define CHAIN_CAP (CHAIN_MAX / 64 + 4)

static inline uint8_t stream_byte(uint64_t salt, uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 8) * 7 + salt);
}

NO_COV static void stream_fill(uint8_t *buf, size_t n, uint8_t salt, uint64_t pos)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = stream_byte(salt, pos + i);
}

/* The first index in buf[0, n) that is not stream byte pos + i, or SIZE_MAX. */
NO_COV static size_t stream_check(const uint8_t *buf, size_t n, uint8_t salt, uint64_t pos)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != stream_byte(salt, pos + i))
            return i;
    return SIZE_MAX;
}

static void stream_verify(const uint8_t *buf, size_t n, uint8_t salt, uint64_t pos, const char *what)
{
    size_t i = stream_check(buf, n, salt, pos);
    if (i != SIZE_MAX)
        fail("%s: stream byte %llu is %#x, expected %#x", what, (unsigned long long)(pos + i), buf[i],
             stream_byte(salt, pos + i));
}

static void pool_init_cb(void *block, void *arg)
{
    memset(block, INIT_BYTE, (size_t)(uintptr_t)arg);
}

static void pool_reset_cb(void *block, void *arg)
{
    memset(block, RESET_BYTE, (size_t)(uintptr_t)arg);
}

/* ---- blocks parked by one thread for another to free ------------------------------- */

typedef struct parked {
    void *p;
    size_t size;
    uint64_t seed;
} parked_t;

static struct {
    pthread_mutex_t lock;
    parked_t items[OUTBOX_MAX];
    size_t n;
} outbox[3]; /* by producer: 0, 1, 2 = short-lived spawned threads */

static void park(int who, void *p, size_t size, uint64_t seed)
{
    pthread_mutex_lock(&outbox[who].lock);
    if (outbox[who].n < OUTBOX_MAX) {
        outbox[who].items[outbox[who].n++] = (parked_t){ p, size, seed };
        p = NULL;
    }
    pthread_mutex_unlock(&outbox[who].lock);
    if (p) { /* full: free it here */
        size_t bad = pat_check(p, 0, size, seed);
        if (bad != SIZE_MAX)
            fail("parked block %p (size %zu) corrupt at offset %zu", p, size, bad);
        free(p);
    }
}

/* Free up to max blocks parked by producer who (checking each). */
static void drain(int who, size_t max)
{
    pthread_mutex_lock(&outbox[who].lock);
    while (outbox[who].n && max--) {
        parked_t it = outbox[who].items[--outbox[who].n];
        size_t bad = pat_check(it.p, 0, it.size, it.seed);
        if (bad != SIZE_MAX)
            fail("parked block %p (size %zu) corrupt at offset %zu", it.p, it.size, bad);
        free(it.p);
    }
    pthread_mutex_unlock(&outbox[who].lock);
}

/* ---- per-thread state ----------------------------------------------------------------- */

typedef struct pool_slot {
    mpool_fixed_t *p;
    size_t bs, cap;
    bool init, reset;
    int n;                       /* handed-out blocks we hold */
    void *blocks[POOL_BLOCKS];
    uint64_t seeds[POOL_BLOCKS];
} pool_slot_t;

typedef struct tctx {
    int id;
    uint64_t seq;                /* seeds */
    const uint8_t *ops[MAX_OPS];
    size_t nops;
    pool_slot_t pools[NPOOLS];
    struct {
        mpool_chain_t *c;
        mpool_fixed_t *pool;
        size_t payload, max_len;
        bool prealloc;
        uint64_t wpos, rpos;
    } chain;
    void *burst[BURST_MAX];
} tctx_t;

static tctx_t ctxs[2];

static uint64_t new_seed(tctx_t *t)
{
    return mix(((uint64_t)t->id << 56) ^ ++t->seq ^ 0x6d706f6f6cull);
}

static void check_align(const void *p, size_t align, const char *what, size_t n)
{
    if ((uintptr_t)p & (align - 1))
        fail("%s(%zu) returned %p, not %zu-aligned", what, n, p, align);
}

/* Check a full slot's contents (the slot is ours). */
static void slot_verify(const slot_t *s, int idx)
{
    const void *data = s->p;
    if (s->kind == K_BUF) {
        const mpool_buf_t *b = s->p;
        if (mpool_buf_len(b) != s->size)
            fail("slot %d: buffer %p length %zu, expected %zu", idx, s->p, mpool_buf_len(b), s->size);
        if (mpool_buf_refcount(b) == 0)
            fail("slot %d: live buffer %p has refcount 0", idx, s->p);
        data = mpool_buf_data(b);
    }
    size_t bad = pat_check(data, 0, s->size, s->seed);
    if (bad != SIZE_MAX)
        fail("slot %d: %s block %p (size %zu, asked %zu) corrupt at offset %zu: %#x, expected %#x",
             idx, s->kind == K_HEAP ? "heap" : s->kind == K_FIXED ? "fixed" : "buf", data, s->size,
             s->req, bad, ((const uint8_t *)data)[bad], pat_byte(s->seed, bad));
}

/* Release whatever a full slot holds (the slot is ours), after checking it. */
static void slot_release(slot_t *s, int idx, unsigned how)
{
    slot_verify(s, idx);
    switch (s->kind) {
    case K_HEAP:
        switch (how & 3) {
        case 0: free(s->p); break;
        case 1: mpool_free(s->p); break;
        case 2: free_sized(s->p, s->req); break;
        default: cfree(s->p); break;
        }
        break;
    case K_FIXED:
        mpool_fixed_put(shared_pool, s->p);
        break;
    case K_BUF:
        mpool_buf_release(s->p);
        break;
    }
    s->p = NULL;
}

static void slot_install(slot_t *s, int kind, void *p, size_t size, size_t req, uint64_t seed)
{
    s->kind = kind;
    s->p = p;
    s->size = size;
    s->req = req;
    s->seed = seed;
}

/* A new block p in s: its n bytes at data (p's own, or a buffer's) get a
 * fresh pattern, and the slot is published full. */
static void slot_fill_new(tctx_t *t, slot_t *s, int kind, void *p, void *data, size_t n, size_t req)
{
    uint64_t seed = new_seed(t);
    pat_fill(data, 0, n, seed);
    slot_install(s, kind, p, n, req, seed);
    slot_put(s, true);
}

/* ---- operations --------------------------------------------------------------------- */

typedef struct rec {
    int op;
    int slot_i;
    unsigned flags; /* 2 bits */
    unsigned e;
    size_t size;
} rec_t;

/* Allocate a heap block into the slot (replacing what it held). */
static void op_alloc(tctx_t *t, const rec_t *r)
{
    slot_t *s = &slots[r->slot_i];
    bool full;
    if (!slot_take_any(s, &full))
        return;
    if (full)
        slot_release(s, r->slot_i, r->e);
    size_t n = r->size, req = n, align = 16;
    bool odd_align = false; /* an alignment that is not a power of two */
    bool c17 = false;       /* aligned_alloc's rules: such an alignment is refused */
    size_t asked_align = 0;
    const char *what = "malloc";
    void *p = NULL;
    unsigned e0 = epoch_now();
    errno = 0;
    switch (r->op) {
    case OP_MALLOC:
        if ((r->e & 0xfe) == 0xfe) { /* more than PTRDIFF_MAX: must fail with ENOMEM */
            size_t huge = (size_t)PTRDIFF_MAX + 1 + n;
            p = (r->e & 1) ? mpool_malloc(huge) : malloc(huge);
            if (p != NULL || errno != ENOMEM)
                fail("malloc(%zu) returned %p errno %d", huge, p, errno);
            slot_put(s, false);
            return;
        }
        if (r->e & 1) {
            what = "mpool_malloc";
            p = mpool_malloc(n);
        } else {
            p = malloc(n);
        }
        break;
    case OP_CALLOC: {
        static const size_t ks[8] = { 1, 2, 3, 4, 7, 8, 16, 0 };
        size_t k = ks[r->e & 7];
        if (r->e & 0x80) { /* overflow: must fail with ENOMEM */
            size_t big = SIZE_MAX / (k + 2) + 1;
            p = (r->e & 0x40) ? mpool_calloc(big, k + 2) : calloc(big, k + 2);
            if (p != NULL || errno != ENOMEM)
                fail("calloc(%zu, %zu) overflows, returned %p errno %d", big, k + 2, p, errno);
            slot_put(s, false);
            return;
        }
        size_t each = k ? n / k : n;
        req = k * each;
        what = (r->e & 0x40) ? "mpool_calloc" : "calloc";
        p = (r->e & 0x40) ? mpool_calloc(k, each) : calloc(k, each);
        if (p) {
            size_t bad = uniform_check(p, req, 0);
            if (bad != SIZE_MAX)
                fail("calloc(%zu, %zu) = %p not zeroed at offset %zu (%#x)", k, each, p, bad,
                     ((uint8_t *)p)[bad]);
        }
        n = req;
        break;
    }
    case OP_ALIGNED: {
        unsigned ex = (r->e & 0x1f) % 22; /* 1 B .. 2 MiB */
        size_t a = (size_t)1 << ex;
        odd_align = (r->flags & 1) && ex >= 2;
        if (odd_align)
            a += a / 2;
        align = odd_align ? (size_t)2 << ex : a; /* what memalign rounds up to */
        asked_align = a;
        if (align < 16)
            align = 16;
        switch (r->e >> 6) {
        case 0:
            what = "aligned_alloc";
            c17 = true;
            p = aligned_alloc(a, n);
            break;
        case 1: {
            what = "posix_memalign";
            void *out = (void *)&out; /* sentinel: must stay unless 0 is returned */
            int rc = posix_memalign(&out, a, n);
            bool valid = (a & (a - 1)) == 0 && a % sizeof(void *) == 0;
            if (!valid) {
                if (rc != EINVAL || out != (void *)&out)
                    fail("posix_memalign(align %zu) returned %d (out %p), expected EINVAL untouched",
                         a, rc, out);
                slot_put(s, false);
                return;
            }
            if (rc != 0) {
                if (rc != ENOMEM || !capped_since(e0))
                    fail("posix_memalign(%zu, %zu) returned %d", a, n, rc);
                slot_put(s, false);
                return;
            }
            p = out;
            break;
        }
        case 2:
            what = "memalign";
            p = memalign(a, n);
            break;
        default:
            what = "mpool_aligned_alloc";
            c17 = true;
            p = mpool_aligned_alloc(a, n);
            break;
        }
        break;
    }
    case OP_VALLOC: {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        align = page;
        if (r->e & 1) {
            what = "pvalloc";
            p = pvalloc(n);
            n = n ? (n + page - 1) & ~(page - 1) : page; /* pvalloc's whole pages are usable */
        } else {
            what = "valloc";
            p = valloc(n);
        }
        break;
    }
    }
    if (odd_align && c17 && (p != NULL || errno != EINVAL))
        fail("%s(%zu, %zu) returned %p errno %d: want NULL + EINVAL (C17)", what, asked_align, n, p,
             errno);
    if (p == NULL && odd_align && errno == EINVAL) {
        slot_put(s, false); /* memalign rounds such an alignment up; aligned_alloc refuses it */
        return;
    }
    check_null(p, e0, what, req);
    if (p == NULL) {
        slot_put(s, false);
        return;
    }
    check_align(p, align, what, req);
    slot_fill_new(t, s, K_HEAP, p, p, n, req);
}

static void op_realloc(tctx_t *t, const rec_t *r)
{
    slot_t *s = &slots[r->slot_i];
    bool full;
    if (!slot_take_any(s, &full))
        return;
    if (full && s->kind != K_HEAP) { /* not a heap block: release it, realloc(NULL) */
        slot_release(s, r->slot_i, 0);
        full = false;
    }
    void *old = full ? s->p : NULL;
    size_t old_size = full ? s->size : 0;
    uint64_t seed = full ? s->seed : new_seed(t);
    if (full)
        slot_verify(s, r->slot_i);
    size_t n = r->size;
    unsigned e0 = epoch_now();
    errno = 0;
    void *p;
    const char *what = "realloc";
    if ((r->e & 3) == 3 && full) { /* overflowing reallocarray: fails, block intact */
        p = reallocarray(old, SIZE_MAX / 2, 3);
        if (p != NULL || errno != ENOMEM)
            fail("reallocarray(%p, SIZE_MAX/2, 3) returned %p errno %d", old, p, errno);
        slot_verify(s, r->slot_i);
        slot_put(s, true);
        return;
    }
    if ((r->e & 3) == 2) {
        size_t k = 1 + ((r->e >> 2) & 3);
        n = n / k * k;
        what = "reallocarray";
        p = reallocarray(old, k, n / k);
    } else if (r->e & 1) {
        what = "mpool_realloc";
        p = mpool_realloc(old, n);
    } else {
        p = realloc(old, n);
    }
    if (p == NULL && n == 0 && old != NULL) { /* glibc semantics: freed */
        slot_put(s, false);
        return;
    }
    if (p == NULL) {
        check_null(p, e0, what, n);
        if (full) { /* the old block must be intact */
            slot_verify(s, r->slot_i);
            slot_put(s, true);
        } else {
            slot_put(s, false);
        }
        return;
    }
    check_align(p, 16, what, n);
    size_t keep = old_size < n ? old_size : n;
    size_t bad = pat_check(p, 0, keep, seed);
    if (bad != SIZE_MAX)
        fail("%s(%p [%zu bytes], %zu) = %p lost contents at offset %zu", what, old, old_size, n, p, bad);
    pat_fill(p, keep, n, seed);
    slot_install(s, K_HEAP, p, n, n, seed);
    slot_put(s, true);
}

static void op_free(tctx_t *t, const rec_t *r)
{
    (void)t;
    slot_t *s = &slots[r->slot_i];
    if ((r->e & 0xf0) == 0xf0) { /* free(NULL) and friends are no-ops */
        free(NULL);
        mpool_free(NULL);
        free_sized(NULL, r->size);
        unsigned e0 = epoch_now();
        void *p = realloc(NULL, 0);
        check_null(p, e0, "realloc(NULL, 0)", 0);
        free(p);
        return;
    }
    if (!slot_take_full(s))
        return;
    slot_release(s, r->slot_i, r->e);
    slot_put(s, false);
}

static void op_usable(tctx_t *t, const rec_t *r)
{
    (void)t;
    slot_t *s = &slots[r->slot_i];
    if (!slot_take_full(s))
        return;
    slot_verify(s, r->slot_i);
    if (s->kind == K_HEAP) {
        size_t u = (r->e & 1) ? mpool_usable_size(s->p) : malloc_usable_size(s->p);
        if (u < s->req || u < s->size)
            fail("usable size of %p is %zu, less than %zu asked (%zu used)", s->p, u, s->req, s->size);
        pat_fill_full(s->p, s->size, u, s->seed); /* every usable byte is ours */
        s->size = u;
        size_t again = malloc_usable_size(s->p);
        if (again != u)
            fail("usable size of %p changed from %zu to %zu", s->p, u, again);
    }
    slot_put(s, true);
}

static void op_check(tctx_t *t, const rec_t *r)
{
    (void)t;
    slot_t *s = &slots[r->slot_i];
    if (!slot_take_full(s))
        return;
    slot_verify(s, r->slot_i);
    slot_put(s, true);
}

/* -- private fixed pools -- */

static void pool_block_check(pool_slot_t *ps, int i)
{
    size_t bad = pat_check(ps->blocks[i], 0, ps->bs, ps->seeds[i]);
    if (bad != SIZE_MAX)
        fail("fixed pool %p (block size %zu) block %p corrupt at offset %zu", (void *)ps->p, ps->bs,
             ps->blocks[i], bad);
}

static void pool_destroy(pool_slot_t *ps, bool put_first)
{
    if (ps->p == NULL)
        return;
    for (int i = 0; i < ps->n; i++) {
        pool_block_check(ps, i);
        if (put_first)
            mpool_fixed_put(ps->p, ps->blocks[i]);
    }
    if (put_first && ps->cap && mpool_fixed_available(ps->p) != ps->cap)
        fail("fixed pool %p: all %zu blocks back, available() = %zu", (void *)ps->p, ps->cap,
             mpool_fixed_available(ps->p));
    mpool_fixed_destroy(ps->p);
    memset(ps, 0, sizeof *ps);
}

static void op_fixed_create(tctx_t *t, const rec_t *r)
{
    pool_slot_t *ps = &t->pools[r->slot_i % NPOOLS];
    pool_destroy(ps, r->e & 1);
    size_t bs = r->size;
    if (bs == 0)
        bs = 1;
    if (bs > (256u << 10))
        bs = bs % (256u << 10) + 1;
    size_t cap = (r->e >> 1) & 15;          /* 0 = unbounded */
    size_t pre = (r->e >> 5) & 7;
    if (cap && pre > cap)
        pre = cap;
    struct mpool_fixed_config cfg = {
        .block_size = bs, .capacity = cap, .prealloc = pre,
        .init = (r->flags & 1) ? pool_init_cb : NULL,
        .reset = (r->flags & 2) ? pool_reset_cb : NULL,
        .arg = (void *)(uintptr_t)bs,
    };
    unsigned e0 = epoch_now();
    errno = 0;
    mpool_fixed_t *p = mpool_fixed_create(&cfg);
    check_null(p, e0, "mpool_fixed_create", bs);
    if (p == NULL)
        return;
    if (mpool_fixed_capacity(p) != cap)
        fail("mpool_fixed_capacity() = %zu, created with %zu", mpool_fixed_capacity(p), cap);
    if (mpool_fixed_available(p) != (cap ? cap : SIZE_MAX))
        fail("new fixed pool: available() = %zu, capacity %zu", mpool_fixed_available(p), cap);
    *ps = (pool_slot_t){ .p = p, .bs = bs, .cap = cap, .init = cfg.init != NULL,
                         .reset = cfg.reset != NULL };
    /* a bad config fails with EINVAL */
    if (r->e == 0xff) {
        struct mpool_fixed_config bad = { .block_size = 0 };
        if (mpool_fixed_create(&bad) != NULL || errno != EINVAL)
            fail("mpool_fixed_create(block_size 0) did not fail with EINVAL");
        bad = (struct mpool_fixed_config){ .block_size = 16, .capacity = 2, .prealloc = 3 };
        if (mpool_fixed_create(&bad) != NULL || errno != EINVAL)
            fail("mpool_fixed_create(prealloc > capacity) did not fail with EINVAL");
    }
}

static void op_fixed_get(tctx_t *t, const rec_t *r)
{
    pool_slot_t *ps = &t->pools[r->slot_i % NPOOLS];
    if (ps->p == NULL)
        return;
    if (ps->n == POOL_BLOCKS) { /* make room: put the oldest back */
        pool_block_check(ps, 0);
        mpool_fixed_put(ps->p, ps->blocks[0]);
        ps->n--;
        memmove(ps->blocks, ps->blocks + 1, ps->n * sizeof ps->blocks[0]);
        memmove(ps->seeds, ps->seeds + 1, ps->n * sizeof ps->seeds[0]);
    }
    size_t avail = mpool_fixed_available(ps->p);
    size_t expect = ps->cap ? ps->cap - (size_t)ps->n : SIZE_MAX;
    if (avail != expect)
        fail("fixed pool %p: available() = %zu with %d of %zu out", (void *)ps->p, avail, ps->n, ps->cap);
    unsigned e0 = epoch_now();
    errno = 0;
    void *b;
    switch (r->e & 3) {
    case 0: b = mpool_fixed_try_get(ps->p); break;
    case 1: b = mpool_fixed_get_timeout(ps->p, 0); break;
    case 2: b = avail ? mpool_fixed_get(ps->p) : mpool_fixed_try_get(ps->p); break;
    default: b = mpool_fixed_get_timeout(ps->p, avail ? 1000 : 1); break;
    }
    if (b == NULL) {
        if (avail == 0) {
            int want = (r->e & 3) == 0 || (r->e & 3) == 2 ? EAGAIN : ETIMEDOUT;
            if (errno != want)
                fail("exhausted fixed pool: get returned NULL with errno %d, expected %d", errno, want);
        } else {
            check_null(b, e0, "mpool_fixed_get", ps->bs);
        }
        return;
    }
    if (avail == 0)
        fail("fixed pool %p: a get succeeded with available() = 0", (void *)ps->p);
    check_align(b, 16, "mpool_fixed_get", ps->bs);
    if (ps->init && ps->reset) { /* fresh (init) or given back (reset) */
        uint8_t v = *(uint8_t *)b;
        if ((v != INIT_BYTE && v != RESET_BYTE) || uniform_check(b, ps->bs, v) != SIZE_MAX)
            fail("fixed pool %p block %p: neither init nor reset contents (first byte %#x, bad at %zu)",
                 (void *)ps->p, b, v, uniform_check(b, ps->bs, v));
    }
    uint64_t seed = new_seed(t);
    pat_fill(b, 0, ps->bs, seed);
    ps->blocks[ps->n] = b;
    ps->seeds[ps->n] = seed;
    ps->n++;
}

static void op_fixed_put(tctx_t *t, const rec_t *r)
{
    pool_slot_t *ps = &t->pools[r->slot_i % NPOOLS];
    if (ps->p == NULL || ps->n == 0)
        return;
    int i = (int)(r->e % (unsigned)ps->n);
    pool_block_check(ps, i);
    mpool_fixed_put(ps->p, ps->blocks[i]);
    if (ps->reset && uniform_check(ps->blocks[i], ps->bs, RESET_BYTE) != SIZE_MAX)
        fail("fixed pool %p: block %p not reset by put", (void *)ps->p, ps->blocks[i]);
    ps->n--;
    ps->blocks[i] = ps->blocks[ps->n];
    ps->seeds[i] = ps->seeds[ps->n];
}

static void op_fixed_destroy(tctx_t *t, const rec_t *r)
{
    pool_destroy(&t->pools[r->slot_i % NPOOLS], r->e & 1);
}

static void op_shared_get(tctx_t *t, const rec_t *r)
{
    slot_t *s = &slots[r->slot_i];
    bool full;
    if (!slot_take_any(s, &full))
        return;
    if (full)
        slot_release(s, r->slot_i, r->e);
    unsigned e0 = epoch_now();
    errno = 0;
    /* e&1: wait up to 2 ms for the other thread to put one back (futex) */
    bool wait = r->e & 1;
    void *b = wait ? mpool_fixed_get_timeout(shared_pool, 2) : mpool_fixed_try_get(shared_pool);
    if (b == NULL) {
        if (errno != (wait ? ETIMEDOUT : EAGAIN))
            check_null(b, e0, wait ? "mpool_fixed_get_timeout(shared)" : "mpool_fixed_try_get(shared)",
                       SHARED_BS);
        slot_put(s, false);
        return;
    }
    check_align(b, 16, "mpool_fixed_try_get", SHARED_BS);
    uint8_t v = *(uint8_t *)b;
    if ((v != INIT_BYTE && v != RESET_BYTE) || uniform_check(b, SHARED_BS, v) != SIZE_MAX)
        fail("shared pool block %p: neither init nor reset contents (first byte %#x)", b, v);
    size_t n = r->size % (SHARED_BS + 1);
    slot_fill_new(t, s, K_FIXED, b, b, n, n);
}

/* -- buffers -- */

static void op_buf_new(tctx_t *t, const rec_t *r)
{
    slot_t *s = &slots[r->slot_i];
    bool full;
    if (!slot_take_any(s, &full))
        return;
    if (full)
        slot_release(s, r->slot_i, r->e);
    unsigned e0 = epoch_now();
    errno = 0;
    mpool_buf_t *b = mpool_buf_new(r->size);
    check_null(b, e0, "mpool_buf_new", r->size);
    if (b == NULL) {
        slot_put(s, false);
        return;
    }
    if (mpool_buf_refcount(b) != 1 || mpool_buf_len(b) != r->size)
        fail("new buffer %p: refcount %u, len %zu (asked %zu)", (void *)b, mpool_buf_refcount(b),
             mpool_buf_len(b), r->size);
    check_align(mpool_buf_data(b), 16, "mpool_buf_data", r->size);
    slot_fill_new(t, s, K_BUF, b, mpool_buf_data(b), r->size, r->size);
}

/* A second reference to the buffer in slot, stored in slot e % NSLOTS. */
static void op_buf_retain(tctx_t *t, const rec_t *r)
{
    (void)t;
    int j = (int)(r->e % NSLOTS);
    if (j == r->slot_i)
        return;
    slot_t *s = &slots[r->slot_i], *d = &slots[j];
    if (!slot_take_full(s))
        return;
    if (s->kind != K_BUF) {
        slot_put(s, true);
        return;
    }
    slot_verify(s, r->slot_i);
    mpool_buf_t *b = mpool_buf_retain(s->p);
    if (b != s->p || mpool_buf_refcount(b) < 2)
        fail("mpool_buf_retain(%p) returned %p, refcount %u", s->p, (void *)b, mpool_buf_refcount(b));
    bool dfull;
    if (slot_take_any(d, &dfull)) {
        if (dfull)
            slot_release(d, j, 0);
        slot_install(d, K_BUF, b, s->size, s->req, s->seed);
        slot_put(d, true);
    } else {
        mpool_buf_release(b);
    }
    if (r->flags & 1) { /* and drop this slot's reference */
        slot_release(s, r->slot_i, 0);
        slot_put(s, false);
    } else {
        slot_put(s, true);
    }
}

/* -- the shared chain: thread 0 writes, thread 1 reads -- */

static void op_chain(tctx_t *t, const rec_t *r)
{
    size_t n = r->size % (CHAIN_MAX + 2);
    uint8_t buf[CHAIN_MAX + 2];
    uint8_t salt = (uint8_t)(uintptr_t)chain.c;
    if (t->id == 0) {
        stream_fill(buf, n, salt, chain.wpos);
        uint64_t read_before = atomic_load(&chain.read_total);
        errno = 0;
        ssize_t w = mpool_chain_write(chain.c, buf, n);
        if (w < 0) {
            if (errno != EFBIG)
                fail("mpool_chain_write(%zu) failed with errno %d (pool preallocated)", n, errno);
            if (chain.wpos - read_before + n <= chain.max_len)
                fail("mpool_chain_write(%zu) refused (EFBIG) with at most %llu queued of %zu", n,
                     (unsigned long long)(chain.wpos - read_before), chain.max_len);
            return;
        }
        if ((size_t)w != n)
            fail("mpool_chain_write(%zu) returned %zd", n, w);
        chain.wpos += n;
    } else {
        ssize_t got = mpool_chain_read(chain.c, buf, n);
        if (got < 0 || (size_t)got > n)
            fail("mpool_chain_read(%zu) returned %zd", n, got);
        stream_verify(buf, (size_t)got, salt, chain.rpos, "shared chain");
        chain.rpos += (size_t)got;
        atomic_store(&chain.read_total, chain.rpos);
    }
}

/* -- a private chain: both ends in this thread -- */

static void chain_priv_free(tctx_t *t, bool drain_first)
{
    if (t->chain.c == NULL)
        return;
    if (drain_first) {
        uint8_t buf[4096];
        uint8_t salt = (uint8_t)(uintptr_t)t->chain.c;
        ssize_t got;
        while ((got = mpool_chain_read(t->chain.c, buf, sizeof buf)) > 0) {
            stream_verify(buf, (size_t)got, salt, t->chain.rpos, "private chain (drain)");
            t->chain.rpos += (size_t)got;
        }
        if (t->chain.rpos != t->chain.wpos || mpool_chain_len(t->chain.c) != 0)
            fail("private chain drained at %llu of %llu written",
                 (unsigned long long)t->chain.rpos, (unsigned long long)t->chain.wpos);
    }
    mpool_chain_free(t->chain.c);
    if (t->chain.pool && mpool_fixed_available(t->chain.pool) != mpool_fixed_capacity(t->chain.pool))
        fail("chain freed, its pool has %zu of %zu available", mpool_fixed_available(t->chain.pool),
             mpool_fixed_capacity(t->chain.pool));
    mpool_fixed_destroy(t->chain.pool);
    memset(&t->chain, 0, sizeof t->chain);
}

static void op_chain_priv(tctx_t *t, const rec_t *r)
{
    if (t->chain.c == NULL || (r->e & 0xe0) == 0xe0) {
        chain_priv_free(t, r->e & 0x10);
        size_t bs = r->size % 4096 + 1;
        size_t max_len = ((size_t)(r->e & 15) + 1) * 1024;
        size_t payload = ((bs + 15) & ~(size_t)15) - 16;
        struct mpool_fixed_config cfg = { .block_size = bs };
        unsigned e0 = epoch_now();
        errno = 0;
        if (payload == 0) { /* blocks too small for a chain: EINVAL */
            mpool_fixed_t *p = mpool_fixed_create(&cfg);
            check_null(p, e0, "mpool_fixed_create", bs);
            if (p && (mpool_chain_new(p, 0) != NULL || errno != EINVAL))
                fail("mpool_chain_new(block size %zu) did not fail with EINVAL", bs);
            mpool_fixed_destroy(p);
            return;
        }
        cfg.capacity = max_len / payload + 4;
        cfg.prealloc = (r->flags & 1) ? cfg.capacity : 0;
        mpool_fixed_t *p = mpool_fixed_create(&cfg);
        check_null(p, e0, "mpool_fixed_create", bs);
        if (p == NULL)
            return;
        mpool_chain_t *c = mpool_chain_new(p, max_len);
        check_null(c, e0, "mpool_chain_new", max_len);
        if (c == NULL) {
            mpool_fixed_destroy(p);
            return;
        }
        t->chain.c = c;
        t->chain.pool = p;
        t->chain.payload = payload;
        t->chain.max_len = max_len;
        t->chain.prealloc = cfg.prealloc != 0;
        return;
    }
    uint8_t buf[CHAIN_MAX * 4 + 2];
    uint8_t salt = (uint8_t)(uintptr_t)t->chain.c;
    size_t n = r->size % sizeof buf;
    size_t len = mpool_chain_len(t->chain.c);
    if (len != t->chain.wpos - t->chain.rpos)
        fail("private chain: len %zu, expected %llu", len,
             (unsigned long long)(t->chain.wpos - t->chain.rpos));
    if (r->e & 1) { /* write */
        stream_fill(buf, n, salt, t->chain.wpos);
        unsigned e0 = epoch_now();
        errno = 0;
        ssize_t w = mpool_chain_write(t->chain.c, buf, n);
        size_t after = mpool_chain_len(t->chain.c);
        if (w < 0) {
            if (errno == EFBIG) {
                if (len + n <= t->chain.max_len)
                    fail("private chain: write(%zu) EFBIG with %zu of %zu queued", n, len, t->chain.max_len);
                if (after != len)
                    fail("private chain: refused write changed len %zu -> %zu", len, after);
                return;
            }
            if (errno != ENOMEM || !capped_since(e0) || t->chain.prealloc)
                fail("private chain: write(%zu) failed, errno %d", n, errno);
            t->chain.wpos += after - len; /* what fitted stays written */
            return;
        }
        if ((size_t)w != n || after != len + n)
            fail("private chain: write(%zu) returned %zd, len %zu -> %zu", n, w, len, after);
        t->chain.wpos += n;
    } else {
        ssize_t got = mpool_chain_read(t->chain.c, buf, n);
        size_t want = n < len ? n : len;
        if (got != (ssize_t)want)
            fail("private chain: read(%zu) with %zu queued returned %zd", n, len, got);
        stream_verify(buf, (size_t)got, salt, t->chain.rpos, "private chain");
        t->chain.rpos += (size_t)got;
    }
}

/* -- the memory cap: set, run into it, lift it, all within this op -- */

static void op_limit(tctx_t *t, const rec_t *r)
{
    if (pthread_mutex_trylock(&limit_lock) != 0)
        return;
    atomic_fetch_add(&limit_epoch, 1); /* odd: failures allowed from now */
    size_t n = r->size ? r->size : 64;
    size_t cap = mpool_held_bytes() + (size_t)r->e * 1024 + 4096;
    if (mpool_set_limit(cap) != 0)
        fail("mpool_set_limit(%zu) failed", cap);
    if (mpool_get_limit() != cap)
        fail("mpool_get_limit() = %zu after setting %zu", mpool_get_limit(), cap);
    void *held[64];
    uint64_t seeds[64];
    size_t sizes[64];
    int k = 0, nulls = 0;
    for (int i = 0; i < 64 && nulls < 2; i++) {
        errno = 0;
        void *p;
        switch ((i + r->flags) & 3) {
        case 0: p = malloc(n); break;
        case 1: p = calloc(1, n); break;
        case 2: p = memalign(64, n); break;
        default: p = mpool_malloc(n); break;
        }
        if (p == NULL) {
            if (errno != ENOMEM)
                fail("allocation of %zu under a cap returned NULL with errno %d", n, errno);
            nulls++;
            continue;
        }
        held[k] = p;
        sizes[k] = n;
        seeds[k] = new_seed(t);
        pat_fill(p, 0, n, seeds[k]);
        k++;
    }
    if (k > 0) { /* a realloc refused by the cap leaves the block intact */
        errno = 0;
        size_t big = cap + sizes[0] * 64 + 1;
        void *q = realloc(held[0], big);
        if (q != NULL)
            fail("realloc(%zu) succeeded under a cap of %zu", big, cap);
        if (errno != ENOMEM)
            fail("realloc under a cap returned NULL with errno %d", errno);
        errno = 0;
        q = malloc(big);
        if (q != NULL || errno != ENOMEM)
            fail("malloc(%zu) under a cap of %zu returned %p errno %d", big, cap, q, errno);
        size_t bad = pat_check(held[0], 0, sizes[0], seeds[0]);
        if (bad != SIZE_MAX)
            fail("realloc under a cap: block corrupt at offset %zu", bad);
    }
    for (int i = 0; i < k; i++) {
        size_t bad = pat_check(held[i], 0, sizes[i], seeds[i]);
        if (bad != SIZE_MAX)
            fail("block allocated under a cap corrupt at offset %zu", bad);
        free(held[i]);
    }
    mpool_set_limit(0);
    if (mpool_get_limit() != 0)
        fail("mpool_get_limit() = %zu after lifting the cap", mpool_get_limit());
    atomic_fetch_add(&limit_epoch, 1);
    pthread_mutex_unlock(&limit_lock);
}

static char json_buf[2][16384 + 64];

static void op_stats(tctx_t *t, const rec_t *r)
{
    struct mpool_stats st;
    if (mpool_stats_get(&st) != 0)
        fail("mpool_stats_get failed");
    if (mpool_stats_get(NULL) != -1 || errno != EINVAL)
        fail("mpool_stats_get(NULL) did not fail with EINVAL");
    if (r->e & 1) {
        size_t cap = r->size % 16384;
        char *buf = json_buf[t->id];
        memset(buf, 0x7e, cap + 64);
        size_t len = mpool_stats_json(buf, cap);
        for (size_t i = cap; i < cap + 64; i++)
            if (buf[i] != 0x7e)
                fail("mpool_stats_json(buf, %zu) wrote past cap at %zu (length %zu)", cap, i, len);
        if (cap > len && (buf[len] != 0 || strlen(buf) != len))
            fail("mpool_stats_json(buf, %zu) = %zu but the text is %zu long", cap, len, strlen(buf));
        if (cap > len && len > 0 && (buf[0] != '{' || buf[len - 1] == 0))
            fail("mpool_stats_json: not a JSON object: %.40s", buf);
    }
    if (r->e & 2) {
        struct mallinfo2 mi = mallinfo2();
        (void)mi;
    }
}

/* Give memory back: live blocks (checked later) must survive it. */
static void op_trim(tctx_t *t, const rec_t *r)
{
    (void)t;
    if (r->e & 1)
        mpool_trim();
    else
        malloc_trim(0);
}

/* Many blocks of one size: fills and overflows the bin (batch flushes). */
static void op_burst(tctx_t *t, const rec_t *r)
{
    size_t k = (size_t)r->e * 4;
    size_t n = r->size > 65536 + 1024 ? r->size % 4096 : r->size; /* keep it cheap */
    if (k > BURST_MAX)
        k = BURST_MAX;
    if (k && n > ((size_t)2 << 20) / k)
        n = ((size_t)2 << 20) / k; /* at most 2 MiB in all */
    drain(1 - t->id, k); /* cross-thread frees of what the other thread parked */
    drain(2, k);
    unsigned e0 = epoch_now();
    size_t got = 0;
    for (size_t i = 0; i < k; i++) {
        errno = 0;
        void *p = malloc(n);
        check_null(p, e0, "malloc", n);
        if (p == NULL)
            break;
        size_t m = n < 64 ? n : 64; /* the start is enough */
        pat_fill(p, 0, m, (uint64_t)(uintptr_t)p);
        t->burst[got++] = p;
    }
    for (size_t j = 0; j < got; j++) {
        size_t i = (r->flags & 1) ? got - 1 - j : j;
        size_t m = n < 64 ? n : 64;
        void *p = t->burst[i];
        size_t bad = pat_check(p, 0, m, (uint64_t)(uintptr_t)p);
        if (bad != SIZE_MAX)
            fail("burst block %p (size %zu) corrupt at offset %zu", p, n, bad);
        if (r->flags & 2)
            park(t->id, p, m, (uint64_t)(uintptr_t)p); /* the other thread frees it */
        else
            free(p);
    }
}

/* A short-lived thread: frees a slot's block, allocates into it, parks a few
 * blocks and exits (thread-exit paths, blocks outliving their thread). */
typedef struct spawn_arg {
    rec_t r;
    tctx_t t;
} spawn_arg_t;

/* A thread-specific value whose destructor runs after libmpool's (its key
 * is older): frees and allocations by a thread whose cache is gone. */
static pthread_key_t exit_key;
#define EXIT_BLOCK 64

static void exit_dtor(void *block)
{
    size_t bad = pat_check(block, 0, EXIT_BLOCK, (uint64_t)(uintptr_t)block);
    if (bad != SIZE_MAX)
        fail("block held until thread exit corrupt at offset %zu", bad);
    free(block);
    static const size_t sizes[] = { 24, 5000, 100000 };
    for (int i = 0; i < 3; i++) {
        unsigned e0 = epoch_now();
        errno = 0;
        void *p = malloc(sizes[i]);
        check_null(p, e0, "malloc (in a thread-exit destructor)", sizes[i]);
        if (p == NULL)
            continue;
        pat_fill(p, 0, sizes[i], (uint64_t)(uintptr_t)p);
        if (i == 1) {
            size_t again = pat_check(p, 0, sizes[i], (uint64_t)(uintptr_t)p);
            if (again != SIZE_MAX)
                fail("block allocated at thread exit corrupt at offset %zu", again);
            free(p);
        } else {
            park(2, p, sizes[i], (uint64_t)(uintptr_t)p); /* freed by another thread */
        }
    }
}

static void *spawn_main(void *arg)
{
    spawn_arg_t *a = arg;
    cur_thread = 2;
    cur_op = OP_SPAWN;
    rec_t r = a->r;
    r.op = OP_MALLOC;
    op_alloc(&a->t, &r);
    unsigned e0 = epoch_now();
    size_t n = r.size % 2048;
    for (unsigned i = 0; i < (r.e & 15); i++) {
        void *p = malloc(n);
        check_null(p, e0, "malloc", n);
        if (p == NULL)
            break;
        pat_fill(p, 0, n, (uint64_t)(uintptr_t)p);
        park(2, p, n, (uint64_t)(uintptr_t)p);
    }
    if (r.e & 0x10) {
        void *b = malloc(EXIT_BLOCK);
        check_null(b, e0, "malloc", EXIT_BLOCK);
        if (b) {
            pat_fill(b, 0, EXIT_BLOCK, (uint64_t)(uintptr_t)b);
            pthread_setspecific(exit_key, b);
        }
    }
    return NULL;
}

static void op_spawn(tctx_t *t, const rec_t *r)
{
    static spawn_arg_t args[2];
    spawn_arg_t *a = &args[t->id];
    a->r = *r;
    a->t.id = 2 + t->id;
    a->t.seq = t->seq++ << 20;
    pthread_t th;
    unsigned e0 = epoch_now();
    int rc = pthread_create(&th, NULL, spawn_main, a);
    if (rc != 0) {
        if (!capped_since(e0))
            fail("pthread_create failed: %d", rc);
        return;
    }
    pthread_join(th, NULL);
}

static void run_op(tctx_t *t, const uint8_t *b)
{
    rec_t r = {
        .op = (b[0] & 0x7f) % OP_COUNT,
        .slot_i = b[1] & (NSLOTS - 1),
        .flags = b[1] >> 6,
        .e = b[2],
        .size = decode_size(b + 3),
    };
    cur_op = r.op;
    switch (r.op) {
    case OP_MALLOC:
    case OP_CALLOC:
    case OP_ALIGNED:
    case OP_VALLOC: op_alloc(t, &r); break;
    case OP_REALLOC: op_realloc(t, &r); break;
    case OP_FREE: op_free(t, &r); break;
    case OP_USABLE: op_usable(t, &r); break;
    case OP_CHECK: op_check(t, &r); break;
    case OP_FIXED_CREATE: op_fixed_create(t, &r); break;
    case OP_FIXED_GET: op_fixed_get(t, &r); break;
    case OP_FIXED_PUT: op_fixed_put(t, &r); break;
    case OP_FIXED_DESTROY: op_fixed_destroy(t, &r); break;
    case OP_SHARED_GET: op_shared_get(t, &r); break;
    case OP_BUF_NEW: op_buf_new(t, &r); break;
    case OP_BUF_RETAIN: op_buf_retain(t, &r); break;
    case OP_CHAIN: op_chain(t, &r); break;
    case OP_CHAIN_PRIV: op_chain_priv(t, &r); break;
    case OP_LIMIT: op_limit(t, &r); break;
    case OP_STATS: op_stats(t, &r); break;
    case OP_TRIM: op_trim(t, &r); break;
    case OP_BURST: op_burst(t, &r); break;
    case OP_SPAWN: op_spawn(t, &r); break;
    }
}

/* Run a thread's ops, then give back its private pools and chain. */
static void run_thread(tctx_t *t)
{
    cur_thread = t->id;
    for (size_t i = 0; i < t->nops; i++) {
        cur_op_index = i;
        run_op(t, t->ops[i]);
    }
    cur_op = -1;
    for (int i = 0; i < NPOOLS; i++)
        pool_destroy(&t->pools[i], (i + t->nops) & 1);
    chain_priv_free(t, true);
}

/* ---- the persistent worker thread ------------------------------------------------------ */

/* Hand-off: each side spins briefly on the other's counter (most inputs are
 * short), then sleeps on a condition variable.  The counters change under
 * w_lock, and a side registers as asleep under it, so no wakeup is lost. */
#define SPIN 4000

static pthread_mutex_t w_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_go = PTHREAD_COND_INITIALIZER, w_finished = PTHREAD_COND_INITIALIZER;
static atomic_ulong w_gen, w_done;
static bool w_asleep, main_asleep;
static atomic_int w_started;

/* Wait until *word == value (want true) or != value (want false). */
static void wait_for(atomic_ulong *word, unsigned long value, bool want, pthread_cond_t *cond, bool *asleep)
{
    for (int i = 0; i < SPIN && (atomic_load(word) == value) != want; i++)
        __builtin_ia32_pause();
    if ((atomic_load(word) == value) == want)
        return;
    pthread_mutex_lock(&w_lock);
    *asleep = true;
    while ((atomic_load(word) == value) != want)
        pthread_cond_wait(cond, &w_lock);
    *asleep = false;
    pthread_mutex_unlock(&w_lock);
}

static void bump(atomic_ulong *word, unsigned long to, pthread_cond_t *cond, const bool *asleep)
{
    pthread_mutex_lock(&w_lock);
    atomic_store(word, to);
    if (*asleep)
        pthread_cond_signal(cond);
    pthread_mutex_unlock(&w_lock);
}

static void *worker_main(void *arg)
{
    (void)arg;
    unsigned long seen = 0;
    for (;;) {
        wait_for(&w_gen, seen, false, &w_go, &w_asleep);
        seen = atomic_load(&w_gen);
        atomic_store(&w_started, 1);
        run_thread(&ctxs[1]);
        bump(&w_done, seen, &w_finished, &main_asleep);
    }
    return NULL;
}

/* ---- crash reports --------------------------------------------------------------------- */

#ifdef MPOOL_FUZZ_HOOKS
/* The sanitizer hooks libFuzzer looks for.  The build links libFuzzer
 * without UBSan's standalone runtime, which would otherwise provide them:
 * that runtime allocates from a .preinit_array function, before libc has set
 * environ, so libmpool would start with every MPOOL_* setting unread
 * (README.md). */

/* Only the first crashing thread reports. */
int __sanitizer_acquire_crash_state(void)
{
    static atomic_int taken;
    return atomic_exchange(&taken, 1) == 0;
}

/* Called by sanitizers that die on their own; there is none here. */
void __sanitizer_set_death_callback(void (*callback)(void))
{
    (void)callback;
}

/* libFuzzer prints this on a crash.  libunwind and dladdr: no allocation. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

void __sanitizer_print_stack_trace(void)
{
    void *pcs[64];
    int n = unw_backtrace(pcs, 64);
    char line[512];
    for (int i = 0; i < n; i++) {
        Dl_info di;
        uintptr_t pc = (uintptr_t)pcs[i];
        uintptr_t at = i > 0 ? pc - 1 : pc; /* a return address: the call is just before */
        int len;
        if (dladdr(pcs[i], &di) && di.dli_fname)
            len = snprintf(line, sizeof line, "    #%d 0x%lx%s%s (%s+0x%lx)\n", i, (unsigned long)pc,
                           di.dli_sname ? " in " : "", di.dli_sname ? di.dli_sname : "", di.dli_fname,
                           (unsigned long)(at - (uintptr_t)di.dli_fbase));
        else
            len = snprintf(line, sizeof line, "    #%d 0x%lx\n", i, (unsigned long)pc);
        if (len > 0 && write(STDERR_FILENO, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1) < 0)
            break;
    }
    /* scripts/fuzz symbolizes these lines (llvm-symbolizer or addr2line) */
}
#endif

/* ---- setup and the per-input driver --------------------------------------------------- */

static void die(const char *msg)
{
    fprintf(stderr, "mpool-fuzz: %s\n", msg);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The process's malloc must be libmpool's: the same object that defines
     * mpool_version(), and a malloc must show in libmpool's counters. */
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info mi, vi;
    if (m == NULL || !dladdr(m, &mi) || !dladdr((void *)mpool_version, &vi) || mi.dli_fbase != vi.dli_fbase)
        die("malloc is not libmpool's (build the harness from libmpool's sources; see tests/fuzz/README.md)");
    struct mpool_stats s0, s1;
    mpool_stats_get(&s0);
    void *volatile p = malloc(24);
    mpool_stats_get(&s1);
    free(p);
    if (s1.allocs == s0.allocs)
        fprintf(stderr, "mpool-fuzz: warning: malloc did not show in libmpool's counters "
                        "(built with -Dcounters=false?)\n");
    fprintf(stderr, "mpool-fuzz: libmpool %s is the allocator (malloc at %p in %s)\n", mpool_version(),
            m, mi.dli_fname ? mi.dli_fname : "?");
    init_boundaries();
    for (int i = 0; i < 3; i++)
        pthread_mutex_init(&outbox[i].lock, NULL);
    if (pthread_key_create(&exit_key, exit_dtor) != 0) /* after libmpool's: runs after it */
        die("pthread_key_create failed");
    ctxs[0].id = 0;
    ctxs[1].id = 1;
    pthread_t th;
    if (pthread_create(&th, NULL, worker_main, NULL) != 0)
        die("cannot start the worker thread");
    pthread_detach(th);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ctxs[0].nops = ctxs[1].nops = 0;
    for (size_t i = 0; i + 5 <= size; i += 5) {
        tctx_t *t = &ctxs[data[i] >> 7];
        if (t->nops < MAX_OPS)
            t->ops[t->nops++] = data + i;
    }
    ctxs[0].seq = ctxs[1].seq = 0;

    /* per-input shared objects */
    unsigned e0 = epoch_now();
    struct mpool_fixed_config cfg = { .block_size = SHARED_BS, .capacity = SHARED_CAP,
                                      .prealloc = size & 7, .init = pool_init_cb,
                                      .reset = pool_reset_cb, .arg = (void *)(uintptr_t)SHARED_BS };
    shared_pool = mpool_fixed_create(&cfg);
    check_null(shared_pool, e0, "mpool_fixed_create(shared)", SHARED_BS);
    struct mpool_fixed_config ccfg = { .block_size = CHAIN_BS, .capacity = CHAIN_CAP,
                                       .prealloc = CHAIN_CAP };
    chain.pool = mpool_fixed_create(&ccfg);
    check_null(chain.pool, e0, "mpool_fixed_create(chain)", CHAIN_BS);
    chain.max_len = CHAIN_MAX;
    chain.c = mpool_chain_new(chain.pool, CHAIN_MAX);
    check_null(chain.c, e0, "mpool_chain_new", CHAIN_MAX);
    chain.wpos = chain.rpos = 0;
    atomic_store(&chain.read_total, 0);

    /* run both threads */
    bool two = ctxs[1].nops > 0;
    if (two) {
        atomic_store(&w_started, 0);
        bump(&w_gen, atomic_load(&w_gen) + 1, &w_go, &w_asleep);
        /* a short spin so that both threads start together */
        for (int i = 0; i < 20000 && !atomic_load(&w_started); i++)
            __builtin_ia32_pause();
    }
    run_thread(&ctxs[0]);
    if (two) {
        wait_for(&w_done, atomic_load(&w_gen), true, &w_finished, &main_asleep);
    }

    /* everything back, checked */
    cur_thread = 0;
    cur_op = -1;
    cur_op_index = SIZE_MAX;
    for (int i = 0; i < NSLOTS; i++) {
        if (atomic_load(&slots[i].state) == S_FULL) {
            slot_take_full(&slots[i]);
            slot_release(&slots[i], i, (unsigned)i);
            slot_put(&slots[i], false);
        } else if (atomic_load(&slots[i].state) != S_EMPTY) {
            die("a slot is still busy after both threads finished");
        }
    }
    for (int i = 0; i < 3; i++)
        drain(i, SIZE_MAX);
    {
        uint8_t buf[CHAIN_MAX];
        uint8_t salt = (uint8_t)(uintptr_t)chain.c;
        ssize_t got;
        while ((got = mpool_chain_read(chain.c, buf, sizeof buf)) > 0) {
            stream_verify(buf, (size_t)got, salt, chain.rpos, "shared chain (drain)");
            chain.rpos += (size_t)got;
        }
        if (chain.rpos != chain.wpos)
            fail("chain: %llu bytes written, %llu read", (unsigned long long)chain.wpos,
                 (unsigned long long)chain.rpos);
    }
    mpool_chain_free(chain.c);
    if (mpool_fixed_available(chain.pool) != CHAIN_CAP)
        fail("chain freed, its pool has %zu of %d available", mpool_fixed_available(chain.pool), CHAIN_CAP);
    mpool_fixed_destroy(chain.pool);
    if (mpool_fixed_available(shared_pool) != SHARED_CAP)
        fail("shared pool: every block put back, available() = %zu", mpool_fixed_available(shared_pool));
    mpool_fixed_destroy(shared_pool);
    shared_pool = NULL;
    return 0;
}
