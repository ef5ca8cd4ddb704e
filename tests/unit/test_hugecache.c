/* hugecache.c: freed huge fallback blocks are kept for the next huge
 * request, cut or grown to fit, never stacked on a new block, and given back
 * after the decay or on trim. */
#include "internals.h"
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

static void setup(void)
{
    mp_init();
    mp_huge_release(true); /* what the parent left */
}

static char *alloc_huge(size_t n, bool zero, mp_fallback_info_t *info)
{
    char *p = mp_fallback_alloc(n, 0, zero, MP_NO_SITE, 0, info);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(info->usable, n);
    return p;
}

static void free_huge(void *p)
{
    mp_fallback_info_t info;
    ck_assert(mp_fallback_free(p, &info));
}

/* Allocate a huge block of n bytes, fill it with `fill` and free it into
 * the cache; returns its address. */
static char *cache_a_block(size_t n, int fill, mp_fallback_info_t *info)
{
    char *p = alloc_huge(n, false, info);
    memset(p, fill, info->usable);
    free_huge(p);
    return p;
}

/* Every step-th byte of p[0, n), and the last, read zero. */
static void assert_zero(const char *p, size_t n, size_t step)
{
    for (size_t i = 0; i < n; i += step)
        ck_assert_int_eq(p[i], 0);
    ck_assert_int_eq(p[n - 1], 0);
}

START_TEST(a_freed_huge_block_serves_the_next_request_that_fits)
{
    mp_fallback_info_t info;
    char *p = cache_a_block(8 * MiB, 0xab, &info);
    ck_assert_uint_eq(mp_huge_cached_bytes(), info.usable);
    char *q = alloc_huge(6 * MiB, false, &info);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(info.requested, 6 * MiB);
    ck_assert_uint_eq(mp_huge_cached_bytes(), 0);
    mp_fallback_info_t got;
    ck_assert(mp_fallback_lookup(q, &got)); /* live again, under its new size */
    ck_assert_uint_eq(got.requested, 6 * MiB);
    free_huge(q);
}
END_TEST

/* Without an address-space limit, a request no address space could hold
 * fails alone: the cache goes on keeping freed blocks (a failure under
 * RLIMIT_AS makes the fallback keep none from then on). */
START_TEST(a_request_too_big_for_any_address_space_changes_nothing)
{
    mp_fallback_info_t info;
    ck_assert_ptr_null(mp_fallback_alloc((size_t)1 << 50, 0, false, MP_NO_SITE, 0, &info));
    char *p = alloc_huge(6 * MiB, false, &info);
    free_huge(p);
    ck_assert_uint_eq(mp_huge_cached_bytes(), info.usable); /* kept */
}
END_TEST

START_TEST(a_reused_block_is_zeroed_when_asked)
{
    mp_fallback_info_t info;
    char *p = cache_a_block(8 * MiB, 0xab, &info);
    char *q = alloc_huge(8 * MiB, true, &info);
    ck_assert_ptr_eq(q, p);
    assert_zero(q, 8 * MiB, 4093);
    free_huge(q);
}
END_TEST

START_TEST(a_block_more_than_twice_too_big_is_cut_to_size)
{
    mp_fallback_info_t info;
    char *p = alloc_huge(32 * MiB, false, &info);
    free_huge(p);
    char *q = alloc_huge(5 * MiB, false, &info);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_lt(info.usable, 16 * MiB);
    memset(q, 1, info.usable);
    free_huge(q);
    ck_assert_uint_eq(mp_huge_cached_bytes(), info.usable);
}
END_TEST

START_TEST(a_request_too_big_for_every_cached_block_leaves_none_behind)
{
    mp_fallback_info_t info;
    cache_a_block(8 * MiB, 1, &info);
    /* the cached block grows in place into q, or goes back before q is made:
     * either way it does not stay cached beside q */
    char *q = alloc_huge(24 * MiB, false, &info);
    ck_assert_uint_eq(mp_huge_cached_bytes(), 0);
    memset(q, 2, info.usable);
    for (size_t i = 0; i < info.usable; i += 4096)
        ck_assert_int_eq(q[i], 2);
    free_huge(q);
}
END_TEST

START_TEST(the_cache_keeps_the_four_biggest_blocks)
{
    mp_fallback_info_t info;
    char *p[5];
    size_t usable[5], want = 0;
    for (int i = 0; i < 5; i++) {
        p[i] = alloc_huge((size_t)(4 + i) * MiB, false, &info);
        usable[i] = info.usable;
        if (i > 0)
            want += usable[i];
    }
    for (int i = 0; i < 5; i++)
        free_huge(p[i]);
    ck_assert_uint_eq(mp_huge_cached_bytes(), want);
    /* the smallest went back: a 4 MiB request now takes the 5 MiB block */
    char *q = alloc_huge(4 * MiB, false, &info);
    ck_assert_ptr_eq(q, p[1]);
    free_huge(q);
}
END_TEST

