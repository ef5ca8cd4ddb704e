/* too_large.c - too-large requests through every entry point of the malloc
 * family.  Each must return NULL (or an error number) with errno ENOMEM, or
 * EINVAL where glibc 2.36 says so; none may crash or succeed, and a failed
 * realloc must leave the old block intact and usable.
 *
 *   ./too_large
 *
 * The reference is glibc 2.36 (MPOOL_TEST_ANY_ALLOCATOR=1 without a preload
 * passes).  Every size used here is beyond the 47-bit user address space, so
 * no allocator can satisfy it, whatever the overcommit setting.
 *
 * Parts:
 *   1. entry points x sizes: malloc, calloc (both argument orders),
 *      realloc(NULL, n), reallocarray(NULL, ...), memalign, aligned_alloc,
 *      posix_memalign, valloc, pvalloc and glibc's __libc_* names, with
 *      SIZE_MAX - k, PTRDIFF_MAX +- k, 2^k (+-1) for k = 47..63, ...;
 *   2. calloc and reallocarray whose product wraps, and products that do not
 *      wrap but are huge;
 *   3. realloc/reallocarray of live blocks of every origin (pooled, class
 *      boundaries, jemalloc fallback, aligned, valloc, calloc) to huge sizes:
 *      NULL + ENOMEM, contents and malloc_usable_size unchanged, the block
 *      still grows, shrinks and frees normally afterwards;
 *   4. huge alignments: memalign/aligned_alloc with 2^47..2^63 (ENOMEM),
 *      above 2^63 (EINVAL), non-powers of two (memalign rounds up: ENOMEM;
 *      aligned_alloc follows C17: EINVAL);
 *      posix_memalign: ENOMEM / EINVAL, *p untouched, errno untouched (mpool;
 *      glibc sets errno, so only reported under MPOOL_TEST_ANY_ALLOCATOR=1);
 *   5. the same requests as the first call of a fresh thread, and from a
 *      pthread key destructor that runs after the allocator's own thread-exit
 *      destructor (no thread cache any more);
 *   6. 4 threads mixing huge requests with ordinary churn; then one thread
 *      making failing huge requests for 0.5 s while another makes ordinary
 *      ones, none of which may fail (run under MPOOL_LIMIT=64M too);
 *   7. no side effects: 20000 failed requests leave mallinfo2().uordblks and
 *      the mapped address space where they were, and a large ordinary request
 *      still succeeds (with MPOOL_LIMIT=64M: failures released their charge).
 */
#define _GNU_SOURCE 1
#include "../preload/ptest.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define P2(k) ((size_t)1 << (k))

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void *(*reallocarray_fn)(void *, size_t, size_t);
typedef void *(*memalign_fn)(size_t, size_t);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef void (*free_fn)(void *);

/* Every entry point, looked up at run time so the compiler knows nothing
 * about what they return. */
static struct {
    malloc_fn malloc_, libc_malloc, valloc_, libc_valloc, pvalloc_, libc_pvalloc;
    calloc_fn calloc_, libc_calloc;
    realloc_fn realloc_, libc_realloc;
    reallocarray_fn reallocarray_;
    memalign_fn memalign_, libc_memalign, aligned_alloc_;
    posix_memalign_fn posix_memalign_;
    free_fn free_;
} fn;

static const char *obj_of(void *addr)
{
    Dl_info di;
    if (addr && dladdr(addr, &di) && di.dli_fname)
        return di.dli_fname;
    return "?";
}

/* The symbol, if it comes from the same object as malloc; NULL (and a SKIP,
 * or a failure under mpool) otherwise. */
static void *lookup(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    const char *om = obj_of(dlsym(RTLD_DEFAULT, "malloc"));
    const char *of = obj_of(f);
    if (f != NULL && strcmp(om, of) == 0)
        return f;
    if (ptest_any())
        SKIP("%s() comes from %s, malloc() from %s: its requests are skipped", name, of, om);
    else
        CHECK(0, "%s() comes from %s, malloc() from %s: libmpool must define %s", name, of, om, name);
    return NULL;
}

static void resolve(void)
{
    fn.malloc_ = (malloc_fn)lookup("malloc");
    fn.free_ = (free_fn)lookup("free");
    fn.calloc_ = (calloc_fn)lookup("calloc");
    fn.realloc_ = (realloc_fn)lookup("realloc");
    fn.reallocarray_ = (reallocarray_fn)lookup("reallocarray");
    fn.memalign_ = (memalign_fn)lookup("memalign");
    fn.aligned_alloc_ = (memalign_fn)lookup("aligned_alloc");
    fn.posix_memalign_ = (posix_memalign_fn)lookup("posix_memalign");
    fn.valloc_ = (malloc_fn)lookup("valloc");
    fn.pvalloc_ = (malloc_fn)lookup("pvalloc");
    fn.libc_malloc = (malloc_fn)lookup("__libc_malloc");
    fn.libc_calloc = (calloc_fn)lookup("__libc_calloc");
    fn.libc_realloc = (realloc_fn)lookup("__libc_realloc");
    fn.libc_memalign = (memalign_fn)lookup("__libc_memalign");
    fn.libc_valloc = (malloc_fn)lookup("__libc_valloc");
    fn.libc_pvalloc = (malloc_fn)lookup("__libc_pvalloc");
    if (!fn.malloc_ || !fn.free_ || !fn.realloc_ || !fn.calloc_) {
        fprintf(stderr, "too_large: the basic malloc family cannot be found\n");
        exit(1);
    }
}

