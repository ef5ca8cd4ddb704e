/* guard_bugs.c - heap bugs for the sampled guard pages (MPOOL_GUARD_SAMPLE).
 *
 *   guard_bugs MODE
 *
 * Each bug is its own named, noinline function that allocates the block (and,
 * where it applies, frees it) itself or through a named helper it calls, so
 * the report's "allocated by" / "freed by" stacks name it.  Build with
 * -rdynamic (dladdr names the program's functions only then) and
 * -fno-builtin -O1 -g (the compiler must keep every malloc/free and every
 * bad access: they also go through volatile pointers).
 *
 * Bug modes (under MPOOL_GUARD_SAMPLE=1 each must end in a report and
 * SIGABRT; guard.py checks the report):
 *   overflow-write-1   malloc(32), write p[32], free(p)
 *   overflow-read-8    malloc(32), read 8 bytes at p+32 (see overflow_read_8)
 *   underflow-write-1  malloc(32), write p[-1], free(p)
 *   uaf-write          malloc(48), free, 1000 other malloc/free, write p[0]
 *   uaf-read           malloc(64), free, read p[8]
 *   double-free        malloc(40), free, free
 *   invalid-free       malloc(64), free(p + 8)
 *   hot-site           400 000 times: malloc(100), write p[100], free --
 *                      the default rate must catch it; prints nothing itself
 * When a bug goes unnoticed the program says so on stdout ("not caught")
 * and exits 0 (plain glibc, or libmpool without the guard).
 *
 *   fork-child         fork; the child writes after free (as uaf_write, in
 *                      child_uaf); the parent prints "child: signal N" or
 *                      "child: exit N" and exits 0
 *   limit              malloc(64) until it fails; prints "blocks N errno E"
 *                      (run with MPOOL_LIMIT: guarded blocks count too)
 *
 * Clean modes (exit 0 and print "ok"; any wrong byte is a FAIL line on
 * stderr and exit 1):
 *   clean     malloc/calloc/realloc/posix_memalign/aligned_alloc/free of many
 *             sizes (0..6000, alignments 32..4096), realloc growing and
 *             shrinking, every byte checked
 *   threads   4 threads doing the clean mix at once, plus blocks allocated
 *             by main and freed by the threads
 */
#define _GNU_SOURCE 1
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

/* global (so -rdynamic puts them in .dynsym, where dladdr finds them), not
 * inlined, not cloned under another name */
#define NOINL __attribute__((noinline, noclone))

/* results go here, so no read can be dropped */
static volatile uint64_t sink;

/* hide a pointer's provenance and value from the compiler */
static inline void *launder(void *p)
{
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

static void not_caught(const char *what)
{
    printf("not caught: %s\n", what);
    fflush(stdout);
}

/* ---- the bugs -------------------------------------------------------------------------------- */

NOINL void overflow_write_1(void)
{
    char *p = malloc(32);
    if (!p) exit(90);
    memset(p, 'a', 32);
    volatile char *v = launder(p);
    v[32] = 'X'; /* one past the end: faults at the page end, or is found at free */
    free(p);
    not_caught("overflow-write-1");
}

/* An 8-byte read starting just past a 32-byte block.  The size is a multiple
 * of 16, so a block placed at the end of its page ends exactly at the page
 * end and the read faults.  A block placed at the start of its page leaves
 * the read inside its own page, where nothing can see a read: the function
 * then frees it and tries again with a new block, up to 64 times (at any
 * sane share of start placements, the chance that none of 64 blocks lands at
 * the end is nil). */
NOINL void overflow_read_8(void)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        char *p = malloc(32);
        if (!p) exit(90);
        memset(p, 'b', 32);
        volatile uint64_t *v = launder(p + 32);
        sink += *v;
        free(p);
    }
    not_caught("overflow-read-8");
}

NOINL void underflow_write_1(void)
{
    char *p = malloc(32);
    if (!p) exit(90);
    memset(p, 'c', 32);
    volatile char *v = launder(p);
    v[-1] = 'X'; /* one before the start: faults at the page start, or is found at free */
    free(p);
    not_caught("underflow-write-1");
}

/* the other programs' traffic between the free and the late write: sizes
 * 1..640 bytes, none 48 */
NOINL void churn_small(int n)
{
    for (int i = 0; i < n; i++) {
        size_t size = 1 + (size_t)(i * 37) % 640;
        if (size == 48) size = 49;
        char *q = malloc(size);
        if (!q) exit(90);
        q[0] = (char)i;
        q[size - 1] = (char)i;
        sink += (unsigned char)((volatile char *)q)[size - 1];
        free(q);
    }
}

NOINL void uaf_write(void)
{
    char *p = malloc(48);
    if (!p) exit(90);
    memset(p, 'd', 48);
    free(p);
    churn_small(1000);
    volatile char *v = launder(p);
    v[0] = 'X';
    not_caught("uaf-write");
}

