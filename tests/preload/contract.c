/* contract.c - glibc-parity API contract of the malloc family.
 *
 * Reference behaviour: glibc 2.36 (Debian 12).  Run with
 *   LD_PRELOAD=libmpool.so ./contract
 * or against any allocator with MPOOL_TEST_ANY_ALLOCATOR=1.
 */
#define _GNU_SOURCE 1
#include "ptest.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* volatile so that the compiler neither warns about nor folds the huge
 * requests */
static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_ptrdiff_max1 = (size_t)PTRDIFF_MAX + 1;
static volatile size_t v_ptrdiff_max = (size_t)PTRDIFF_MAX;
static volatile size_t v_huge = (size_t)1 << 50;   /* 1 PiB: > address space */
static volatile size_t v_half = SIZE_MAX / 2;
static volatile size_t v_4g = (size_t)1 << 32;
static volatile size_t v_32m = (size_t)1 << 25;

#define MiB ((size_t)1 << 20)
#define KiB ((size_t)1 << 10)

static const size_t spread[] = {
    4097, 5000, 8191, 8192, 8193, 10000, 12288, 16383, 16384, 16385,
    24576, 32767, 32768, 32769, 50000, 65535, 65536, 65537, 100000,
    131071, 131072, 131073, 200000, 262144, 262151, 500000,
    MiB - 1, MiB, MiB + 1, 2 * MiB - 16, 2 * MiB, 2 * MiB + 16, 3 * MiB + 5,
    4 * MiB, 5 * MiB + 4097, 8 * MiB + 3, 12 * MiB, 16 * MiB - 1, 16 * MiB,
    16 * MiB + 1, 24 * MiB, 32 * MiB - 1, 32 * MiB, 33 * MiB, 48 * MiB + 17,
    64 * MiB - 1, 64 * MiB,
};
#define NSPREAD (sizeof spread / sizeof spread[0])

static size_t page;

static int aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static unsigned char pat(size_t i) { return (unsigned char)(i * 131u + (i >> 8) * 7u + (i >> 16) * 3u + 1u); }

static void fill_pat(unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        p[i] = pat(i);
}

/* returns index of first mismatch or (size_t)-1 */
static size_t check_pat(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(i))
            return i;
    return (size_t)-1;
}

/* Touch the first and the last byte (cheap "is it really usable") */
static void touch(void *p, size_t n)
{
    if (n) {
        ((volatile unsigned char *)p)[0] = 0x5a;
        ((volatile unsigned char *)p)[n - 1] = 0xa5;
    }
}


/* ------------------------------------------------------------------ */
/* Is malloc-family function NAME provided by the same object as malloc()?
 * glibc implements memalign/valloc/pvalloc/... on its own heap, so a
 * preloaded allocator that does not define them hands out glibc blocks that
 * its free() cannot take (jemalloc 5.3 lacks pvalloc, for instance).  Under
 * libmpool this is a failure; with MPOOL_TEST_ANY_ALLOCATOR=1 it is
 * reported once as skipped and the tests of that function are skipped. */
static const char *obj_of(void *addr)
{
    Dl_info di;
    if (addr && dladdr(addr, &di) && di.dli_fname)
        return di.dli_fname;
    return "?";
}

static int provided(const char *name)
{
    static struct { const char *name; int state; } cache[32];
    int i;
    for (i = 0; i < 32 && cache[i].name; i++)
        if (strcmp(cache[i].name, name) == 0)
            return cache[i].state;
    void *f = dlsym(RTLD_DEFAULT, name);
    const char *om = obj_of(dlsym(RTLD_DEFAULT, "malloc"));
    const char *of = obj_of(f);
    int ok = f != NULL && strcmp(om, of) == 0;
    if (!ok) {
        if (ptest_any())
            SKIP("%s() comes from %s, malloc() from %s: tests of %s skipped", name, of, om, name);
        else
            CHECK(0, "%s() comes from %s, malloc() from %s: libmpool must define %s", name, of, om, name);
    }
    if (i < 32) { cache[i].name = name; cache[i].state = ok; }
    return ok;
}
#define HAVE(fn) provided(#fn)

static void test_symbols(void)
{
    static const char *const fam[] = { "malloc", "free", "calloc", "realloc", "posix_memalign",
        "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size" };
    int n = 0;
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++)
        n += provided(fam[i]);
    CHECK(n > 0, "symbol check ran");
}