/* ---- sizes no allocator can satisfy ---------------------------------------- */

static size_t huge[160];
static size_t nhuge;

static void add_huge(size_t n)
{
    if (n < P2(47))
        return; /* not guaranteed to fail */
    for (size_t i = 0; i < nhuge; i++)
        if (huge[i] == n)
            return;
    if (nhuge < sizeof huge / sizeof huge[0])
        huge[nhuge++] = n;
}

static void make_sizes(void)
{
    for (size_t k = 0; k <= 32; k++)
        add_huge(SIZE_MAX - k);
    static const size_t ks[] = { 63, 64, 65, 127, 128, 4094, 4095, 4096, 4097, 8191, 8192,
                                 65535, 65536, 65537, MiB - 1, MiB, MiB + 1, 2 * MiB,
                                 P2(30), P2(32) };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        add_huge(SIZE_MAX - ks[i]);
    static const size_t d[] = { 0, 1, 15, 16, 17, 4095, 4096, 65536 };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        add_huge((size_t)PTRDIFF_MAX - d[i]);
        add_huge((size_t)PTRDIFF_MAX + 1 + d[i]);
    }
    for (int k = 47; k <= 63; k++) {
        add_huge(P2(k));
        add_huge(P2(k) + 1);
        add_huge(P2(k) - 1);
        add_huge(P2(k) + 4096);
        add_huge(P2(k) - 4096);
    }
    add_huge((size_t)3 << 61);
    add_huge((size_t)3 << 62);
    add_huge(SIZE_MAX / 3);
    add_huge(SIZE_MAX / 2);
}

