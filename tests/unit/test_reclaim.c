/* reclaim.c: wholly free spans go back to the OS and their addresses are
 * reused; spans with a live block stay; a decay pass waits for a second look. */
#include "internals.h"
#include "unit.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#define SIZE 256

/* Fill `spans` whole spans of class SIZE and return their blocks (glibc memory). */
static void **fill_spans(unsigned spans, unsigned *count)
{
    const mp_class_info_t *ci = &mp_classes[mp_size_class(SIZE)];
    unsigned n = ci->span_blocks * spans;
    void **v = calloc(n, sizeof *v);
    for (unsigned i = 0; i < n; i++) {
        v[i] = mp_malloc(SIZE);
        memset(v[i], (int)(i & 0xff), SIZE);
    }
    *count = n;
    return v;
}

static void free_all_but(void **v, unsigned n, unsigned keep_every)
{
    for (unsigned i = 0; i < n; i++)
        if (keep_every == 0 || i % keep_every != 0)
            mp_free(v[i]);
    mp_tcache_give_back(mp_tls_cache); /* what the bins hold is free too */
}

START_TEST(trim_releases_wholly_free_spans_and_reuses_their_addresses)
{
    mp_init();
    unsigned n;
    void **v = fill_spans(8, &n);
    size_t mapped = mp_region_mapped_bytes();
    free_all_but(v, n, 0);
    size_t released = mp_reclaim_pass(true);
    /* the span being carved (the bump's) is not wholly on the stack: >= 7 go */
    ck_assert_uint_ge(released, 7 * mp_classes[mp_size_class(SIZE)].span_pages * MP_PAGE_SIZE);
    ck_assert_uint_eq(mp_region_mapped_bytes(), mapped - released);
    unsigned cls;
    ck_assert_int_eq(mp_region_classify(v[0], &cls), MP_PTR_UNMAPPED);
    /* the same amount again fits in the released addresses */
    for (unsigned i = 0; i < n; i++) {
        void *p = mp_malloc(SIZE);
        ck_assert_uint_lt((uintptr_t)p - mp_region.base, mapped);
        ck_assert_int_eq(((unsigned char *)p)[SIZE - 1], 0); /* fresh memory reads zero */
    }
    ck_assert_uint_le(mp_region_mapped_bytes(), mapped);
    free(v);
}
END_TEST

START_TEST(a_span_with_a_live_block_stays_and_keeps_its_contents)
{
    mp_init();
    unsigned n, per = mp_classes[mp_size_class(SIZE)].span_blocks;
    void **v = fill_spans(4, &n);
    free_all_but(v, n, per); /* one live block per span */
    ck_assert_uint_eq(mp_reclaim_pass(true), 0);
    for (unsigned i = 0; i < n; i += per) {
        unsigned char *p = v[i];
        for (unsigned j = 0; j < SIZE; j++)
            ck_assert_uint_eq(p[j], i & 0xff);
        mp_free(p);
    }
    free(v);
}
END_TEST

START_TEST(a_decay_pass_releases_at_its_second_look)
{
    mp_init();
    mp_opt.decay_ms = 0; /* only the passes this test makes */
    unsigned n;
    void **v = fill_spans(4, &n);
    free_all_but(v, n, 0);
    ck_assert_uint_eq(mp_reclaim_pass(false), 0); /* first seen wholly free */
    ck_assert_uint_gt(mp_reclaim_pass(false), 0); /* still: released */
    ck_assert_uint_eq(mp_reclaim_pass(false), 0); /* nothing left to give */
    free(v);
}
END_TEST

START_TEST(a_span_used_between_two_passes_is_not_released)
{
    mp_init();
    mp_opt.decay_ms = 0;
    unsigned n;
    void **v = fill_spans(4, &n);
    free_all_but(v, n, 0);
    ck_assert_uint_eq(mp_reclaim_pass(false), 0);
    for (unsigned i = 0; i < n; i++) /* the program takes it all back */
        v[i] = mp_malloc(SIZE);
    ck_assert_uint_eq(mp_reclaim_pass(false), 0);
    free_all_but(v, n, 0);
    ck_assert_uint_eq(mp_reclaim_pass(false), 0); /* a first look again */
    free(v);
}
END_TEST

START_TEST(free_of_a_block_in_a_released_span_aborts)
{
    mp_init();
    unsigned n;
    void **v = fill_spans(4, &n);
    free_all_but(v, n, 0);
    ck_assert_uint_gt(mp_reclaim_pass(true), 0);
    mp_free(v[0]); /* a double free, into memory given back */
}
END_TEST

/* Threads churn and check their blocks while another thread releases what it
 * can as often as it can. */
static _Atomic int stop;