/* ------------------------------------------------------------------ */
static void test_alignment(void)
{
    enum { N = 4097 };
    static void *blk[N];
    size_t bad = (size_t)-1, nul = (size_t)-1;

    /* malloc, all blocks live at once */
    for (size_t s = 0; s < N; s++) {
        blk[s] = malloc(s);
        if (!blk[s] && nul == (size_t)-1) nul = s;
        if (!aligned(blk[s], 16) && bad == (size_t)-1) bad = s;
        touch(blk[s], s);
    }
    CHECK(nul == (size_t)-1, "malloc(%zu) returned NULL", nul);
    CHECK(bad == (size_t)-1, "malloc(%zu) not 16-byte aligned", bad);
    for (size_t s = 0; s < N; s++) free(blk[s]);

    /* calloc */
    bad = nul = (size_t)-1;
    for (size_t s = 0; s < N; s++) {
        blk[s] = calloc(1, s);
        if (!blk[s] && nul == (size_t)-1) nul = s;
        if (!aligned(blk[s], 16) && bad == (size_t)-1) bad = s;
    }
    CHECK(nul == (size_t)-1, "calloc(1, %zu) returned NULL", nul);
    CHECK(bad == (size_t)-1, "calloc(1, %zu) not 16-byte aligned", bad);
    for (size_t s = 0; s < N; s++) free(blk[s]);

    /* realloc: from NULL, and a chain of reallocs of one block */
    bad = nul = (size_t)-1;
    for (size_t s = 0; s < N; s++) {
        blk[s] = realloc(NULL, s);
        if (!blk[s] && nul == (size_t)-1) nul = s;
        if (!aligned(blk[s], 16) && bad == (size_t)-1) bad = s;
    }
    CHECK(nul == (size_t)-1, "realloc(NULL, %zu) returned NULL", nul);
    CHECK(bad == (size_t)-1, "realloc(NULL, %zu) not 16-byte aligned", bad);
    for (size_t s = 0; s < N; s++) free(blk[s]);

    bad = nul = (size_t)-1;
    void *p = malloc(1);
    for (size_t s = 1; s < N; s++) {
        void *q = realloc(p, s);
        if (!q) { if (nul == (size_t)-1) nul = s; continue; }
        p = q;
        if (!aligned(p, 16) && bad == (size_t)-1) bad = s;
        touch(p, s);
    }
    CHECK(nul == (size_t)-1, "realloc(p, %zu) (growing chain) returned NULL", nul);
    CHECK(bad == (size_t)-1, "realloc(p, %zu) (growing chain) not 16-byte aligned", bad);
    free(p);

    /* spread of sizes up to 64 MiB */
    size_t badm = 0, badc = 0, badr = 0, nulls = 0, notzero = 0;
    void *r = malloc(16);
    for (size_t i = 0; i < NSPREAD; i++) {
        size_t s = spread[i];
        void *a = malloc(s);
        unsigned char *c = calloc(s, 1);
        if (!a || !c) { nulls = nulls ? nulls : s; free(a); free(c); continue; }
        if (!aligned(a, 16) && !badm) badm = s;
        if (!aligned(c, 16) && !badc) badc = s;
        if ((c[0] | c[s / 2] | c[s - 1]) && !notzero) notzero = s;
        touch(a, s);
        void *q = realloc(r, s);
        if (!q) { nulls = nulls ? nulls : s; } else { r = q; touch(r, s); }
        if (!aligned(r, 16) && !badr) badr = s;
        free(a);
        free(c);
    }
    free(r);
    CHECK(nulls == 0, "allocation of %zu bytes (malloc/calloc/realloc) returned NULL", nulls);
    CHECK(badm == 0, "malloc(%zu) not 16-byte aligned", badm);
    CHECK(badc == 0, "calloc(%zu, 1) not 16-byte aligned", badc);
    CHECK(badr == 0, "realloc(p, %zu) not 16-byte aligned", badr);
    CHECK(notzero == 0, "calloc(%zu, 1) not zeroed", notzero);
}

/* ------------------------------------------------------------------ */
static void test_malloc0(void)
{
    void *a = malloc(0), *b = malloc(0);
    CHECK(a != NULL, "malloc(0) returned NULL");
    CHECK(b != NULL, "second malloc(0) returned NULL");
    CHECK(a != b, "two malloc(0) calls returned the same pointer %p", a);
    free(a);
    free(b);
    /* and many of them at once are all distinct */
    enum { N = 1000 };
    static void *v[N];
    int dup = 0, nul = 0;
    for (int i = 0; i < N; i++) { v[i] = malloc(0); if (!v[i]) nul++; }
    for (int i = 0; i < N && !dup; i++)
        for (int j = i + 1; j < N; j++)
            if (v[i] && v[i] == v[j]) { dup = 1; break; }
    CHECK(nul == 0 && !dup, "1000 live malloc(0) blocks: %d NULL, duplicates=%d", nul, dup);
    for (int i = 0; i < N; i++) free(v[i]);
    CHECK(1, "free(malloc(0)) works");
}

/* ------------------------------------------------------------------ */
static void test_usable_size(void)
{
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu, want 0",
          malloc_usable_size(NULL));

    size_t bad = (size_t)-1, badu = 0;
    for (size_t s = 0; s <= 4096; s++) {
        void *p = malloc(s);
        size_t u = malloc_usable_size(p);
        if (u < s && bad == (size_t)-1) { bad = s; badu = u; }
        free(p);
    }
    CHECK(bad == (size_t)-1, "malloc_usable_size(malloc(%zu)) = %zu < requested", bad, badu);
    bad = (size_t)-1;
    for (size_t i = 0; i < NSPREAD; i++) {
        void *p = malloc(spread[i]);
        size_t u = malloc_usable_size(p);
        if (u < spread[i] && bad == (size_t)-1) { bad = spread[i]; badu = u; }
        free(p);
    }
    CHECK(bad == (size_t)-1, "malloc_usable_size(malloc(%zu)) = %zu < requested", bad, badu);

    /* slack is writable and survives realloc to a larger size; realloc up
     * to the usable size keeps the pointer */
    static const size_t sl[] = { 0, 1, 7, 8, 9, 15, 17, 24, 25, 33, 100, 200, 511, 513,
                                 1000, 1500, 3000, 4000, 5000, 10000, 40000, 70000,
                                 130000, 300000, MiB + 3, 3 * MiB + 1, 17 * MiB + 5 };
    size_t slack_bad = 0, same_bad = 0, same_bad_u = 0;
    int slack_bad_set = 0, same_bad_set = 0;
    for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++) {
        size_t s = sl[i];
        unsigned char *p = malloc(s);
        if (!p) { CHECK(0, "malloc(%zu) returned NULL", s); continue; }
        size_t u = malloc_usable_size(p);
        fill_pat(p, 0, u);                       /* whole usable size */
        unsigned char *q = realloc(p, u);        /* grow up to usable size */
        if (q != p && u && !same_bad_set) { same_bad = s; same_bad_u = u; same_bad_set = 1; }
        if (!q) { if (u) free(p); continue; } /* realloc(p, 0) freed it (MPOOL_DEBUG: usable 0) */
        p = q;
        q = realloc(p, u + 1000 + u / 2);
        if (!q) { CHECK(0, "realloc(%p, %zu) returned NULL", (void *)p, u + 1000 + u / 2); free(p); continue; }
        if (check_pat(q, u) != (size_t)-1 && !slack_bad_set) { slack_bad = s; slack_bad_set = 1; }
        free(q);
    }
    CHECK(!slack_bad_set, "realloc to a larger size lost the slack content of malloc(%zu)", slack_bad);
    CHECK(!same_bad_set, "realloc(p, malloc_usable_size(p)=%zu) of malloc(%zu) moved the block",
          same_bad_u, same_bad);
}