NOINL void uaf_read(void)
{
    char *p = malloc(64);
    if (!p) exit(90);
    memset(p, 'e', 64);
    free(p);
    volatile char *v = launder(p);
    sink += (unsigned char)v[8];
    not_caught("uaf-read");
}

/* free() of a pointer 8 bytes into a block: not one malloc returned */
NOINL void invalid_free(void)
{
    char *p = malloc(64);
    if (!p) exit(90);
    memset(p, 'g', 64);
    free(launder(p + 8));
    not_caught("invalid-free");
    free(p);
}

NOINL void double_free(void)
{
    char *p = malloc(40);
    if (!p) exit(90);
    memset(p, 'f', 40);
    free(p);
    free(launder(p));
    not_caught("double-free");
}

/* one call site, hot: every block overflowed by one byte.  At the default
 * rate some of the 400 000 blocks are guarded; the byte lands in the page's
 * unused rest (100 is not a multiple of 16) and free() finds it. */
NOINL void hot_site(void)
{
    for (int i = 0; i < 400000; i++) {
        char *p = malloc(100);
        if (!p) exit(90);
        p[0] = (char)i;
        volatile char *v = launder(p);
        v[100] = 1;
        free(p);
    }
}

/* ---- the clean mix --------------------------------------------------------------------------- */

static _Atomic unsigned long failures;

#define FAIL(...)                                                     \
    do {                                                              \
        if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 20) \
            fprintf(stderr, "FAIL guard_bugs: " __VA_ARGS__);         \
    } while (0)

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct {
    unsigned char *p;
    size_t size;
    unsigned char tag;
} blk_t;

static void fill(blk_t *b)
{
    for (size_t i = 0; i < b->size; i++)
        b->p[i] = (unsigned char)(b->tag + i * 7);
}

static int verify(const blk_t *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (b->p[i] != (unsigned char)(b->tag + i * 7)) {
            FAIL("%s: block %p (%zu bytes): byte %zu is 0x%02x, want 0x%02x\n", what,
                 (void *)b->p, b->size, i, b->p[i], (unsigned char)(b->tag + i * 7));
            return 0;
        }
    return 1;
}

static size_t pick_size(uint64_t *s)
{
    switch (rnd(s) % 8) {
    case 0: return rnd(s) % 17;                  /* 0..16 */
    case 1: return 1 + rnd(s) % 128;
    case 2: return 1 + rnd(s) % 1024;
    case 3: return 1 + rnd(s) % 4096;
    case 4: return 4096 - rnd(s) % 16;           /* at the slot's edge */
    case 5: return 4096 + 1 + rnd(s) % 2000;     /* just too big for a slot */
    case 6: return (size_t)16 << (rnd(s) % 8);   /* powers of two 16..2048 */
    default: return 1 + rnd(s) % 300;
    }
}

static void release(blk_t *b)
{
    if (b->p) {
        verify(b, b->size, "before free");
        free(b->p);
    }
    b->p = NULL;
    b->size = 0;
}

NOINL void clean_mix(uint64_t seed, int rounds)
{
    enum { LIVE = 512 };
    static __thread blk_t live[LIVE];
    uint64_t s = seed | 1;
    for (int r = 0; r < rounds; r++) {
        blk_t *b = &live[rnd(&s) % LIVE];
        unsigned op = rnd(&s) % 10;
        if (b->p == NULL || op < 3) {
            release(b);
            size_t size = pick_size(&s);
            b->tag = (unsigned char)rnd(&s);
            unsigned how = rnd(&s) % 5;
            if (how == 1 || how == 2) size += size == 0; /* 0 bytes may give NULL there */
            if (how == 0) {                      /* calloc: all zero */
                size_t n = 1 + rnd(&s) % 8, each = size / n + 1;
                b->p = calloc(n, each);
                if (!b->p) { FAIL("calloc(%zu, %zu) = NULL\n", n, each); continue; }
                for (size_t i = 0; i < n * each; i++)
                    if (b->p[i]) { FAIL("calloc(%zu, %zu): byte %zu is not 0\n", n, each, i); break; }
                size = n * each;
            } else if (how == 1) {               /* posix_memalign 32..4096 */
                size_t align = (size_t)32 << (rnd(&s) % 8);
                void *q = NULL;
                int e = posix_memalign(&q, align, size);
                if (e || !q) { FAIL("posix_memalign(%zu, %zu) = %d\n", align, size, e); continue; }
                if ((uintptr_t)q % align)
                    FAIL("posix_memalign(%zu, %zu) = %p: misaligned\n", align, size, q);
                b->p = q;
            } else if (how == 2) {               /* aligned_alloc 32..4096 */
                size_t align = (size_t)32 << (rnd(&s) % 8);
                size_t sz = (size + align - 1) / align * align;
                void *q = aligned_alloc(align, sz);
                if (!q) { FAIL("aligned_alloc(%zu, %zu) = NULL\n", align, sz); continue; }
                if ((uintptr_t)q % align)
                    FAIL("aligned_alloc(%zu, %zu) = %p: misaligned\n", align, sz, q);
                b->p = q;
                size = sz;
            } else {
                b->p = malloc(size);
                if (!b->p) { FAIL("malloc(%zu) = NULL\n", size); continue; }
                if (size >= 16 && (uintptr_t)b->p % 16)
                    FAIL("malloc(%zu) = %p: not 16-byte aligned\n", size, (void *)b->p);
            }
            b->size = size;
            if (malloc_usable_size(b->p) < size)
                FAIL("malloc_usable_size(%p) = %zu < %zu\n", (void *)b->p,
                     malloc_usable_size(b->p), size);
            fill(b);
        } else if (op < 6) {                     /* realloc: grow or shrink */
            size_t old = b->size, nsize;
            unsigned k = rnd(&s) % 4;
            if (k == 0) nsize = old + 1 + rnd(&s) % 64;            /* a little more */
            else if (k == 1) nsize = old * 2 + 1 + rnd(&s) % 5000; /* much more, maybe past 4096 */
            else if (k == 2) nsize = old ? rnd(&s) % old + 1 : 1;  /* shrink */
            else nsize = pick_size(&s) + 1;
            unsigned char *q = realloc(b->p, nsize);
            if (!q) { FAIL("realloc(%zu -> %zu) = NULL\n", old, nsize); continue; }
            b->p = q;
            b->size = nsize;
            verify(b, old < nsize ? old : nsize, "after realloc");
            fill(b);
        } else if (op < 8) {                     /* a look at the contents */
            verify(b, b->size, "live");
        } else {
            release(b);
        }
    }
    for (int i = 0; i < LIVE; i++)
        release(&live[i]);
    /* malloc(0) and free(NULL) */
    for (int i = 0; i < 100; i++) {
        void *z = malloc(0);
        free(z);
        free(NULL);
    }
}