/* a few of them, for the slower parts */
static const size_t some_huge[] = {
    SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 4096, SIZE_MAX - MiB,
    (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 4095,
    P2(62), P2(50), P2(48) + 1, P2(47),
};
#define NSOME (sizeof some_huge / sizeof some_huge[0])

/* ---- one entry point with one size ------------------------------------------ */

enum entry_kind {
    E_MALLOC, E_LIBC_MALLOC, E_CALLOC_1N, E_CALLOC_N1, E_LIBC_CALLOC, E_REALLOC_NULL,
    E_LIBC_REALLOC_NULL, E_REALLOCARRAY_1N, E_REALLOCARRAY_N1, E_MEMALIGN_16,
    E_MEMALIGN_64, E_MEMALIGN_4K, E_MEMALIGN_64K, E_MEMALIGN_2M, E_LIBC_MEMALIGN_64,
    E_ALIGNED_16, E_ALIGNED_4K, E_ALIGNED_1M, E_POSIX_8, E_POSIX_16, E_POSIX_64, E_POSIX_4K,
    E_POSIX_64K, E_POSIX_1M, E_VALLOC, E_LIBC_VALLOC, E_PVALLOC, E_LIBC_PVALLOC,
    E_COUNT
};

static const char *const entry_name[E_COUNT] = {
    "malloc(n)", "__libc_malloc(n)", "calloc(1, n)", "calloc(n, 1)", "__libc_calloc(n, 1)",
    "realloc(NULL, n)", "__libc_realloc(NULL, n)", "reallocarray(NULL, 1, n)",
    "reallocarray(NULL, n, 1)", "memalign(16, n)", "memalign(64, n)", "memalign(4096, n)",
    "memalign(64K, n)", "memalign(2M, n)", "__libc_memalign(64, n)", "aligned_alloc(16, n)",
    "aligned_alloc(4096, n)", "aligned_alloc(1M, n)", "posix_memalign(&p, 8, n)",
    "posix_memalign(&p, 16, n)", "posix_memalign(&p, 64, n)", "posix_memalign(&p, 4096, n)",
    "posix_memalign(&p, 64K, n)", "posix_memalign(&p, 1M, n)", "valloc(n)", "__libc_valloc(n)",
    "pvalloc(n)", "__libc_pvalloc(n)",
};

static void *const SENT = (void *)(uintptr_t)0x5e47140;

static int posix_errno_reported; /* glibc's posix_memalign sets errno: said once */

/* Calls entry e with size n.  Returns 1 if available.  *res gets the pointer
 * (posix_memalign: *p on success, else SENT/garbage), *err errno after the
 * call (errno was set to 0 before, posix: 4242), *rc posix_memalign's result. */
static int call_entry(int e, size_t n, void **res, int *err, int *rc)
{
    void *r = NULL;
    *rc = 0;
    errno = 0;
    switch (e) {
    case E_MALLOC: if (!fn.malloc_) return 0; r = fn.malloc_(n); break;
    case E_LIBC_MALLOC: if (!fn.libc_malloc) return 0; r = fn.libc_malloc(n); break;
    case E_CALLOC_1N: if (!fn.calloc_) return 0; r = fn.calloc_(1, n); break;
    case E_CALLOC_N1: if (!fn.calloc_) return 0; r = fn.calloc_(n, 1); break;
    case E_LIBC_CALLOC: if (!fn.libc_calloc) return 0; r = fn.libc_calloc(n, 1); break;
    case E_REALLOC_NULL: if (!fn.realloc_) return 0; r = fn.realloc_(NULL, n); break;
    case E_LIBC_REALLOC_NULL: if (!fn.libc_realloc) return 0; r = fn.libc_realloc(NULL, n); break;
    case E_REALLOCARRAY_1N: if (!fn.reallocarray_) return 0; r = fn.reallocarray_(NULL, 1, n); break;
    case E_REALLOCARRAY_N1: if (!fn.reallocarray_) return 0; r = fn.reallocarray_(NULL, n, 1); break;
    case E_MEMALIGN_16: if (!fn.memalign_) return 0; r = fn.memalign_(16, n); break;
    case E_MEMALIGN_64: if (!fn.memalign_) return 0; r = fn.memalign_(64, n); break;
    case E_MEMALIGN_4K: if (!fn.memalign_) return 0; r = fn.memalign_(4096, n); break;
    case E_MEMALIGN_64K: if (!fn.memalign_) return 0; r = fn.memalign_(64 * KiB, n); break;
    case E_MEMALIGN_2M: if (!fn.memalign_) return 0; r = fn.memalign_(2 * MiB, n); break;
    case E_LIBC_MEMALIGN_64: if (!fn.libc_memalign) return 0; r = fn.libc_memalign(64, n); break;
    case E_ALIGNED_16: if (!fn.aligned_alloc_) return 0; r = fn.aligned_alloc_(16, n); break;
    case E_ALIGNED_4K: if (!fn.aligned_alloc_) return 0; r = fn.aligned_alloc_(4096, n); break;
    case E_ALIGNED_1M: if (!fn.aligned_alloc_) return 0; r = fn.aligned_alloc_(MiB, n); break;
    case E_POSIX_8: case E_POSIX_16: case E_POSIX_64: case E_POSIX_4K: case E_POSIX_64K:
    case E_POSIX_1M: {
        static const size_t al[] = { 8, 16, 64, 4096, 64 * KiB, MiB };
        if (!fn.posix_memalign_) return 0;
        r = SENT;
        errno = 4242;
        *rc = fn.posix_memalign_(&r, al[e - E_POSIX_8], n);
        break;
    }
    case E_VALLOC: if (!fn.valloc_) return 0; r = fn.valloc_(n); break;
    case E_LIBC_VALLOC: if (!fn.libc_valloc) return 0; r = fn.libc_valloc(n); break;
    case E_PVALLOC: if (!fn.pvalloc_) return 0; r = fn.pvalloc_(n); break;
    case E_LIBC_PVALLOC: if (!fn.libc_pvalloc) return 0; r = fn.libc_pvalloc(n); break;
    default: return 0;
    }
    *err = errno;
    *res = r;
    return 1;
}

static int is_posix(int e)
{
    return e >= E_POSIX_8 && e <= E_POSIX_1M;
}

/* posix_memalign's errno: POSIX says nothing changes it on success and
 * libmpool promises it is left alone; glibc sets ENOMEM on failure. */
static void check_posix_errno(int err, const char *what)
{
    if (err == 4242)
        return;
    if (!ptest_any()) {
        CHECK(0, "%s changed errno to %d (%s); libmpool leaves errno alone", what, err, strerror(err));
    } else if (!__atomic_exchange_n(&posix_errno_reported, 1, __ATOMIC_RELAXED)) {
        SKIP("%s changed errno to %d (%s) (glibc does too; required only of libmpool)", what, err,
             strerror(err));
    }
}

/* Entry e with size n must fail with ENOMEM.  Returns 1 if it did. */
static int expect_enomem(int e, size_t n, const char *where)
{
    void *r;
    int err, rc;
    if (!call_entry(e, n, &r, &err, &rc))
        return 1;
    char what[160];
    snprintf(what, sizeof what, "%s%s with n = %zu (%#zx)", where, entry_name[e], n, n);
    if (is_posix(e)) {
        int ok = CHECK(rc == ENOMEM, "%s returned %d, want ENOMEM (%d)", what, rc, ENOMEM);
        ok &= CHECK(r == SENT, "%s modified *p (%p) and returned %d", what, r, rc);
        check_posix_errno(err, what);
        if (rc == 0 && r != SENT)
            fn.free_(r);
        return ok;
    }
    int ok = CHECK(r == NULL && err == ENOMEM, "%s = %p, errno %d (%s); want NULL, ENOMEM", what, r,
                   err, strerror(err));
    if (r)
        fn.free_(r);
    return ok;
}

/* ---- part 1: every entry point x every huge size ------------------------------ */

static void test_entries(void)
{
    for (int e = 0; e < E_COUNT; e++)
        for (size_t i = 0; i < nhuge; i++)
            expect_enomem(e, huge[i], "");
}

/* ---- part 2: products -------------------------------------------------------- */

static void expect_calloc_enomem(size_t k, size_t n, const char *why)
{
    calloc_fn cf[2] = { fn.calloc_, fn.libc_calloc };
    const char *cn[2] = { "calloc", "__libc_calloc" };
    for (int i = 0; i < 2; i++) {
        if (!cf[i])
            continue;
        errno = 0;
        void *r = cf[i](k, n);
        int err = errno;
        CHECK(r == NULL && err == ENOMEM, "%s(%zu, %zu) (%s) = %p, errno %d; want NULL, ENOMEM",
              cn[i], k, n, why, r, err);
        if (r)
            fn.free_(r);
    }
    if (fn.reallocarray_) {
        errno = 0;
        void *r = fn.reallocarray_(NULL, k, n);
        int err = errno;
        CHECK(r == NULL && err == ENOMEM,
              "reallocarray(NULL, %zu, %zu) (%s) = %p, errno %d; want NULL, ENOMEM", k, n, why, r, err);
        if (r)
            fn.free_(r);
    }
}

static void test_products(void)
{
    /* k * n wraps */
    static const size_t wrap[][2] = {
        { 2, SIZE_MAX / 2 + 1 }, { SIZE_MAX / 2 + 1, 2 }, { 3, SIZE_MAX / 3 + 1 },
        { P2(32), P2(32) }, { P2(33), P2(31) }, { P2(63), 2 }, { 2, P2(63) },
        { SIZE_MAX, SIZE_MAX }, { SIZE_MAX, 2 }, { 2, SIZE_MAX }, { 65537, P2(48) },
        { P2(48), 65537 }, { 16, P2(60) }, { P2(60), 16 }, { 0x100000001ull, 0x100000001ull },
        { 24, SIZE_MAX / 16 }, { 1000, SIZE_MAX / 999 },
    };
    char why[64];
    for (size_t i = 0; i < sizeof wrap / sizeof wrap[0]; i++) {
        size_t t;
        if (!CHECK(__builtin_mul_overflow(wrap[i][0], wrap[i][1], &t),
                   "test table: %zu * %zu should wrap", wrap[i][0], wrap[i][1]))
            continue;
        snprintf(why, sizeof why, "product wraps to %zu", t);
        expect_calloc_enomem(wrap[i][0], wrap[i][1], why);
    }
    /* k * n does not wrap but is huge */
    static const size_t big[][2] = {
        { 1, SIZE_MAX }, { SIZE_MAX, 1 }, { 3, SIZE_MAX / 3 }, { SIZE_MAX / 3, 3 },
        { P2(24), P2(24) }, { P2(31), P2(31) }, { P2(32), P2(31) }, { 1, (size_t)PTRDIFF_MAX + 1 },
        { (size_t)PTRDIFF_MAX, 1 }, { P2(47), 1 }, { 1, P2(47) }, { 8, P2(45) }, { P2(20), P2(30) },
        { 4096, P2(40) }, { 5, SIZE_MAX / 5 }, { 17, SIZE_MAX / 17 }, { 641, SIZE_MAX / 641 },
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t t;
        if (!CHECK(!__builtin_mul_overflow(big[i][0], big[i][1], &t) && t >= P2(47),
                   "test table: %zu * %zu should be huge and not wrap", big[i][0], big[i][1]))
            continue;
        snprintf(why, sizeof why, "product %zu", t);
        expect_calloc_enomem(big[i][0], big[i][1], why);
    }
    /* zero times anything is a valid, tiny request */
    static const size_t zero_with[] = { 0, 1, SIZE_MAX, (size_t)PTRDIFF_MAX + 1, P2(50) };
    for (size_t i = 0; i < sizeof zero_with / sizeof zero_with[0]; i++) {
        void *a = fn.calloc_(0, zero_with[i]);
        void *b = fn.calloc_(zero_with[i], 0);
        CHECK(a != NULL && b != NULL, "calloc(0, %zu) = %p, calloc(%zu, 0) = %p: want blocks (glibc)",
              zero_with[i], a, zero_with[i], b);
        fn.free_(a);
        fn.free_(b);
    }
}

/* ---- part 3: realloc of live blocks ------------------------------------------- */

typedef struct origin {
    const char *name;
    size_t n;     /* bytes asked for */
    size_t align; /* 0: any */
    int how;      /* 0 malloc, 1 calloc, 2 memalign, 3 aligned_alloc, 4 posix_memalign,
                     5 valloc, 6 pvalloc, 7 realloc(malloc(100), n), 8 __libc_malloc */
} origin_t;

static const origin_t origins[] = {
    { "malloc", 0, 0, 0 }, { "malloc", 1, 0, 0 }, { "malloc", 16, 0, 0 }, { "malloc", 24, 0, 0 },
    { "malloc", 100, 0, 0 }, { "malloc", 1000, 0, 0 }, { "malloc", 1024, 0, 0 },
    { "malloc", 4096, 0, 0 }, { "malloc", 8193, 0, 0 }, { "malloc", 65535, 0, 0 },
    { "malloc", 65536, 0, 0 }, { "malloc", 65537, 0, 0 }, { "malloc", 200000, 0, 0 },
    { "malloc", MiB, 0, 0 }, { "malloc", MiB + 1, 0, 0 }, { "malloc", 2 * MiB + 100, 0, 0 },
    { "malloc", 20 * MiB, 0, 0 }, { "calloc", 5000, 0, 1 }, { "calloc", 300000, 0, 1 },
    { "memalign", 100, 64, 2 }, { "memalign", 10000, 4096, 2 }, { "memalign", 70000, 65536, 2 },
    { "memalign", 100, 2 * MiB, 2 }, { "aligned_alloc", 100, MiB, 3 },
    { "aligned_alloc", 256, 256, 3 }, { "posix_memalign", 300, 256, 4 },
    { "posix_memalign", 5 * MiB, 4096, 4 }, { "valloc", 5000, 4096, 5 },
    { "pvalloc", 100, 4096, 6 }, { "realloc(malloc(100))", 300000, 0, 7 },
    { "realloc(malloc(100))", 3000, 0, 7 }, { "__libc_malloc", 777, 0, 8 },
};
#define NORIGINS (sizeof origins / sizeof origins[0])

static void *make_origin(const origin_t *o)
{
    void *p = NULL;
    switch (o->how) {
    case 0: p = fn.malloc_(o->n); break;
    case 1: p = fn.calloc_(1, o->n); break;
    case 2: p = fn.memalign_ ? fn.memalign_(o->align, o->n) : fn.malloc_(o->n); break;
    case 3: p = fn.aligned_alloc_ ? fn.aligned_alloc_(o->align, o->n) : fn.malloc_(o->n); break;
    case 4:
        if (!fn.posix_memalign_ || fn.posix_memalign_(&p, o->align, o->n) != 0)
            p = fn.posix_memalign_ ? NULL : fn.malloc_(o->n);
        break;
    case 5: p = fn.valloc_ ? fn.valloc_(o->n) : fn.malloc_(o->n); break;
    case 6: p = fn.pvalloc_ ? fn.pvalloc_(o->n) : fn.malloc_(o->n); break;
    case 7: {
        void *q = fn.malloc_(100);
        p = q ? fn.realloc_(q, o->n) : NULL;
        if (!p)
            fn.free_(q);
        break;
    }
    case 8: p = fn.libc_malloc ? fn.libc_malloc(o->n) : fn.malloc_(o->n); break;
    }
    return p;
}

/* One failing resize of p; checks the result and that p is intact. */
static void huge_resize(void *p, size_t n, size_t usable, uint64_t key, int how, size_t a,
                        size_t b, const char *oname)
{
    void *r = NULL;
    const char *hn;
    errno = 0;
    switch (how) {
    case 0: hn = "realloc(p, %zu)"; r = fn.realloc_(p, a); break;
    case 1: hn = "__libc_realloc(p, %zu)"; if (!fn.libc_realloc) return; r = fn.libc_realloc(p, a); break;
    case 2: hn = "reallocarray(p, 1, %zu)"; if (!fn.reallocarray_) return; r = fn.reallocarray_(p, 1, a); break;
    case 3: hn = "reallocarray(p, %zu, 1)"; if (!fn.reallocarray_) return; r = fn.reallocarray_(p, a, 1); break;
    default: hn = "reallocarray(p, %zu, %zu)"; if (!fn.reallocarray_) return; r = fn.reallocarray_(p, a, b); break;
    }
    int err = errno;
    char what[200], call[80];
    snprintf(call, sizeof call, hn, a, b);
    snprintf(what, sizeof what, "%s of %s(%zu) at %p", call, oname, n, p);
    if (!CHECK(r == NULL && err == ENOMEM, "%s = %p, errno %d (%s); want NULL, ENOMEM", what, r, err,
               strerror(err))) {
        if (r) /* it "succeeded": p is gone, r is whatever it is; do not touch either */
            exit(ptest_finish() | 1);
    }
    size_t at = ptest_verify(p, n, key);
    CHECK(at == (size_t)-1, "after failed %s: content damaged at offset %zu", what, at);
    size_t u = malloc_usable_size(p);
    CHECK(u == usable, "after failed %s: malloc_usable_size changed from %zu to %zu", what, usable, u);
}

static void test_realloc_live(void)
{
    for (size_t o = 0; o < NORIGINS; o++) {
        const origin_t *org = &origins[o];
        if ((org->how == 2 && !fn.memalign_) || (org->how == 3 && !fn.aligned_alloc_) ||
            (org->how == 4 && !fn.posix_memalign_) || (org->how == 5 && !fn.valloc_) ||
            (org->how == 6 && !fn.pvalloc_) || (org->how == 8 && !fn.libc_malloc))
            continue;
        unsigned char *p = make_origin(org);
        if (!CHECK(p != NULL, "%s(%zu) (align %zu) returned NULL", org->name, org->n, org->align))
            continue;
        if (org->align)
            CHECK(((uintptr_t)p & (org->align - 1)) == 0, "%s(%zu) not %zu-aligned: %p", org->name,
                  org->n, org->align, (void *)p);
        if (org->how == 1) {
            size_t nz = 0;
            for (size_t i = 0; i < org->n; i++)
                nz += p[i] != 0;
            CHECK(nz == 0, "calloc(1, %zu): %zu nonzero bytes", org->n, nz);
        }
        uint64_t key = 0x7001a26eull * (o + 1);
        size_t n = org->n;
        ptest_fill(p, n, key);
        size_t usable = malloc_usable_size(p);
        CHECK(usable >= n, "malloc_usable_size(%s(%zu)) = %zu", org->name, n, usable);
        for (size_t i = 0; i < NSOME; i++)
            for (int how = 0; how < 4; how++)
                huge_resize(p, n, usable, key, how, some_huge[i], 0, org->name);
        /* products that wrap and products that are huge */
        static const size_t prod[][2] = { { SIZE_MAX / 2, 3 }, { 3, SIZE_MAX / 2 }, { P2(32), P2(32) },
                                          { 16, P2(60) }, { P2(24), P2(24) }, { 1, SIZE_MAX } };
        for (size_t i = 0; i < sizeof prod / sizeof prod[0]; i++)
            huge_resize(p, n, usable, key, 4, prod[i][0], prod[i][1], org->name);
        /* the block still works: grow it, shrink it, free it */
        size_t grown = n * 2 + 4097;
        unsigned char *q = fn.realloc_(p, grown);
        if (CHECK(q != NULL, "realloc(%s(%zu), %zu) after failed huge reallocs returned NULL",
                  org->name, n, grown)) {
            size_t at = ptest_verify(q, n, key);
            CHECK(at == (size_t)-1, "growing %s(%zu) after failed huge reallocs lost content at %zu",
                  org->name, n, at);
            ptest_fill(q, grown, key);
            unsigned char *s = fn.realloc_(q, n / 2 + 1);
            if (CHECK(s != NULL, "shrinking realloc returned NULL")) {
                at = ptest_verify(s, n / 2 + 1, key);
                CHECK(at == (size_t)-1, "shrinking %s(%zu) lost content at %zu", org->name, n, at);
                q = s;
            }
            fn.free_(q);
        } else {
            fn.free_(p);
        }
    }
}

/* ---- part 4: huge alignments ------------------------------------------------ */

/* posix_memalign(&p, align, n) for sizes from 0 to SIZE_MAX returns want
 * and leaves p untouched. */
static void expect_posix_memalign_refused(size_t align, int want, const char *want_name)
{
    static const size_t psizes[] = { 0, 1, 100, MiB, P2(50), SIZE_MAX };
    for (size_t j = 0; j < sizeof psizes / sizeof psizes[0]; j++) {
        void *r = SENT;
        errno = 4242;
        int rc = fn.posix_memalign_(&r, align, psizes[j]);
        int err = errno;
        char what[96];
        snprintf(what, sizeof what, "posix_memalign(&p, %#zx, %zu)", align, psizes[j]);
        CHECK(rc == want, "%s returned %d, want %s", what, rc, want_name);
        CHECK(r == SENT, "%s modified *p (%p)", what, r);
        check_posix_errno(err, what);
        if (rc == 0 && r != SENT)
            fn.free_(r);
    }
}

static void test_alignments(void)
{
    memalign_fn mf[3] = { fn.memalign_, fn.aligned_alloc_, fn.libc_memalign };
    const char *mn[3] = { "memalign", "aligned_alloc", "__libc_memalign" };
    /* valid (a power of two, or rounded up to 2^63), but no block can have it */
    static const size_t nomem_al[] = { P2(47), P2(48), P2(52), P2(56), P2(62), P2(63),
                                       (size_t)3 << 61, P2(62) + 1, P2(63) - 1, P2(47) + 8 };
    static const size_t sizes[] = { 0, 1, 16, 4096, MiB, P2(47), SIZE_MAX - P2(63), SIZE_MAX };
    for (int f = 0; f < 3; f++) {
        if (!mf[f])
            continue;
        for (size_t i = 0; i < sizeof nomem_al / sizeof nomem_al[0]; i++)
            for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
                errno = 0;
                void *r = mf[f](nomem_al[i], sizes[j]);
                int err = errno;
                /* aligned_alloc follows C17: not a power of two is EINVAL */
                int c17_bad = mf[f] == fn.aligned_alloc_ && (nomem_al[i] & (nomem_al[i] - 1));
                int want = c17_bad ? EINVAL : ENOMEM;
                CHECK(r == NULL && err == want, "%s(%#zx, %zu) = %p, errno %d (%s); want NULL, %s",
                      mn[f], nomem_al[i], sizes[j], r, err, strerror(err), c17_bad ? "EINVAL" : "ENOMEM");
                if (r)
                    fn.free_(r);
            }
        /* above SIZE_MAX / 2 + 1: glibc says EINVAL */
        static const size_t inval_al[] = { P2(63) + 1, P2(63) + 8, P2(63) + P2(62), SIZE_MAX - 15,
                                           SIZE_MAX };
        for (size_t i = 0; i < sizeof inval_al / sizeof inval_al[0]; i++)
            for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
                errno = 0;
                void *r = mf[f](inval_al[i], sizes[j]);
                int err = errno;
                CHECK(r == NULL && err == EINVAL, "%s(%#zx, %zu) = %p, errno %d (%s); want NULL, EINVAL",
                      mn[f], inval_al[i], sizes[j], r, err, strerror(err));
                if (r)
                    fn.free_(r);
            }
    }
    if (!fn.posix_memalign_)
        return;
    /* posix_memalign: valid huge alignments give ENOMEM; invalid ones EINVAL,
     * whatever the size; *p untouched either way */
    static const size_t pal[] = { P2(47), P2(48), P2(56), P2(62), P2(63) };
    static const size_t bad[] = { 0, 1, 2, 4, 12, 24, 48, 4095, 4097, (size_t)3 << 61, P2(62) + 8,
                                  P2(63) + 8, P2(63) - 8, SIZE_MAX - 7, SIZE_MAX };
    for (size_t i = 0; i < sizeof pal / sizeof pal[0]; i++)
        expect_posix_memalign_refused(pal[i], ENOMEM, "ENOMEM");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_posix_memalign_refused(bad[i], EINVAL, "EINVAL");
}