/* ------------------------------------------------------------------ */
#define EXPECT_ENOMEM(expr, what)                                              \
    do {                                                                       \
        errno = 0;                                                             \
        void *r_ = (expr);                                                     \
        int e_ = errno;                                                        \
        CHECK(r_ == NULL && e_ == ENOMEM, "%s = %p, errno %d (%s); want NULL, ENOMEM", \
              what, r_, e_, strerror(e_));                                     \
        if (r_) free(r_);                                                      \
    } while (0)

static void test_too_large(void)
{
    EXPECT_ENOMEM(malloc(v_size_max), "malloc(SIZE_MAX)");
    EXPECT_ENOMEM(malloc(v_size_max - 15), "malloc(SIZE_MAX-15)");
    EXPECT_ENOMEM(malloc(v_ptrdiff_max1), "malloc(PTRDIFF_MAX+1)");
    EXPECT_ENOMEM(malloc(v_ptrdiff_max), "malloc(PTRDIFF_MAX)");
    EXPECT_ENOMEM(malloc(v_huge), "malloc(1<<50)");
    EXPECT_ENOMEM(calloc(v_half, 3), "calloc(SIZE_MAX/2, 3) (overflow)");
    EXPECT_ENOMEM(calloc(3, v_half), "calloc(3, SIZE_MAX/2) (overflow)");
    EXPECT_ENOMEM(calloc(v_size_max, v_size_max), "calloc(SIZE_MAX, SIZE_MAX) (overflow)");
    EXPECT_ENOMEM(calloc(v_4g, v_4g), "calloc(1<<32, 1<<32) (overflow)");
    EXPECT_ENOMEM(calloc(1, v_size_max), "calloc(1, SIZE_MAX)");
    EXPECT_ENOMEM(calloc(v_huge, 1), "calloc(1<<50, 1) (huge)");
    EXPECT_ENOMEM(calloc(v_32m, v_32m), "calloc(1<<25, 1<<25) (huge)");
    EXPECT_ENOMEM(reallocarray(NULL, v_half, 3), "reallocarray(NULL, SIZE_MAX/2, 3) (overflow)");
    EXPECT_ENOMEM(realloc(NULL, v_size_max), "realloc(NULL, SIZE_MAX)");
    if (HAVE(memalign)) EXPECT_ENOMEM(memalign(64, v_size_max), "memalign(64, SIZE_MAX)");
    if (HAVE(memalign)) EXPECT_ENOMEM(memalign(4096, v_size_max - 4096), "memalign(4096, SIZE_MAX-4096)");
    if (HAVE(memalign)) EXPECT_ENOMEM(memalign(MiB, v_huge), "memalign(1MiB, 1<<50)");
    if (HAVE(aligned_alloc)) EXPECT_ENOMEM(aligned_alloc(64, v_size_max), "aligned_alloc(64, SIZE_MAX)");
    if (HAVE(aligned_alloc)) EXPECT_ENOMEM(aligned_alloc(4096, v_huge), "aligned_alloc(4096, 1<<50)");
    if (HAVE(valloc)) EXPECT_ENOMEM(valloc(v_size_max), "valloc(SIZE_MAX)");
    if (HAVE(valloc)) EXPECT_ENOMEM(valloc(v_size_max - 100), "valloc(SIZE_MAX-100)");
    if (HAVE(valloc)) EXPECT_ENOMEM(valloc(v_huge), "valloc(1<<50)");
    if (HAVE(pvalloc)) EXPECT_ENOMEM(pvalloc(v_size_max), "pvalloc(SIZE_MAX)");
    if (HAVE(pvalloc)) EXPECT_ENOMEM(pvalloc(v_size_max - 100), "pvalloc(SIZE_MAX-100) (page rounding overflows)");
    if (HAVE(pvalloc)) EXPECT_ENOMEM(pvalloc(v_huge), "pvalloc(1<<50)");

    /* realloc failure leaves the old block intact and usable */
    static const size_t olds[] = { 100, 5000, 200000, 2 * MiB };
    static const char *const names[] = { "SIZE_MAX", "PTRDIFF_MAX+1", "1<<50" };
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
        size_t n = olds[i];
        for (int k = 0; k < 3; k++) {
            size_t big = k == 0 ? v_size_max : k == 1 ? v_ptrdiff_max1 : v_huge;
            unsigned char *p = malloc(n);
            if (!CHECK(p != NULL, "malloc(%zu) returned NULL", n)) continue;
            fill_pat(p, 0, n);
            errno = 0;
            void *q = realloc(p, big);
            int e = errno;
            CHECK(q == NULL && e == ENOMEM, "realloc(malloc(%zu), %s) = %p errno %d; want NULL, ENOMEM",
                  n, names[k], q, e);
            if (q) { free(q); continue; }
            CHECK(check_pat(p, n) == (size_t)-1, "failed realloc(malloc(%zu), %s) damaged the old block",
                  n, names[k]);
            /* still usable: grow it for real, then free */
            unsigned char *r = realloc(p, n * 2);
            if (CHECK(r != NULL, "realloc(%zu -> %zu) after failed huge realloc returned NULL", n, n * 2)) {
                CHECK(check_pat(r, n) == (size_t)-1, "content lost growing a block after a failed huge realloc");
                free(r);
            } else {
                free(p);
            }
        }
        /* reallocarray overflow */
        unsigned char *p = malloc(n);
        if (!p) continue;
        fill_pat(p, 0, n);
        errno = 0;
        void *q = reallocarray(p, v_half, 3);
        int e = errno;
        CHECK(q == NULL && e == ENOMEM, "reallocarray(malloc(%zu), SIZE_MAX/2, 3) = %p errno %d; want NULL, ENOMEM",
              n, q, e);
        if (q) { free(q); continue; }
        CHECK(check_pat(p, n) == (size_t)-1, "failed reallocarray damaged the old block of %zu bytes", n);
        free(p);
    }
    /* reallocarray that does not overflow works */
    int *a = reallocarray(NULL, 100, sizeof(int));
    if (CHECK(a != NULL, "reallocarray(NULL, 100, 4) returned NULL")) {
        for (int i = 0; i < 100; i++) a[i] = i * 7;
        int *b = reallocarray(a, 10000, sizeof(int));
        if (CHECK(b != NULL, "reallocarray(p, 10000, 4) returned NULL"))
            a = b;
        int ok = 1;
        for (int i = 0; i < 100; i++) ok &= a[i] == i * 7;
        CHECK(ok, "reallocarray lost contents");
        free(a);
    }
}