START_TEST(blocks_under_the_huge_size_go_straight_back_to_jemalloc)
{
    mp_fallback_info_t info;
    char *p = alloc_huge(MP_HUGE_MIN / 2, false, &info);
    free_huge(p);
    ck_assert_uint_eq(mp_huge_cached_bytes(), 0);
}
END_TEST

START_TEST(cached_blocks_go_back_after_the_decay_or_on_trim)
{
    mp_opt.decay_ms = 200; /* whatever MPOOL_DECAY_MS the suite runs under */
    mp_fallback_info_t info;
    char *p = alloc_huge(8 * MiB, false, &info);
    free_huge(p);
    ck_assert_uint_eq(mp_huge_release(false), 0); /* just cached */
    ck_assert_uint_eq(mp_huge_cached_bytes(), info.usable);
    usleep((useconds_t)(mp_opt.decay_ms + 50) * 1000);
    ck_assert_uint_eq(mp_huge_release(false), info.usable);
    ck_assert_uint_eq(mp_huge_cached_bytes(), 0);

    p = alloc_huge(8 * MiB, false, &info);
    free_huge(p);
    ck_assert_uint_ge(mp_reclaim_pass(true), info.usable); /* malloc_trim's pass */
    ck_assert_uint_eq(mp_huge_cached_bytes(), 0);
}
END_TEST

START_TEST(an_aligned_request_gets_an_aligned_block)
{
    mp_fallback_info_t info;
    char *p = alloc_huge(8 * MiB, false, &info);
    free_huge(p);
    for (size_t align = 4096; align <= 2 * MiB; align *= 16) {
        char *q = mp_fallback_alloc(6 * MiB, align, false, MP_NO_SITE, 0, &info);
        ck_assert_ptr_nonnull(q);
        ck_assert_uint_eq((uintptr_t)q % align, 0);
        memset(q, 4, 6 * MiB);
        free_huge(q);
    }
}
END_TEST

START_TEST(a_zeroed_request_reads_zero_after_a_shed_and_a_grow)
{
    mp_fallback_info_t info;
    char *p = cache_a_block(8 * MiB, 0xab, &info);
    mp_huge_shed(3 * MiB + 100); /* not on a page boundary */
    char *q = alloc_huge(8 * MiB, true, &info);
    ck_assert_ptr_eq(q, p);
    assert_zero(q, 8 * MiB, 509);
    memset(q, 0xcd, info.usable);
    free_huge(q);
    char *r = alloc_huge(20 * MiB, true, &info); /* grown in place, or new */
    assert_zero(r, 20 * MiB, 509);
    free_huge(r);
}
END_TEST

/* Sheds in the pools' steps (64 KiB spans), several in a row: every byte of
 * a zeroed reuse reads zero, the partial pages at the sheds' ends included. */
START_TEST(a_zeroed_request_reads_zero_after_several_sheds)
{
    static const char zeros[4096];
    mp_fallback_info_t info;
    char *p = cache_a_block(20 * MiB, 0xab, &info);
    for (int i = 0; i < 3; i++)
        mp_huge_shed(64 * 1024 * (size_t)(i + 1));
    mp_huge_shed(100); /* within one page */
    char *q = alloc_huge(20 * MiB, true, &info); /* all of it: the shed part too */
    ck_assert_ptr_eq(q, p);
    for (size_t off = 0; off < 20 * MiB; off += sizeof zeros) {
        size_t len = 20 * MiB - off < sizeof zeros ? 20 * MiB - off : sizeof zeros;
        ck_assert_msg(memcmp(q + off, zeros, len) == 0, "non-zero byte near offset %zu", off);
    }
    free_huge(q);
}
END_TEST

START_TEST(a_smaller_fallback_request_takes_the_smallest_cached_block)
{
    mp_fallback_info_t info;
    char *p = alloc_huge(8 * MiB, false, &info), *r = alloc_huge(12 * MiB, false, &info);
    memset(p, 1, 8 * MiB);
    free_huge(p);
    size_t small = mp_huge_cached_bytes();
    free_huge(r);
    size_t cached = mp_huge_cached_bytes();
    char *q = alloc_huge(MiB, false, &info); /* jemalloc's: the 8 MiB block is its now */
    ck_assert_uint_eq(mp_huge_cached_bytes(), cached - small);
    /* and it reused it (a block starts at a random offset in its first page) */
    ck_assert(q >= p - 4096 && q < p + small);
    free_huge(q);
}
END_TEST