/* ---- part 5: fresh threads and thread-exit destructors ------------------------ */

static void every_entry_some_sizes(const char *where)
{
    for (int e = 0; e < E_COUNT; e++)
        for (size_t i = 0; i < NSOME; i++)
            expect_enomem(e, some_huge[i], where);
}

typedef struct { int entry; size_t n; } first_call_t;

/* The thread's first call into the allocator is the huge request. */
static void *first_call_thread(void *arg)
{
    first_call_t *fc = arg;
    expect_enomem(fc->entry, fc->n, "first call of a new thread: ");
    /* and the thread's allocator works afterwards */
    void *p = fn.malloc_(100);
    if (CHECK(p != NULL, "malloc(100) after a failed first call returned NULL")) {
        memset(p, 1, 100);
        fn.free_(p);
    }
    return NULL;
}

static pthread_key_t late_key;
static int late_ran;

static void late_destructor(void *arg)
{
    (void)arg;
    every_entry_some_sizes("in a thread-exit destructor: ");
    /* a live block made here, resized too far */
    unsigned char *p = fn.malloc_(300);
    if (CHECK(p != NULL, "malloc(300) in a thread-exit destructor returned NULL")) {
        ptest_fill(p, 300, 99);
        size_t u = malloc_usable_size(p);
        for (int how = 0; how < 4; how++)
            huge_resize(p, 300, u, 99, how, SIZE_MAX, 0, "malloc (destructor)");
        fn.free_(p);
    }
    __atomic_store_n(&late_ran, 1, __ATOMIC_RELEASE);
}