/* ------------------------------------------------------------------ */
typedef void *(*alloc_fn)(size_t align, size_t size, const char **name);

static void *via_posix_memalign(size_t a, size_t n, const char **name)
{
    void *p = (void *)0x1;
    *name = "posix_memalign";
    int r = posix_memalign(&p, a, n);
    if (r != 0) {
        CHECK(0, "posix_memalign(&p, %zu, %zu) returned %d", a, n, r);
        return NULL;
    }
    return p;
}
static void *via_aligned_alloc(size_t a, size_t n, const char **name)
{
    *name = "aligned_alloc";
    return aligned_alloc(a, n);
}
static void *via_memalign(size_t a, size_t n, const char **name)
{
    *name = "memalign";
    return memalign(a, n);
}

static void test_aligned(void)
{
    void *const SENT = (void *)(uintptr_t)0xdeadbeef0;

    if (!HAVE(posix_memalign) || !HAVE(aligned_alloc) || !HAVE(memalign) || !HAVE(valloc))
        return;
    /* invalid alignments: EINVAL, *p untouched */
    static const size_t badal[] = { 0, 1, 2, 3, 4, 5, 6, 7, 9, 12, 24, 40, 48, 96, 100, 1000,
                                    4095, 4097, 3 * 4096, ((size_t)1 << 20) + 8 };
    for (size_t i = 0; i < sizeof badal / sizeof badal[0]; i++) {
        void *p = SENT;
        int r = posix_memalign(&p, badal[i], 64);
        CHECK(r == EINVAL, "posix_memalign(&p, %zu, 64) returned %d, want EINVAL", badal[i], r);
        CHECK(p == SENT, "posix_memalign(&p, %zu, 64) failed but modified *p (%p)", badal[i], p);
        if (r == 0 && p != SENT) free(p);
    }
    /* huge size: ENOMEM, *p untouched */
    static const size_t hal[] = { 8, 16, 64, 4096, (size_t)1 << 20 };
    for (size_t i = 0; i < sizeof hal / sizeof hal[0]; i++) {
        for (int k = 0; k < 3; k++) {
            size_t n = k == 0 ? v_size_max : k == 1 ? v_ptrdiff_max1 : v_huge;
            void *p = SENT;
            int r = posix_memalign(&p, hal[i], n);
            CHECK(r == ENOMEM, "posix_memalign(&p, %zu, %s) returned %d, want ENOMEM", hal[i],
                  k == 0 ? "SIZE_MAX" : k == 1 ? "PTRDIFF_MAX+1" : "1<<50", r);
            CHECK(p == SENT, "posix_memalign(&p, %zu, huge) failed but modified *p (%p)", hal[i], p);
            if (r == 0 && p != SENT) free(p);
        }
    }

    /* valid alignments 8 .. 64 MiB, several sizes each */
    alloc_fn fns[] = { via_posix_memalign, via_aligned_alloc, via_memalign };
    for (size_t f = 0; f < 3; f++) {
        const char *name = "?";
        size_t misal = 0, misal_n = 0, nul = 0, nul_n = 0, small = 0, small_n = 0;
        int nul_set = 0, small_set = 0;
        for (size_t a = 8; a <= 64 * MiB; a *= 2) {
            size_t sizes[] = { 0, 1, a - 1, a, a + 1, 3 * a };
            void *live[6];
            for (int k = 0; k < 6; k++) {
                size_t n = sizes[k];
                void *p = fns[f](a, n, &name);
                live[k] = p;
                if (!p) { if (!nul_set) { nul = a; nul_n = n; nul_set = 1; } continue; }
                if (!aligned(p, a) && !misal) { misal = a; misal_n = n; }
                if (malloc_usable_size(p) < n && !small_set) { small = a; small_n = n; small_set = 1; }
                touch(p, n);
            }
            for (int k = 0; k < 6; k++) free(live[k]);
        }
        CHECK(!nul_set, "%s(%zu, %zu) returned NULL", name, nul, nul_n);
        CHECK(misal == 0, "%s(%zu, %zu) returned a misaligned pointer", name, misal, misal_n);
        CHECK(!small_set, "%s(%zu, %zu): malloc_usable_size < size", name, small, small_n);
    }
    /* aligned blocks mixed with plain ones, all live, then realloc'ed */
    {
        enum { N = 300 };
        void *v[N];
        ptest_rng rng = { 42 };
        int bad = 0;
        for (int i = 0; i < N; i++) {
            size_t a = (size_t)16 << ptest_below(&rng, 9);  /* 16 .. 4096 */
            size_t n = ptest_below(&rng, 3000);
            v[i] = (i & 1) ? memalign(a, n) : malloc(n);
            if (!v[i] || ((i & 1) && !aligned(v[i], a))) bad++;
            if (v[i]) ptest_fill(v[i], n, (uint64_t)i);
            if (v[i] && (i & 1)) {
                void *q = realloc(v[i], n + 5000);
                if (!q || ptest_verify(q, n, (uint64_t)i) != (size_t)-1) bad++;
                if (q) v[i] = q;
            }
        }
        for (int i = 0; i < N; i++) free(v[i]);
        CHECK(bad == 0, "mixed memalign/malloc/realloc: %d bad blocks", bad);
    }

    /* valloc: page aligned */
    static const size_t vs[] = { 0, 1, 100, 4095, 4096, 4097, 10000, 100000, MiB + 1, 5 * MiB };
    int vbad = 0;
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        void *p = valloc(vs[i]);
        if (!p || !aligned(p, page) || malloc_usable_size(p) < vs[i]) {
            CHECK(0, "valloc(%zu) = %p (usable %zu): want page-aligned non-NULL", vs[i], p,
                  malloc_usable_size(p));
            vbad++;
        }
        touch(p, vs[i]);
        free(p);
    }
    CHECK(vbad == 0, "valloc results page aligned");

    /* pvalloc: page aligned, usable size rounded up to a page */
    if (!HAVE(pvalloc))
        return;
    int pbad = 0;
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        size_t n = vs[i];
        size_t want = n == 0 ? page : (n + page - 1) / page * page;
        unsigned char *p = pvalloc(n);
        size_t u = malloc_usable_size(p);
        if (n == 0 && p && aligned(p, page) && u < want && ptest_any()) {
            /* glibc 2.36 rounds with "& -(pagesize - 1)", so pvalloc(0)
             * allocates 1 byte; libmpool must give a whole page. */
            SKIP("pvalloc(0) usable size %zu < page (known glibc 2.36 deviation; required under mpool)", u);
        } else if (!p || !aligned(p, page) || u < want) {
            CHECK(0, "pvalloc(%zu) = %p usable %zu: want page-aligned, usable >= %zu", n, (void *)p, u, want);
            pbad++;
        }
        if (p) memset(p, 0x77, u < want ? u : want);    /* the whole rounded size is usable */
        free(p);
    }
    CHECK(pbad == 0, "pvalloc results page aligned and rounded to a page");
}

