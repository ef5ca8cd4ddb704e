/* bench_common.h - shared helpers for the libmpool benchmark workloads.
 *
 * Everything here is header-only so each workload is a single C file that
 * can be built with plain `cc -O2 -pthread -fno-builtin file.c`.
 *
 * Output convention (parsed by scripts/bench):
 *   checksum <name> <16 hex digits>   must be identical for every allocator
 *   metric <name> <number>            optional extra numbers (e.g. ns/pair)
 *   time <seconds>                    the program's own timing of its kernel
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <getopt.h>
#include <sched.h>

/* ---------- deterministic RNG: xoshiro256** seeded by splitmix64 ---------- */
typedef struct { uint64_t s[4]; } rng_t;

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl64(s[3], 45);
    return result;
}

/* uniform in [lo, hi] (inclusive); bias is irrelevant here */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* "typical" small-object size distribution: mostly 8..512 skewed to the small
 * end, with a ~5% tail up to max_tail (e.g. 8 KiB). */
static inline size_t rng_size_small(rng_t *r, size_t max_tail)
{
    uint64_t v = rng_next(r);
    unsigned pick = (unsigned)(v % 100);
    if (pick < 95 || max_tail <= 512) {
        /* product of two uniforms -> skewed toward small sizes */
        size_t a = (size_t)((v >> 8) % 505), b = (size_t)((v >> 24) % 505);
        return 8 + (a * b) / 504;
    }
    return 513 + (size_t)((v >> 8) % (max_tail - 512));
}

/* ---------- memory touching / verification ----------
 * A block is stamped with a 16-byte header {size, tag} (if it is big enough),
 * one byte per 64-byte cache line and its last byte, all derived from the tag.
 * verify_block() recomputes everything from the header so any thread can check
 * a block without knowing who made it. Returns a value to fold into checksums,
 * or sets *bad on corruption. */
static inline uint8_t tag_byte(uint64_t tag, size_t off)
{
    return (uint8_t)((tag >> ((off >> 6) & 31)) ^ (off >> 6) ^ 0x5a);
}

static inline void stamp_block(void *p, size_t size, uint64_t tag)
{
    unsigned char *b = (unsigned char *)p;
    if (size >= 16) {
        ((uint64_t *)p)[0] = (uint64_t)size;
        ((uint64_t *)p)[1] = tag;
        for (size_t off = 64; off + 1 < size; off += 64) b[off] = tag_byte(tag, off);
        if (size > 16) b[size - 1] = (uint8_t)(tag ^ 0xa5);
    } else {
        for (size_t i = 0; i < size; i++) b[i] = (uint8_t)(tag + i);
    }
}

static inline uint64_t verify_block(const void *p, size_t size, uint64_t tag, unsigned long *bad)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 0;
    if (size >= 16) {
        if (((const uint64_t *)p)[0] != (uint64_t)size || ((const uint64_t *)p)[1] != tag) {
            (*bad)++;
            return 0;
        }
        for (size_t off = 64; off + 1 < size; off += 64) {
            if (b[off] != tag_byte(tag, off)) { (*bad)++; return 0; }
            h += b[off];
        }
        if (size > 16) {
            if (b[size - 1] != (uint8_t)(tag ^ 0xa5)) { (*bad)++; return 0; }
            h += b[size - 1];
        }
    } else {
        for (size_t i = 0; i < size; i++) {
            if (b[i] != (uint8_t)(tag + i)) { (*bad)++; return 0; }
            h += b[i];
        }
    }
    return h + size;
}

/* self-describing variant: reads size and tag from the header (size >= 16) */
static inline uint64_t verify_self(const void *p, unsigned long *bad)
{
    const uint64_t *h = (const uint64_t *)p;
    size_t size = (size_t)h[0];
    if (size < 16 || size > ((size_t)1 << 32)) { (*bad)++; return 0; }
    return verify_block(p, size, h[1], bad);
}

/* ---------- misc ---------- */
static inline double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline long parse_long(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 0);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "invalid value for %s: '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static inline void *xmalloc_checked(size_t n)
{
    void *p = malloc(n);
    if (!p) { fprintf(stderr, "out of memory (%zu bytes)\n", n); abort(); }
    return p;
}

static inline void print_result(const char *name, uint64_t checksum, unsigned long bad, double secs)
{
    printf("checksum %s %016llx\n", name, (unsigned long long)checksum);
    printf("time %.6f\n", secs);
    if (bad) {
        printf("CORRUPTION %s %lu bad blocks\n", name, bad);
        fprintf(stderr, "%s: %lu corrupted blocks detected\n", name, bad);
    }
    fflush(stdout);
}

#endif