static void *late_thread(void *arg)
{
    (void)arg;
    fn.free_(fn.malloc_(10)); /* the allocator's cache (and its destructor) first */
    void *q = fn.malloc_(200000);
    fn.free_(q);
    pthread_setspecific(late_key, (void *)1);
    return NULL;
}

static void test_threads_first_and_last(void)
{
    /* every entry point as a fresh thread's first call, with two sizes */
    static const size_t firsts[] = { SIZE_MAX, P2(50) };
    for (int e = 0; e < E_COUNT; e++)
        for (int k = 0; k < 2; k++) {
            first_call_t fc = { e, firsts[k] };
            pthread_t t;
            if (!CHECK(pthread_create(&t, NULL, first_call_thread, &fc) == 0, "pthread_create"))
                continue;
            pthread_join(t, NULL);
        }
    /* after the allocator's own thread-exit destructor */
    pthread_key_create(&late_key, late_destructor);
    pthread_t t;
    if (CHECK(pthread_create(&t, NULL, late_thread, NULL) == 0, "pthread_create")) {
        pthread_join(t, NULL);
        CHECK(__atomic_load_n(&late_ran, __ATOMIC_ACQUIRE), "the thread-exit destructor did not run");
    }
}

/* ---- part 6: threads mixing huge requests with ordinary churn ----------------- */