/* ------------------------------------------------------------------ */
static void test_realloc_free_misc(void)
{
    /* realloc(p, 0) frees and returns NULL (glibc) */
    for (size_t n = 1; n <= 4 * MiB; n *= 4) {
        void *p = malloc(n);
        void *q = realloc(p, 0);
        CHECK(q == NULL, "realloc(malloc(%zu), 0) = %p, want NULL (glibc frees)", n, q);
        if (q) free(q);
    }
    /* realloc(NULL, n) behaves as malloc(n) */
    static const size_t rn[] = { 0, 1, 24, 100, 4096, 70000, 3 * MiB };
    for (size_t i = 0; i < sizeof rn / sizeof rn[0]; i++) {
        unsigned char *p = realloc(NULL, rn[i]);
        int ok = p && aligned(p, 16) && malloc_usable_size(p) >= rn[i];
        if (p) { fill_pat(p, 0, rn[i]); ok &= check_pat(p, rn[i]) == (size_t)-1; }
        CHECK(ok, "realloc(NULL, %zu) = %p: want a usable 16-aligned block", rn[i], (void *)p);
        free(p);
    }
    /* realloc(NULL, 0) returns a unique non-NULL pointer like malloc(0) */
    {
        void *a = realloc(NULL, 0), *b = realloc(NULL, 0);
        CHECK(a && b && a != b, "realloc(NULL, 0) twice = %p, %p: want distinct non-NULL", a, b);
        free(a);
        free(b);
    }
    free(NULL);
    CHECK(1, "free(NULL) works");

    /* free preserves errno */
    static const size_t fs[] = { 1, 64, 1000, 5000, 70000, 300000, MiB, 16 * MiB, 20 * MiB };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        void *p = malloc(fs[i]);
        if (p) memset(p, 1, fs[i]);
        errno = 4242;
        free(p);
        int e = errno;
        CHECK(e == 4242, "free(malloc(%zu)) changed errno from 4242 to %d", fs[i], e);
    }
    {
        void *p = HAVE(aligned_alloc) ? aligned_alloc(MiB, 17 * MiB) : malloc(17 * MiB);
        errno = EEXIST;
        free(p);
        CHECK(errno == EEXIST, "free(aligned_alloc(1MiB, 17MiB)) changed errno to %d", errno);
        errno = ENOSPC;
        free(NULL);
        CHECK(errno == ENOSPC, "free(NULL) changed errno to %d", errno);
    }
}

/* ------------------------------------------------------------------ */
static int grow_shrink(double factor, size_t maxn, const char *what)
{
    size_t n = 1;
    unsigned char *p = malloc(n);
    if (!p) return CHECK(0, "%s: malloc(1) failed", what);
    fill_pat(p, 0, n);
    while (n < maxn) {
        size_t m = (size_t)((double)n * factor);
        if (m <= n) m = n + 1;
        if (m > maxn) m = maxn;
        unsigned char *q = realloc(p, m);
        if (!q) { free(p); return CHECK(0, "%s: realloc(%zu -> %zu) returned NULL", what, n, m); }
        p = q;
        size_t bad = check_pat(p, n);
        if (bad != (size_t)-1) {
            free(p);
            return CHECK(0, "%s: realloc grow %zu -> %zu: byte %zu of the old prefix changed", what, n, m, bad);
        }
        fill_pat(p, n, m);
        n = m;
    }
    while (n > 1) {
        size_t m = (size_t)((double)n / factor);
        if (m >= n) m = n - 1;
        if (m < 1) m = 1;
        unsigned char *q = realloc(p, m);
        if (!q) { free(p); return CHECK(0, "%s: realloc(%zu -> %zu) (shrink) returned NULL", what, n, m); }
        p = q;
        size_t bad = check_pat(p, m);
        if (bad != (size_t)-1) {
            free(p);
            return CHECK(0, "%s: realloc shrink %zu -> %zu: byte %zu changed", what, n, m, bad);
        }
        n = m;
    }
    free(p);
    return CHECK(1, "%s", what);
}