static void *churn(void *arg)
{
    unsigned long long seed = (uintptr_t)arg;
    enum { SLOTS = 4096 };
    unsigned char **slot = calloc(SLOTS, sizeof *slot);
    size_t *len = calloc(SLOTS, sizeof *len);
    for (int round = 0; round < 300000; round++) {
        unsigned i = (unsigned)(unit_rand(&seed) % SLOTS);
        if (slot[i]) {
            for (size_t j = 0; j < len[i]; j++) /* not ck_assert: it locks per call */
                if (slot[i][j] != (unsigned char)(i + len[i]))
                    ck_abort_msg("block %p byte %zu changed", (void *)slot[i], j);
            mp_free(slot[i]);
            slot[i] = NULL;
        } else {
            len[i] = 16 + unit_rand(&seed) % 2000;
            slot[i] = mp_malloc(len[i]);
            memset(slot[i], (unsigned char)(i + len[i]), len[i]);
        }
        if (round % 50000 == 0) /* empty the table now and then: whole spans free up */
            for (unsigned k = 0; k < SLOTS; k++) {
                mp_free(slot[k]);
                slot[k] = NULL;
            }
    }
    for (unsigned k = 0; k < SLOTS; k++)
        mp_free(slot[k]);
    free(slot);
    free(len);
    return NULL;
}

static void *trimmer(void *arg)
{
    size_t *released = arg;
    while (!atomic_load(&stop))
        *released += mp_reclaim_pass(true);
    /* A starved trimmer (a loaded machine) may have found no span wholly on
     * the stacks while the churners ran; their caches, given back at exit,
     * free whole spans for sure.  (Seen once, with a CI run beside it.) */
    *released += mp_reclaim_pass(true);
    return NULL;
}

START_TEST(passes_race_churning_threads_safely)
{
    mp_init();
    pthread_t t[3], tr;
    size_t released = 0;
    pthread_create(&tr, NULL, trimmer, &released);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(tr, NULL);
    ck_assert_uint_gt(released, 0);
}
END_TEST

/* Safe-linking (as MPOOL_SAFELINK=1 sets it, before any block is freed): a
 * pass rebatches the blocks it keeps, each with a new link and mark, and
 * every later pop checks them, 16-byte blocks too (a batch's head has the
 * stack's link where its mark was). */
START_TEST(safe_links_survive_a_pass)
{
    mp_link_mask = ~(uintptr_t)0;
    mp_init();
    static const size_t sizes[] = { 16, 48, SIZE };
    for (unsigned s = 0; s < 3; s++) {
        const mp_class_info_t *ci = &mp_classes[mp_size_class(sizes[s])];
        unsigned n = ci->span_blocks * 3;
        void **v = calloc(n, sizeof *v);
        for (unsigned i = 0; i < n; i++)
            v[i] = mp_malloc(sizes[s]);
        for (unsigned i = 0; i < n; i++)
            if (i % 7) /* every span keeps live blocks: the pass keeps the rest */
                mp_free(v[i]);
        mp_tcache_give_back(mp_tls_cache);
        mp_reclaim_pass(true);
        for (unsigned i = 0; i < n; i++)
            if (i % 7)
                v[i] = mp_malloc(sizes[s]);
        for (unsigned i = 0; i < n; i++)
            mp_free(v[i]);
        free(v);
    }
}
END_TEST

/* ... and a link a write after free changed stops the pass that would
 * follow it. */
START_TEST(a_corrupted_link_stops_a_pass)
{
    mp_link_mask = ~(uintptr_t)0;
    mp_init();
    void *v[64];
    for (int i = 0; i < 64; i++)
        v[i] = mp_malloc(48);
    for (int i = 0; i < 64; i++)
        mp_free(v[i]);
    mp_tcache_give_back(mp_tls_cache); /* every one on the global stack */
    *(uintptr_t *)v[10] ^= 0x40;
    mp_reclaim_pass(true);
}
END_TEST

static Suite *reclaim_suite(void)
{
    Suite *s = suite_create("reclaim");
    TCase *tc = tcase_create("reclaim");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, trim_releases_wholly_free_spans_and_reuses_their_addresses);
    tcase_add_test(tc, a_span_with_a_live_block_stays_and_keeps_its_contents);
    tcase_add_test(tc, a_decay_pass_releases_at_its_second_look);
    tcase_add_test(tc, a_span_used_between_two_passes_is_not_released);
    tcase_add_test_raise_signal(tc, free_of_a_block_in_a_released_span_aborts, SIGABRT);
    tcase_add_test(tc, passes_race_churning_threads_safely);
    tcase_add_test(tc, safe_links_survive_a_pass);
    tcase_add_test_raise_signal(tc, a_corrupted_link_stops_a_pass, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(reclaim_suite)