static void *mixed_thread(void *arg)
{
    ptest_rng r = { 1000 + (uint64_t)(uintptr_t)arg };
    enum { N = 64 };
    struct { unsigned char *p; size_t n; uint64_t key; } v[N];
    memset(v, 0, sizeof v);
    for (int round = 0; round < 3000; round++) {
        int i = (int)ptest_below(&r, N);
        if (v[i].p) {
            size_t at = ptest_verify(v[i].p, v[i].n, v[i].key);
            CHECK(at == (size_t)-1, "mixed: block of %zu damaged at %zu", v[i].n, at);
            if (ptest_below(&r, 3) == 0) { /* a huge realloc of a live block */
                size_t big = some_huge[ptest_below(&r, NSOME)];
                errno = 0;
                void *q = fn.realloc_(v[i].p, big);
                int err = errno;
                CHECK(q == NULL && err == ENOMEM, "mixed: realloc(malloc(%zu), %zu) = %p, errno %d; want NULL, ENOMEM",
                      v[i].n, big, q, err);
                if (q)
                    return NULL;
                continue;
            }
            fn.free_(v[i].p);
            v[i].p = NULL;
        } else {
            int e = (int)ptest_below(&r, E_COUNT);
            expect_enomem(e, some_huge[ptest_below(&r, NSOME)], "mixed: ");
            size_t n = ptest_below(&r, 8) == 0 ? 1 + ptest_below(&r, 300000) : 1 + ptest_below(&r, 2000);
            v[i].p = fn.malloc_(n);
            if (!CHECK(v[i].p != NULL, "mixed: malloc(%zu) returned NULL", n))
                continue;
            v[i].n = n;
            v[i].key = ptest_next(&r);
            ptest_fill(v[i].p, n, v[i].key);
        }
    }
    for (int i = 0; i < N; i++)
        if (v[i].p) {
            size_t at = ptest_verify(v[i].p, v[i].n, v[i].key);
            CHECK(at == (size_t)-1, "mixed: block of %zu damaged at %zu", v[i].n, at);
            fn.free_(v[i].p);
        }
    return NULL;
}