enum { NTHREADS = 4, HANDED = 64 };
static blk_t handed[NTHREADS][HANDED]; /* made by main, freed by a thread */

static void *thread_main(void *arg)
{
    int t = (int)(intptr_t)arg;
    clean_mix(0x9e3779b97f4a7c15ull * (uint64_t)(t + 2), 60000);
    for (int i = 0; i < HANDED; i++)
        release(&handed[t][i]);
    return NULL;
}

static int run_threads(void)
{
    uint64_t s = 12345;
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < HANDED; i++) {
            blk_t *b = &handed[t][i];
            b->size = pick_size(&s) + 1;
            b->tag = (unsigned char)rnd(&s);
            b->p = malloc(b->size);
            if (!b->p) { FAIL("malloc(%zu) = NULL\n", b->size); return 1; }
            fill(b);
        }
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++)
        if (pthread_create(&th[t], NULL, thread_main, (void *)(intptr_t)t) != 0) {
            FAIL("pthread_create\n");
            return 1;
        }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    return 0;
}

NOINL void child_uaf(void)
{
    char *p = launder(malloc(48));
    free(p);
    volatile char *q = launder(p);
    q[0] = 1;
    not_caught("fork-child");
}

static int fork_child(void)
{
    free(malloc(32)); /* the slots exist before the fork */
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        child_uaf();
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 1;
    if (WIFSIGNALED(st))
        printf("child: signal %d\n", WTERMSIG(st));
    else
        printf("child: exit %d\n", WEXITSTATUS(st));
    return 0;
}

static int fill_to_limit(void)
{
    unsigned long n = 0;
    void **keep = NULL;
    for (;;) {
        void *p = malloc(64);
        if (p == NULL)
            break;
        *(void **)p = keep; /* a list through the blocks: nothing else allocates */
        keep = p;
        n++;
    }
    int err = errno;
    printf("blocks %lu errno %d\n", n, err);
    while (keep) {
        void **next = *keep;
        free(keep);
        keep = next;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "overflow-write-1")) overflow_write_1();
    else if (!strcmp(mode, "overflow-read-8")) overflow_read_8();
    else if (!strcmp(mode, "underflow-write-1")) underflow_write_1();
    else if (!strcmp(mode, "uaf-write")) uaf_write();
    else if (!strcmp(mode, "uaf-read")) uaf_read();
    else if (!strcmp(mode, "double-free")) double_free();
    else if (!strcmp(mode, "invalid-free")) invalid_free();
    else if (!strcmp(mode, "hot-site")) hot_site();
    else if (!strcmp(mode, "fork-child")) return fork_child();
    else if (!strcmp(mode, "limit")) return fill_to_limit();
    else if (!strcmp(mode, "clean") || !strcmp(mode, "threads")) {
        if (!strcmp(mode, "clean")) clean_mix(42, 200000);
        else run_threads();
        unsigned long f = failures;
        if (f) {
            fprintf(stderr, "guard_bugs %s: %lu failures\n", mode, f);
            return 1;
        }
        printf("ok\n");
    } else {
        fprintf(stderr, "usage: guard_bugs overflow-write-1|overflow-read-8|underflow-write-1|"
                        "uaf-write|uaf-read|double-free|invalid-free|hot-site|fork-child|limit|clean|threads\n");
        return 2;
    }
    return 0;
}