START_TEST(a_double_free_of_a_cached_block_is_refused)
{
    mp_fallback_info_t info;
    char *p = alloc_huge(8 * MiB, false, &info);
    free_huge(p);
    ck_assert(!mp_fallback_free(p, &info));
    ck_assert(!mp_fallback_lookup(p, &info));
    ck_assert_uint_eq(mp_huge_cached_bytes(), info.usable); /* and the cache is intact */
}
END_TEST

static size_t status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0, len = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, len) == 0)
            kib = strtoull(line + len + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

/* The bench's "large" workload: one live block of 5..25 MiB at a time. */
START_TEST(cycling_big_buffers_holds_about_the_biggest_one)
{
    size_t before = status_kib("VmRSS:");
    unsigned long long seed = 7;
    void *live = NULL;
    for (int i = 0; i < 200; i++) {
        if (live)
            free_huge(live);
        size_t n = (5 + unit_rand(&seed) % 21) * MiB;
        mp_fallback_info_t info;
        char *p = alloc_huge(n, false, &info);
        for (size_t off = 0; off < n; off += 4096)
            p[off] = (char)i;
        live = p;
    }
    free_huge(live);
    size_t peak = status_kib("VmHWM:");
    ck_assert_uint_gt(peak, before);
    /* one block of at most 25 MiB, plus slack for jemalloc's own pages */
    ck_assert_uint_le(peak - before, 25 * 1024 + 6 * 1024);
}
END_TEST

START_TEST(shedding_releases_a_cached_blocks_pages_from_its_end)
{
    mp_fallback_info_t info;
    char *p = cache_a_block(8 * MiB, 1, &info);
    size_t before = status_kib("VmRSS:");
    ck_assert_uint_eq(mp_huge_shed(3 * MiB), 3 * MiB);
    ck_assert_uint_eq(mp_huge_cached_bytes(), info.usable - 3 * MiB);
    ck_assert_uint_le(status_kib("VmRSS:"), before - 3 * 1024 + 256);
    char *q = alloc_huge(8 * MiB, false, &info); /* still whole to the program */
    ck_assert_ptr_eq(q, p);
    ck_assert_int_eq(q[0], 1);
    ck_assert_int_eq(q[info.usable - 3 * MiB / 2], 0); /* shed (whole pages): reads zero */
    free_huge(q);
    ck_assert_uint_eq(mp_huge_shed(64 * MiB), info.usable); /* all of it: the block goes */
    ck_assert_uint_eq(mp_huge_cached_bytes(), 0);
}
END_TEST

/* sqlite's case: a big buffer freed, then the pools grow (an UPDATE after a
 * sort).  The pools' new pages replace the cached ones. */
START_TEST(pools_growing_after_a_big_free_do_not_stack_on_it)
{
    mp_fallback_info_t info;
    char *p = alloc_huge(16 * MiB, false, &info);
    memset(p, 1, info.usable);
    size_t before = status_kib("VmRSS:");
    free_huge(p);
    enum { N = 16 * 1024 };
    static void *small[N];
    for (int i = 0; i < N; i++) {
        small[i] = mp_malloc(1000);
        memset(small[i], 2, 1000);
    }
    size_t after = status_kib("VmRSS:");
    ck_assert_uint_le(after, before + 4 * 1024);
    ck_assert_uint_lt(mp_huge_cached_bytes(), info.usable - 8 * MiB);
    for (int i = 0; i < N; i++)
        mp_free(small[i]);
}
END_TEST

/* Free big blocks, then grow on the fallback path only: jemalloc reuses
 * their pages (or they go back), so the two do not add up. */
START_TEST(fallback_growth_does_not_stack_on_cached_blocks)
{
    mp_fallback_info_t info;
    for (int i = 0; i < 4; i++)
        cache_a_block(16 * MiB, 1, &info);
    cache_a_block(128 * MiB, 1, &info); /* evicts a 16 MiB one: too big to split for 1 MiB */
    size_t before = status_kib("VmRSS:");
    enum { N = 96 };
    void *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = alloc_huge(MiB, false, &info);
        memset(b[i], 2, MiB);
    }
    ck_assert_uint_eq(mp_huge_cached_bytes(), 0);
    ck_assert_uint_le(status_kib("VmRSS:"), before + 8 * 1024);
    for (int i = 0; i < N; i++)
        free_huge(b[i]);
}
END_TEST

START_TEST(a_tail_cut_off_a_cached_block_is_purged_when_the_pools_grow)
{
    mp_fallback_info_t info;
    char *p = cache_a_block(32 * MiB, 1, &info);
    char *q = alloc_huge(5 * MiB, false, &info); /* cut: the tail is dirty in jemalloc */
    ck_assert_ptr_eq(q, p);
    size_t before = status_kib("VmRSS:");
    mp_reclaim_pools_grew(32 * MiB);
    ck_assert_uint_le(status_kib("VmRSS:"), before - 20 * 1024);
    free_huge(q);
}
END_TEST