static void test_realloc_contents(void)
{
    grow_shrink(1.3, 32 * MiB, "realloc 1 B <-> 32 MiB by x1.3");
    grow_shrink(2.0, 32 * MiB, "realloc 1 B <-> 32 MiB by x2");

    /* direct jumps small <-> huge */
    unsigned char *p = malloc(16);
    if (!p) { CHECK(0, "malloc(16) failed"); return; }
    fill_pat(p, 0, 16);
    unsigned char *q = realloc(p, 20 * MiB);
    if (!CHECK(q != NULL, "realloc(16 -> 20 MiB) returned NULL")) { free(p); return; }
    CHECK(check_pat(q, 16) == (size_t)-1, "realloc 16 B -> 20 MiB lost the content");
    fill_pat(q, 16, 20 * MiB);
    p = realloc(q, 16);
    if (!CHECK(p != NULL, "realloc(20 MiB -> 16) returned NULL")) { free(q); return; }
    CHECK(check_pat(p, 16) == (size_t)-1, "realloc 20 MiB -> 16 B lost the content");
    q = realloc(p, 5 * MiB);
    if (!CHECK(q != NULL, "realloc(16 -> 5 MiB) returned NULL")) { free(p); return; }
    CHECK(check_pat(q, 16) == (size_t)-1, "realloc 16 B -> 5 MiB (second jump) lost the content");
    free(q);
}

/* ------------------------------------------------------------------ */
static void test_calloc_zero(void)
{
    static const size_t cs[] = { 1, 8, 16, 17, 24, 32, 48, 64, 80, 96, 112, 128, 200, 256,
                                 300, 512, 640, 1000, 1024, 1500, 2048, 3000, 4096, 5000,
                                 8192, 12000, 16384, 30000, 65536, 100000, 131072, 262144 };
    enum { PER = 24, NS = sizeof cs / sizeof cs[0] };
    static void *v[NS][PER];
    size_t bad = 0;
    int bad_set = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NS; i++)
            for (int k = 0; k < PER; k++) {
                v[i][k] = malloc(cs[i]);
                if (v[i][k]) memset(v[i][k], 0xA5 + round, malloc_usable_size(v[i][k]));
            }
        for (size_t i = 0; i < NS; i++)
            for (int k = 0; k < PER; k++) free(v[i][k]);
        for (size_t i = 0; i < NS; i++)
            for (int k = 0; k < PER; k++) {
                /* alternate argument order */
                unsigned char *c = (k & 1) ? calloc(cs[i], 1) : calloc(1, cs[i]);
                v[i][k] = c;
                if (!c) { if (!bad_set) { bad = cs[i]; bad_set = 1; } continue; }
                for (size_t b = 0; b < cs[i]; b++)
                    if (c[b]) { if (!bad_set) { bad = cs[i]; bad_set = 1; } break; }
            }
        for (size_t i = 0; i < NS; i++)
            for (int k = 0; k < PER; k++) free(v[i][k]);
    }
    CHECK(!bad_set, "calloc(%zu) of recycled dirty memory was not all zero (or NULL)", bad);

    /* immediate reuse: dirty, free, calloc the same size */
    bad_set = 0;
    for (size_t n = 1; n <= 70000; n += (n < 512 ? 1 : n / 7)) {
        unsigned char *p = malloc(n);
        if (p) memset(p, 0xEE, malloc_usable_size(p));
        free(p);
        unsigned char *c = calloc(n, 1);
        if (!c) { bad_set = 1; bad = n; break; }
        size_t u = malloc_usable_size(c);
        for (size_t b = 0; b < n; b++)
            if (c[b]) { if (!bad_set) { bad = n; bad_set = 1; } break; }
        (void)u;
        free(c);
    }
    CHECK(!bad_set, "calloc(%zu, 1) right after freeing a dirty block was not zero", bad);

    /* large blocks */
    static const size_t ls[] = { MiB, MiB + 1, 2 * MiB, 3 * MiB + 17, 8 * MiB, 16 * MiB + 5, 33 * MiB };
    bad_set = 0;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
            unsigned char *p[3];
            for (int k = 0; k < 3; k++) {
                p[k] = malloc(ls[i]);
                if (p[k]) memset(p[k], 0x5C, ls[i]);
            }
            for (int k = 0; k < 3; k++) free(p[k]);
            for (int k = 0; k < 3; k++) {
                unsigned char *c = calloc(1, ls[i]);
                if (!c) { bad = ls[i]; bad_set = 1; continue; }
                const uint64_t *w = (const uint64_t *)c;
                for (size_t b = 0; b < ls[i] / 8; b++)
                    if (w[b]) { if (!bad_set) { bad = ls[i]; bad_set = 1; } break; }
                for (size_t b = ls[i] / 8 * 8; b < ls[i]; b++)
                    if (c[b]) { bad = ls[i]; bad_set = 1; }
                memset(c, 0x33, ls[i]);       /* dirty it for the next round */
                free(c);
            }
        }
    CHECK(!bad_set, "large calloc(1, %zu) after freeing dirty blocks was not zero", bad);
}