static void test_mixed_threads(void)
{
    enum { T = 4 };
    pthread_t t[T];
    for (int i = 0; i < T; i++)
        CHECK(pthread_create(&t[i], NULL, mixed_thread, (void *)(uintptr_t)i) == 0, "pthread_create");
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
}

/* A failing huge request must not make other threads' ordinary requests
 * fail, even for a moment (under a memory cap, a huge request charged before
 * it is refused would exhaust the cap for everyone while it is in flight). */
static int hammer_stop;

static void *hammer_thread(void *arg)
{
    (void)arg;
    unsigned long i = 0;
    void *live = fn.malloc_(5000);
    while (!__atomic_load_n(&hammer_stop, __ATOMIC_RELAXED)) {
        size_t n = some_huge[i % NSOME];
        void *r;
        switch (i++ % 5) {
        case 0: r = fn.malloc_(n); break;
        case 1: r = fn.calloc_(1, n); break;
        case 2: r = fn.memalign_ ? fn.memalign_(4096, n) : fn.malloc_(n); break;
        case 3: r = fn.realloc_(live, n); if (r) live = NULL; break;
        default: r = fn.calloc_(P2(24), P2(24)); break;
        }
        if (r) { /* checked elsewhere; just do not leak */
            fn.free_(r);
        }
    }
    fn.free_(live);
    return NULL;
}