START_TEST(pools_growing_purge_fallback_pages_freed_to_jemalloc)
{
    enum { N = 12 };
    void *b[N];
    mp_fallback_info_t info;
    for (int i = 0; i < N; i++) {
        b[i] = alloc_huge(512 * 1024, false, &info);
        memset(b[i], 3, 512 * 1024);
    }
    for (int i = 0; i < N; i++)
        free_huge(b[i]); /* under the huge size: dirty in jemalloc */
    size_t before = status_kib("VmRSS:");
    mp_reclaim_pools_grew(2 * MiB); /* less than was freed: no purge yet */
    ck_assert_uint_ge(status_kib("VmRSS:") + 512, before);
    mp_reclaim_pools_grew(8 * MiB);
    ck_assert_uint_le(status_kib("VmRSS:"), before - 5 * 1024);
}
END_TEST

static void *cycle_thread(void *arg)
{
    unsigned long long seed = (unsigned long long)(uintptr_t)arg;
    for (int i = 0; i < 40; i++) {
        size_t n = (4 + unit_rand(&seed) % 9) * MiB;
        mp_fallback_info_t info;
        unsigned char *p = mp_fallback_alloc(n, 0, (i & 3) == 0, MP_NO_SITE, 0, &info);
        if (p == NULL)
            return (void *)1;
        if ((i & 3) == 0 && (p[0] != 0 || p[n - 1] != 0 || p[n / 2] != 0))
            return (void *)2;
        uint64_t tag = ((uint64_t)(uintptr_t)arg << 32) | (uint64_t)i; /* thread, iteration */
        for (size_t off = 0; off + 8 <= n; off += 4096)
            memcpy(p + off, &tag, 8);
        sched_yield();
        for (size_t off = 0; off + 8 <= n; off += 4096)
            if (memcmp(p + off, &tag, 8) != 0)
                return (void *)3; /* another thread got the same block */
        if (!mp_fallback_free(p, &info))
            return (void *)4;
    }
    return NULL;
}

START_TEST(threads_share_the_cache_without_sharing_a_block)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, cycle_thread, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
}
END_TEST

START_TEST(a_forked_child_uses_the_cache_it_inherited)
{
    mp_fallback_info_t info;
    char *p = alloc_huge(8 * MiB, false, &info);
    free_huge(p);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *q = mp_fallback_alloc(6 * MiB, 0, false, MP_NO_SITE, 0, &info);
        int ok = q == p && mp_huge_cached_bytes() == 0;
        memset(q, 3, 6 * MiB);
        ok = ok && mp_fallback_free(q, &info);
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(mp_huge_cached_bytes(), info.usable); /* the parent's is its own */
}
END_TEST

static Suite *hugecache_suite(void)
{
    Suite *s = suite_create("hugecache");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, a_freed_huge_block_serves_the_next_request_that_fits);
    tcase_add_test(tc, a_request_too_big_for_any_address_space_changes_nothing);
    tcase_add_test(tc, a_reused_block_is_zeroed_when_asked);
    tcase_add_test(tc, a_block_more_than_twice_too_big_is_cut_to_size);
    tcase_add_test(tc, a_request_too_big_for_every_cached_block_leaves_none_behind);
    tcase_add_test(tc, the_cache_keeps_the_four_biggest_blocks);
    tcase_add_test(tc, blocks_under_the_huge_size_go_straight_back_to_jemalloc);
    tcase_add_test(tc, cached_blocks_go_back_after_the_decay_or_on_trim);
    tcase_add_test(tc, an_aligned_request_gets_an_aligned_block);
    tcase_add_test(tc, a_zeroed_request_reads_zero_after_a_shed_and_a_grow);
    tcase_add_test(tc, a_zeroed_request_reads_zero_after_several_sheds);
    tcase_add_test(tc, a_smaller_fallback_request_takes_the_smallest_cached_block);
    tcase_add_test(tc, a_double_free_of_a_cached_block_is_refused);
    tcase_add_test(tc, threads_share_the_cache_without_sharing_a_block);
#if UNIT_RSS_MEASURABLE
    tcase_add_test(tc, cycling_big_buffers_holds_about_the_biggest_one);
    tcase_add_test(tc, shedding_releases_a_cached_blocks_pages_from_its_end);
    tcase_add_test(tc, pools_growing_after_a_big_free_do_not_stack_on_it);
    tcase_add_test(tc, pools_growing_purge_fallback_pages_freed_to_jemalloc);
    tcase_add_test(tc, a_tail_cut_off_a_cached_block_is_purged_when_the_pools_grow);
    tcase_add_test(tc, fallback_growth_does_not_stack_on_cached_blocks);
#endif
    tcase_add_test(tc, a_forked_child_uses_the_cache_it_inherited);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(hugecache_suite)