/* ------------------------------------------------------------------ */
static void test_extra_frees(void)
{
    void (*p_cfree)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    void (*p_free_sized)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*p_free_aligned_sized)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");

    /* provided(): present and defined by the same object as malloc */
    if (provided("cfree")) {
        for (size_t n = 0; n < 300000; n = n * 3 + 1) {
            void *p = malloc(n);
            touch(p, n);
            p_cfree(p);
        }
        p_cfree(NULL);
        CHECK(1, "cfree works");
    }
    if (provided("free_sized")) {
        for (size_t n = 0; n < 40 * MiB; n = n * 3 + 1) {
            void *p = malloc(n);
            touch(p, n);
            p_free_sized(p, n);
        }
        void *c = calloc(10, 100);
        p_free_sized(c, 1000);
        p_free_sized(NULL, 0);
        CHECK(1, "free_sized works");
    }
    if (provided("free_aligned_sized")) {
        for (size_t a = 16; a <= 2 * MiB && HAVE(aligned_alloc); a *= 4)
            for (size_t n = a; n <= 8 * a; n += a) {
                void *p = aligned_alloc(a, n);
                touch(p, n);
                p_free_aligned_sized(p, a, n);
            }
        p_free_aligned_sized(NULL, 64, 0);
        CHECK(1, "free_aligned_sized works");
    }
}

/* ------------------------------------------------------------------ */
static void test_libc_aliases(void)
{
    void *(*lm)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
    void (*lf)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "__libc_free");
    void *(*lc)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_calloc");
    void *(*lr)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "__libc_realloc");
    void *(*lma)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_memalign");
    void *m = dlsym(RTLD_DEFAULT, "malloc");

    if (!CHECK(lm && lf && lc && lr && lma, "__libc_malloc/free/calloc/realloc/memalign not all found "
               "(%p %p %p %p %p)", (void *)lm, (void *)lf, (void *)lc, (void *)lr, (void *)lma))
        return;
    const char *om = obj_of(m), *ol = obj_of((void *)lm);
    if (strcmp(om, ol) != 0) {
        /* e.g. jemalloc/mimalloc: __libc_malloc is still glibc's, mixing would crash */
        if (ptest_any()) {
            SKIP("__libc_malloc comes from %s but malloc from %s: not interchangeable here", ol, om);
            return;
        }
        CHECK(0, "__libc_malloc resolves to %s but malloc to %s: the preloaded allocator must "
                 "define the __libc_* aliases", ol, om);
        return;
    }
    int bad = 0;
    size_t badn = 0;
#define LBAD(k) do { if (!bad) { bad = (k); badn = n; } } while (0)
    for (size_t n = 1; n < 4 * MiB; n = n * 5 + 3) {
        unsigned char *p = lm(n);
        if (!p || !aligned(p, 16)) LBAD(1);
        if (p) { fill_pat(p, 0, n); if (check_pat(p, n) != (size_t)-1) LBAD(2); }
        free(p);                                     /* __libc_malloc -> free */
        p = malloc(n);
        if (p) fill_pat(p, 0, n);
        lf(p);                                       /* malloc -> __libc_free */
        p = lc(n, 1);
        if (p) { for (size_t b = 0; b < n; b++) if (p[b]) { LBAD(3); break; } }
        else LBAD(4);
        unsigned char *q = lr(p, n * 2 + 1);         /* __libc_calloc -> __libc_realloc */
        if (!q) { LBAD(5); free(p); continue; }
        p = q;
        fill_pat(p, 0, n * 2 + 1);
        q = realloc(p, n + 7);                       /* -> realloc */
        if (!q) { LBAD(6); free(p); continue; }
        p = q;
        if (check_pat(p, n + 7 < n * 2 + 1 ? n + 7 : n * 2 + 1) != (size_t)-1) LBAD(7);
        free(p);
        p = lma(256, n);
        if (!p || !aligned(p, 256)) LBAD(8);
        lf(p);
        p = memalign(4096, n);
        lf(p);
        p = lma(64, n);
        free(p);
    }
#undef LBAD
    static const char *const what[] = { "", "__libc_malloc result NULL or misaligned",
        "__libc_malloc block content", "__libc_calloc not zero", "__libc_calloc NULL",
        "__libc_realloc NULL", "realloc of __libc_realloc block NULL",
        "realloc of __libc_realloc block lost content", "__libc_memalign(256) NULL or misaligned" };
    CHECK(bad == 0, "__libc_* vs malloc/free/realloc interchange: %s (n=%zu)", what[bad], badn);
}

/* ------------------------------------------------------------------ */
static void test_info_trim(void)
{
    /* mallinfo2 grows by at least what is allocated, and falls back */
    struct mallinfo2 before = mallinfo2();
    void *p[100];
    size_t asked = 0;
    for (int i = 0; i < 100; i++) {
        p[i] = malloc((size_t)i * 1000 + 1);
        asked += (size_t)i * 1000 + 1;
    }
    void *big = malloc(3 * MiB);
    struct mallinfo2 during = mallinfo2();
    CHECK(during.uordblks >= before.uordblks + asked + 3 * MiB,
          "mallinfo2().uordblks grew by %zu after allocating %zu", during.uordblks - before.uordblks,
          asked + 3 * MiB);
    if (!ptest_any()) /* glibc's mmap threshold moves: its 3 MiB block may be in the heap */
        CHECK(during.hblkhd >= before.hblkhd + 3 * MiB,
              "mallinfo2().hblkhd grew by %zu for a 3 MiB block", during.hblkhd - before.hblkhd);
    /* (profiled blocks are in use, but in neither: mpool serves them from jemalloc) */
    CHECK(getenv("MPOOL_PROF") || during.arena + during.hblkhd >= asked + 3 * MiB,
          "mallinfo2(): arena %zu + hblkhd %zu hold less than the %zu bytes in use", during.arena,
          during.hblkhd, asked + 3 * MiB);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
    CHECK(old.uordblks > 0, "mallinfo().uordblks is 0");
    free(big);
    for (int i = 0; i < 100; i++) free(p[i]);
    struct mallinfo2 after = mallinfo2();
    CHECK(after.uordblks + asked + 3 * MiB <= during.uordblks,
          "mallinfo2().uordblks fell by %zu after freeing %zu", during.uordblks - after.uordblks,
          asked + 3 * MiB);
    int r = malloc_trim(0);
    CHECK(r == 0 || r == 1, "malloc_trim(0) returned %d, want 0 or 1", r);
    r = malloc_trim(1 << 20);
    CHECK(r == 0 || r == 1, "malloc_trim(1MiB) returned %d, want 0 or 1", r);
}