static void test_huge_does_not_starve_others(void)
{
    pthread_t t;
    if (!CHECK(pthread_create(&t, NULL, hammer_thread, NULL) == 0, "pthread_create"))
        return;
    static const size_t sizes[] = { 16, 100, 1000, 5000, 70000, 300000 };
    unsigned long fails = 0, calls = 0, first_at = 0;
    size_t first_n = 0;
    int first_errno = 0;
    double end = ptest_now() + 0.5;
    while (ptest_now() < end) {
        for (int k = 0; k < 1000; k++, calls++) {
            size_t n = sizes[calls % 6];
            void *p = fn.malloc_(n);
            if (p == NULL) {
                if (!fails++) {
                    first_at = calls;
                    first_n = n;
                    first_errno = errno;
                }
                continue;
            }
            ((volatile char *)p)[n - 1] = 1;
            fn.free_(p);
        }
    }
    __atomic_store_n(&hammer_stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    CHECK(fails == 0,
          "while another thread made failing huge requests, %lu of %lu ordinary mallocs failed "
          "(first: malloc(%zu) at call %lu, errno %d)", fails, calls, first_n, first_at, first_errno);
}

/* ---- part 7: no side effects ----------------------------------------------------- */

static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu", &size) != 1)
        size = 0;
    fclose(f);
    return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_no_side_effects(void)
{
    /* warm up every path once, so first-use costs are not counted */
    for (int e = 0; e < E_COUNT; e++)
        expect_enomem(e, P2(50), "");
    struct mallinfo2 before = mallinfo2();
    size_t vm0 = vm_size();
    unsigned long fails0 = ptest_failures();
    for (int i = 0; i < 20000 && ptest_failures() == fails0; i++) {
        int e = i % E_COUNT;
        expect_enomem(e, some_huge[(i / E_COUNT) % NSOME], "repeat: ");
    }
    struct mallinfo2 after = mallinfo2();
    size_t vm1 = vm_size();
    long long d = (long long)after.uordblks - (long long)before.uordblks;
    CHECK(d < (long long)MiB && d > -(long long)MiB,
          "20000 failed requests moved mallinfo2().uordblks from %zu to %zu", before.uordblks,
          after.uordblks);
    CHECK(vm1 <= vm0 + 64 * MiB, "20000 failed requests grew the address space from %zu to %zu MiB",
          vm0 / MiB, vm1 / MiB);
    /* ordinary large requests still succeed (under MPOOL_LIMIT=64M too: the
     * failures must not have kept any of the cap) */
    void *a = fn.malloc_(40 * MiB);
    void *b = fn.calloc_(1, 8 * MiB);
    void *c = fn.memalign_ ? fn.memalign_(4096, 4 * MiB) : fn.malloc_(4 * MiB);
    CHECK(a && b && c, "after the failures: malloc(40M) = %p, calloc(1, 8M) = %p, memalign(4K, 4M) = %p",
          a, b, c);
    if (a)
        memset(a, 3, 40 * MiB);
    fn.free_(a);
    fn.free_(b);
    fn.free_(c);
}

int main(void)
{
    ptest_require_mpool("too_large");
    resolve();
    make_sizes();
    double t0 = ptest_now();
    test_entries();
    test_products();
    test_realloc_live();
    test_alignments();
    test_threads_first_and_last();
    test_mixed_threads();
    test_huge_does_not_starve_others();
    test_no_side_effects();
    fprintf(stderr, "too_large: %zu huge sizes x %d entry points, %.2f s\n", nhuge, (int)E_COUNT,
            ptest_now() - t0);
    return ptest_finish();
}
