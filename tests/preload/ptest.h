/* ptest.h - tiny shared harness for the libmpool LD_PRELOAD test programs.
 *
 * Every program:
 *   int main(int argc, char **argv) {
 *       ptest_require_mpool("contract");
 *       ...
 *       CHECK(p != NULL, "malloc(%zu) returned NULL", n);
 *       ...
 *       return ptest_finish();
 *   }
 *
 * CHECK(cond, fmt, ...) counts a pass, or counts a failure and prints
 *   FAIL file.c:LINE: <message>
 * to stderr.  It evaluates to the truth value of cond, so it can be used in
 * an if ().  The counters are updated atomically (CHECK may be used from
 * several threads).
 *
 * ptest_require_mpool() exits with status 2 unless mpool_malloc is visible
 * through dlsym(RTLD_DEFAULT) - i.e. unless libmpool.so is LD_PRELOADed -
 * or MPOOL_TEST_ANY_ALLOCATOR=1 is set in the environment (used to validate
 * the tests against glibc, jemalloc, mimalloc, ...).
 */
#ifndef PTEST_H
#define PTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

static unsigned long ptest_passed_n, ptest_failed_n, ptest_skipped_n;
static const char *ptest_prog = "ptest";
static int ptest_any_flag;

static inline const char *ptest_base(const char *f)
{
    const char *s = strrchr(f, '/');
    return s ? s + 1 : f;
}

__attribute__((format(printf, 4, 5), unused))
static int ptest_check(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        __atomic_fetch_add(&ptest_passed_n, 1, __ATOMIC_RELAXED);
        return 1;
    }
    __atomic_fetch_add(&ptest_failed_n, 1, __ATOMIC_RELAXED);
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s:%d: %s\n", ptest_base(file), line, buf);
    fflush(stderr);
    return 0;
}

__attribute__((format(printf, 3, 4), unused))
static void ptest_skip_(const char *file, int line, const char *fmt, ...)
{
    __atomic_fetch_add(&ptest_skipped_n, 1, __ATOMIC_RELAXED);
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "SKIP %s:%d: %s\n", ptest_base(file), line, buf);
    fflush(stderr);
}

#define CHECK(cond, ...) ptest_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...) ptest_skip_(__FILE__, __LINE__, __VA_ARGS__)

/* 1 when MPOOL_TEST_ANY_ALLOCATOR=1: the tests run against whatever malloc
 * is in the process, and mpool-only requirements are relaxed/skipped. */
static inline int ptest_any(void) { return ptest_any_flag; }

static void ptest_require_mpool(const char *prog)
{
    ptest_prog = prog;
    const char *e = getenv("MPOOL_TEST_ANY_ALLOCATOR");
    ptest_any_flag = (e && strcmp(e, "1") == 0);
    if (dlsym(RTLD_DEFAULT, "mpool_malloc") != NULL)
        return;
    if (ptest_any_flag) {
        fprintf(stderr, "%s: mpool_malloc not found; MPOOL_TEST_ANY_ALLOCATOR=1, "
                        "testing the allocator in the process\n", prog);
        return;
    }
    fprintf(stderr, "%s: not running under libmpool: set LD_PRELOAD "
                    "(or MPOOL_TEST_ANY_ALLOCATOR=1 to test another allocator)\n", prog);
    exit(2);
}

static int ptest_finish(void)
{
    unsigned long p = __atomic_load_n(&ptest_passed_n, __ATOMIC_RELAXED);
    unsigned long f = __atomic_load_n(&ptest_failed_n, __ATOMIC_RELAXED);
    unsigned long s = __atomic_load_n(&ptest_skipped_n, __ATOMIC_RELAXED);
    fflush(stderr);
    if (s)
        printf("%s: %lu passed, %lu failed, %lu skipped\n", ptest_prog, p, f, s);
    else
        printf("%s: %lu passed, %lu failed\n", ptest_prog, p, f);
    fflush(stdout);
    return f ? 1 : 0;
}

static inline unsigned long ptest_failures(void)
{
    return __atomic_load_n(&ptest_failed_n, __ATOMIC_RELAXED);
}

/* Optional scale argument: argv[1] (a positive number, default 1.0). */
static inline double ptest_scale(int argc, char **argv)
{
    if (argc > 1) {
        double s = strtod(argv[1], NULL);
        if (s > 0)
            return s;
    }
    return 1.0;
}

/* ---- deterministic RNG (splitmix64) ---- */
typedef struct { uint64_t s; } ptest_rng;

static inline uint64_t ptest_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t ptest_next(ptest_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return ptest_mix64(r->s);
}

/* uniform-ish in [0, n) */
static inline uint64_t ptest_below(ptest_rng *r, uint64_t n)
{
    return n ? ptest_next(r) % n : 0;
}

/* ---- content patterns ---- */
/* Fill [p, p+n) with a pattern that depends on key and on the position. */
static inline void ptest_fill(void *p, size_t n, uint64_t key)
{
    unsigned char *c = (unsigned char *)p;
    size_t words = n / 8, i;
    for (i = 0; i < words; i++) {
        uint64_t w = ptest_mix64(key + i);
        memcpy(c + 8 * i, &w, 8);
    }
    if (n % 8) {
        uint64_t w = ptest_mix64(key + words);
        memcpy(c + 8 * words, &w, n % 8);
    }
}

/* Returns (size_t)-1 when [p, p+n) holds ptest_fill(p, n, key), otherwise the
 * offset of the first mismatching 8-byte word. */
static inline size_t ptest_verify(const void *p, size_t n, uint64_t key)
{
    const unsigned char *c = (const unsigned char *)p;
    size_t words = n / 8, i;
    for (i = 0; i < words; i++) {
        uint64_t w = ptest_mix64(key + i), g;
        memcpy(&g, c + 8 * i, 8);
        if (g != w)
            return 8 * i;
    }
    if (n % 8) {
        uint64_t w = ptest_mix64(key + words);
        if (memcmp(c + 8 * words, &w, n % 8) != 0)
            return 8 * words;
    }
    return (size_t)-1;
}

static inline double ptest_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Resident set size in bytes, from /proc/self/statm (0 on error). */
static inline size_t ptest_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

#ifdef __cplusplus
}
#endif

#endif /* PTEST_H */