/* C17 (glibc from 2.38): aligned_alloc refuses an alignment that is not a
 * power of two, zero included; memalign rounds it up (glibc's rule). */
static void test_aligned_alloc_c17(void)
{
    static const size_t bad[] = { 0, 3, 24, 65, 100, 4097, ((size_t)1 << 20) + 8 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = aligned_alloc(bad[i], 64);
        if (p && ptest_any()) {
            SKIP("aligned_alloc(%zu, 64) succeeded (glibc before 2.38)", bad[i]);
            free(p);
            continue;
        }
        CHECK(p == NULL && errno == EINVAL, "aligned_alloc(%zu, 64) = %p errno %d, want NULL + EINVAL",
              bad[i], p, errno);
        void *q = memalign(bad[i] ? bad[i] : 1, 64);
        CHECK(q != NULL, "memalign(%zu, 64) = NULL, want the alignment rounded up", bad[i]);
        free(q);
    }
    void *p = aligned_alloc(1, 10);
    CHECK(p != NULL, "aligned_alloc(1, 10) = NULL: 1 is a power of two");
    free(p);
}

/* mallopt answers as glibc 2.36 does: 1, and 0 only for a value it refuses. */
static void test_mallopt(void)
{
    static const struct { int param, value, want; const char *name; } cases[] = {
        { M_ARENA_MAX, 1, 1, "M_ARENA_MAX 1" },       { M_ARENA_TEST, 2, 1, "M_ARENA_TEST 2" },
        { M_MXFAST, 64, 1, "M_MXFAST 64" },           { M_MXFAST, 160, 1, "M_MXFAST 160" },
        { M_MXFAST, 161, 0, "M_MXFAST 161" },         { M_MXFAST, -1, 0, "M_MXFAST -1" },
        { M_MMAP_THRESHOLD, 128 * 1024, 1, "M_MMAP_THRESHOLD 128K" },
        { M_MMAP_THRESHOLD, 1 << 30, 1, "M_MMAP_THRESHOLD 1G" },
        { M_MMAP_MAX, 0, 1, "M_MMAP_MAX 0" },         { M_TOP_PAD, 4096, 1, "M_TOP_PAD 4096" },
        { M_CHECK_ACTION, 3, 1, "M_CHECK_ACTION 3" }, { 12345, 1, 1, "an unknown parameter" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = mallopt(cases[i].param, cases[i].value);
        CHECK(r == cases[i].want, "mallopt(%s) returned %d, want %d", cases[i].name, r, cases[i].want);
    }
    /* restore what the cases changed in glibc */
    mallopt(M_MXFAST, 64 * sizeof(size_t) / 4);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);

    /* M_PERTURB: new blocks hold the byte's complement, freed ones the byte
     * (glibc 2.36 skips both for blocks its tcache serves: mpool only) */
    CHECK(mallopt(M_PERTURB, 0xa5) == 1, "mallopt(M_PERTURB, 0xa5) != 1");
    if (ptest_any() || getenv("MPOOL_DEBUG")) {
        SKIP("M_PERTURB fills: glibc's tcache does not perturb; MPOOL_DEBUG fills on its own");
        mallopt(M_PERTURB, 0);
        return;
    }
    static const size_t sizes[] = { 100, 3000, 200 * 1024 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        size_t bad = 0;
        for (size_t k = 0; p && k < n; k++)
            bad += p[k] != 0x5a;
        CHECK(p && bad == 0, "M_PERTURB 0xa5: malloc(%zu) has %zu bytes not 0x5a", n, bad);
        unsigned char *c = calloc(1, n);
        size_t nonzero = 0;
        for (size_t k = 0; c && k < n; k++)
            nonzero += c[k] != 0;
        CHECK(c && nonzero == 0, "M_PERTURB: calloc(1, %zu) has %zu bytes not zero", n, nonzero);
        free(c);
        if (n < 4096 && !getenv("MPOOL_PROF")) { /* pooled: stays mapped, its fill readable */
            free(p);
            size_t unfilled = 0;
            for (size_t k = 32; k < n; k++)
                unfilled += ((volatile unsigned char *)p)[k] != 0xa5;
            CHECK(unfilled == 0, "M_PERTURB 0xa5: freed %zu-byte block has %zu bytes not 0xa5", n,
                  unfilled);
        } else {
            free(p);
        }
    }
    /* glibc keeps the whole value: 256 is on, and fills with 0xff and 0 */
    CHECK(mallopt(M_PERTURB, 256) == 1, "mallopt(M_PERTURB, 256) != 1");
    unsigned char *w = malloc(100);
    size_t not_ff = 0;
    for (size_t k = 0; w && k < 100; k++)
        not_ff += w[k] != 0xff;
    CHECK(w && not_ff == 0, "M_PERTURB 256: malloc(100) has %zu bytes not 0xff", not_ff);
    free(w);
    CHECK(mallopt(M_PERTURB, 0) == 1, "mallopt(M_PERTURB, 0) != 1");
    void *q = malloc(100);
    CHECK(q != NULL, "malloc after M_PERTURB 0");
    free(q);
}

int main(int argc, char **argv)
{
    (void)argc; (void)argv;
    ptest_require_mpool("contract");
    page = (size_t)sysconf(_SC_PAGESIZE);

    test_symbols();
    test_alignment();
    test_malloc0();
    test_usable_size();
    test_too_large();
    test_aligned();
    test_realloc_free_misc();
    test_realloc_contents();
    test_calloc_zero();
    test_extra_frees();
    test_libc_aliases();
    test_info_trim();
    test_aligned_alloc_c17();
    test_mallopt();
    return ptest_finish();
}
