#include "internals.h"
#include "unit.h"

#include <pthread.h>
#include <string.h>

START_TEST(first_use_replaces_the_empty_cache)
{
    void *p = mp_malloc(24);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_ne(mp_tls_cache, &mp_tcache_empty);
    ck_assert_int_eq(mp_tls_cache->in_use, 1);
    ck_assert_uint_eq(mp_tcache_empty.bins[mp_size_class(24)].flush_at, 0);
    mp_free(p);
}
END_TEST

START_TEST(a_freed_block_is_reused_first)
{
    void *p = mp_malloc(100);
    mp_free(p);
    ck_assert_ptr_eq(mp_malloc(100), p); /* LIFO: warm memory comes back */
    mp_free(p);
}
END_TEST

START_TEST(bins_never_exceed_their_limit_and_overflow_reaches_the_global_stack)
{
    unsigned c = mp_size_class(64);
    unsigned limit = mp_classes[c].cache_limit, n = limit * 5;
    void **v = calloc(n, sizeof *v); /* the test's own memory: glibc's */
    for (unsigned i = 0; i < n; i++)
        v[i] = mp_malloc(64);
    mp_bin_t *bin = &mp_tls_cache->bins[c];
    for (unsigned i = 0; i < n; i++) {
        mp_free(v[i]);
        ck_assert_uint_le(bin->count, limit);
    }
    /* what did not fit in the bin is in the global stack, in whole batches */
    unsigned got, total = bin->count;
    mp_block_t *b;
    mp_block_t *batches[64];
    unsigned counts[64], nb = 0;
    while ((b = mp_gstack_pop(&mp_class_stacks[c], &got)) != NULL && nb < 64) {
        unsigned len = 0;
        for (mp_block_t *x = b; x; x = x->next)
            len++;
        ck_assert_uint_eq(len, got);
        total += got;
        batches[nb] = b;
        counts[nb++] = got;
    }
    ck_assert_uint_eq(total, n);
    while (nb--)
        mp_gstack_push(&mp_class_stacks[c], batches[nb], counts[nb]);
    free(v);
}
END_TEST

START_TEST(counters_follow_every_call)
{
    unsigned c = mp_size_class(300);
    mp_tcache_t *tc;
    mp_free(mp_malloc(300)); /* make the cache */
    tc = mp_tls_cache;
    uint64_t a0 = mp_sample_allocs(tc, c), f0 = tc->bins[c].frees;
    void *p[10];
    for (int i = 0; i < 10; i++)
        p[i] = mp_malloc(300);
    for (int i = 0; i < 7; i++)
        mp_free(p[i]);
    ck_assert_uint_eq(mp_sample_allocs(tc, c) - a0, 10);
    ck_assert_uint_eq(tc->bins[c].frees - f0, 7);
    for (int i = 7; i < 10; i++)
        mp_free(p[i]);
}
END_TEST

static void *exiting_thread(void *arg)
{
    void **out = arg;
    for (int i = 0; i < 50; i++)
        out[i] = mp_malloc(48);
    for (int i = 0; i < 50; i++)
        mp_free(out[i]); /* now all cached in this thread's bin */
    return mp_tls_cache;
}

START_TEST(thread_exit_hands_blocks_and_cache_back)
{
    void *blocks[50];
    pthread_t t;
    void *cache;
    pthread_create(&t, NULL, exiting_thread, blocks);
    pthread_join(t, &cache);
    ck_assert_int_eq(((mp_tcache_t *)cache)->in_use, 0);
    ck_assert_uint_eq(((mp_tcache_t *)cache)->bins[mp_size_class(48)].count, 0);
    /* the main thread now gets those very blocks from the global stack */
    unsigned c = mp_size_class(48), n;
    int found = 0;
    mp_block_t *b;
    while ((b = mp_gstack_pop(&mp_class_stacks[c], &n)) != NULL)
        for (mp_block_t *x = b; x; x = x->next)
            for (int i = 0; i < 50; i++)
                found += x == blocks[i];
    ck_assert_int_eq(found, 50);
    /* and the next thread reuses the parked cache */
    pthread_create(&t, NULL, exiting_thread, blocks);
    void *cache2;
    pthread_join(t, &cache2);
    ck_assert_ptr_eq(cache2, cache);
}
END_TEST

static void *cross_free_worker(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_eq(((unsigned char *)v[i])[0], (unsigned char)i);
        mp_free(v[i]); /* a remote free: adopted by this thread's cache */
    }
    return NULL;
}

START_TEST(remote_frees_are_adopted_by_the_freeing_thread)
{
    void *v[1000];
    for (int i = 0; i < 1000; i++) {
        v[i] = mp_malloc(200);
        memset(v[i], i, 200);
    }
    pthread_t t;
    pthread_create(&t, NULL, cross_free_worker, v);
    pthread_join(t, NULL);
    mp_totals_t tot;
    mp_counters_collect(&tot);
    ck_assert_uint_ge(tot.class_frees[mp_size_class(200)], 1000);
}
END_TEST

/* A consumer: frees blocks of a class it never allocates.  Its first flush
 * comes at the full limit; from then on it holds at most a batch. */
typedef struct {
    void **v;
    unsigned n, cls, max_count, count_after, limit_after, limit_after_alloc;
} consumer_t;

static void *consume(void *arg)
{
    consumer_t *c = arg;
    mp_bin_t *bin = NULL;
    for (unsigned i = 0; i < c->n; i++) {
        mp_free(c->v[i]);
        bin = &mp_tls_cache->bins[c->cls];
        if (i >= mp_classes[c->cls].cache_limit && bin->count > c->max_count) /* first flush on */
            c->max_count = bin->count;
    }
    c->count_after = bin->count;
    c->limit_after = bin->flush_at;
    /* allocating again: past the bin's blocks, a refill gives it full size */
    for (unsigned i = 0; i <= c->count_after; i++)
        c->v[i] = mp_malloc(mp_classes[c->cls].size);
    c->limit_after_alloc = bin->flush_at;
    for (unsigned i = 0; i <= c->count_after; i++)
        mp_free(c->v[i]);
    return NULL;
}

START_TEST(a_thread_that_only_frees_a_class_holds_at_most_a_batch)
{
    unsigned cls = mp_size_class(2048);
    const mp_class_info_t *ci = &mp_classes[cls];
    consumer_t c = { .n = ci->cache_limit * 4, .cls = cls };
    c.v = calloc(c.n, sizeof *c.v);
    for (unsigned i = 0; i < c.n; i++)
        c.v[i] = mp_malloc(2048);
    pthread_t t;
    pthread_create(&t, NULL, consume, &c);
    pthread_join(t, NULL);
    ck_assert_uint_le(c.max_count, ci->batch);
    ck_assert_uint_eq(c.limit_after, ci->batch);
    ck_assert_uint_eq(c.limit_after_alloc, ci->cache_limit);
    free(c.v);
}
END_TEST

START_TEST(a_medium_request_cuts_a_larger_free_block)
{
    /* a free 4-page block on its class's stack, none of 2 pages anywhere */
    unsigned c4 = mp_size_class(4 * MP_PAGE_SIZE), c2 = mp_size_class(2 * MP_PAGE_SIZE);
    ck_assert(mp_class_is_medium(c2) && mp_class_is_medium(c4));
    ck_assert_uint_eq(mp_classes[c4].span_pages, 4);
    mp_free(mp_malloc(1)); /* this thread's cache exists */
    unsigned n;
    while (mp_gstack_pop(&mp_class_stacks[c2], &n)) /* earlier tests' 2-page blocks: not ours */
        ;
    mp_tls_cache->bins[c2].head = NULL;
    mp_tls_cache->bins[c2].count = 0;
    char *big = mp_malloc(4 * MP_PAGE_SIZE - 100);
    memset(big, 0xab, 4 * MP_PAGE_SIZE - 100);
    size_t released = mp_region_released_bytes();
    mp_free(big);
    mp_tcache_flush(mp_tls_cache, c4); /* onto the stack, where any thread finds it */

    char *small = mp_calloc(1, 2 * MP_PAGE_SIZE - 100);
    ck_assert_ptr_eq(small, big); /* the same pages, cut to size */
    for (size_t i = 0; i < 2 * MP_PAGE_SIZE - 100; i++)
        ck_assert_uint_eq((unsigned char)small[i], 0); /* not fresh: calloc zeroed it */
    ck_assert_uint_eq(mp_usable_size(small), 2 * MP_PAGE_SIZE);
    ck_assert_uint_eq(mp_region_released_bytes() - released, 2 * MP_PAGE_SIZE); /* the tail */
    unsigned cls;
    ck_assert_int_eq(mp_region_classify(big + 2 * MP_PAGE_SIZE, &cls), MP_PTR_UNMAPPED);
    ck_assert_int_eq(mp_region_classify(small, &cls), MP_PTR_POOL);
    ck_assert_uint_eq(cls, c2);
    mp_free(small);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tcache");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, first_use_replaces_the_empty_cache);
    tcase_add_test(tc, a_freed_block_is_reused_first);
    tcase_add_test(tc, a_medium_request_cuts_a_larger_free_block);
    tcase_add_test(tc, bins_never_exceed_their_limit_and_overflow_reaches_the_global_stack);
    tcase_add_test(tc, counters_follow_every_call);
    tcase_add_test(tc, thread_exit_hands_blocks_and_cache_back);
    tcase_add_test(tc, remote_frees_are_adopted_by_the_freeing_thread);
    tcase_add_test(tc, a_thread_that_only_frees_a_class_holds_at_most_a_batch);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
