#include "internals.h"
#include "unit.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

/* Blocks for the tests live in the region, like real ones. */
static mp_block_t *blocks(unsigned n)
{
    mp_init();
    char *span = mp_region_alloc_span(2); /* class 2: 32-byte blocks */
    ck_assert_ptr_nonnull(span);
    ck_assert_uint_ge(mp_classes[2].span_blocks, n);
    return (mp_block_t *)span;
}

static mp_block_t *make_batch(mp_block_t *base, unsigned first, unsigned count)
{
    mp_block_t *b = (mp_block_t *)((char *)base + (size_t)first * 32);
    for (unsigned i = 0; i < count; i++) {
        mp_block_t *cur = (mp_block_t *)((char *)b + (size_t)i * 32);
        cur->next = i + 1 < count ? (mp_block_t *)((char *)cur + 32) : NULL;
    }
    return b;
}

START_TEST(pop_of_empty_stack_is_null)
{
    mp_gstack_t st;
    mp_gstack_init(&st, false);
    unsigned n = 99;
    ck_assert_ptr_null(mp_gstack_pop(&st, &n));
}
END_TEST

START_TEST(batches_come_back_last_in_first_out_with_their_counts)
{
    mp_block_t *base = blocks(64);
    mp_gstack_t st;
    mp_gstack_init(&st, false);
    mp_block_t *a = make_batch(base, 0, 5), *b = make_batch(base, 5, 17), *c = make_batch(base, 22, 1);
    mp_gstack_push(&st, a, 5);
    mp_gstack_push(&st, b, 17);
    mp_gstack_push(&st, c, 1);
    unsigned n;
    ck_assert_ptr_eq(mp_gstack_pop(&st, &n), c);
    ck_assert_uint_eq(n, 1);
    mp_block_t *got = mp_gstack_pop(&st, &n);
    ck_assert_ptr_eq(got, b);
    ck_assert_uint_eq(n, 17);
    unsigned len = 0;
    for (mp_block_t *x = got; x; x = x->next)
        len++;
    ck_assert_uint_eq(len, 17); /* the list inside the batch is intact */
    ck_assert_ptr_eq(mp_gstack_pop(&st, &n), a);
    ck_assert_uint_eq(n, 5);
    ck_assert_ptr_null(mp_gstack_pop(&st, &n));
}
END_TEST

/* Contention: more threads than cores pop batches, claim every block (an
 * atomic flag that must go 0 -> 1: a block held by two threads at once
 * fails), release, push back.  Few batches, so the same ones return to the
 * top over and over: the pattern (pop A, pop B, push A) that defeats a stack
 * without its tag.  At the end every block is in the stack exactly once. */
enum { NBATCH = 20, PER_BATCH = 4, NTHREADS = 8, ROUNDS = 400000, HOLD = 2 };
static mp_gstack_t shared;
static _Atomic unsigned char claimed[NBATCH * PER_BATCH];
static mp_block_t *shared_base;
static _Atomic int violations;

static unsigned index_of(mp_block_t *b)
{
    return (unsigned)(((char *)b - (char *)shared_base) / 32);
}

static void *contender(void *arg)
{
    unsigned long long seed = (unsigned long long)(uintptr_t)arg;
    mp_block_t *held[HOLD];
    unsigned held_n[HOLD], nheld = 0;
    for (int r = 0; r < ROUNDS; r++) {
        if (nheld < HOLD && (unit_rand(&seed) & 1)) {
            unsigned n;
            mp_block_t *b = mp_gstack_pop(&shared, &n);
            if (!b)
                continue;
            for (mp_block_t *x = b; x; x = x->next)
                if (atomic_exchange(&claimed[index_of(x)], 1) != 0)
                    atomic_fetch_add(&violations, 1);
            held[nheld] = b;
            held_n[nheld++] = n;
        } else if (nheld) {
            nheld--;
            for (mp_block_t *x = held[nheld]; x; x = x->next)
                atomic_store(&claimed[index_of(x)], 0);
            mp_gstack_push(&shared, held[nheld], held_n[nheld]);
        }
    }
    while (nheld) {
        nheld--;
        for (mp_block_t *x = held[nheld]; x; x = x->next)
            atomic_store(&claimed[index_of(x)], 0);
        mp_gstack_push(&shared, held[nheld], held_n[nheld]);
    }
    return NULL;
}

/* Yield inside pop's window now and then, as a preempted thread would. */
static void yield_in_window(void)
{
    static _Atomic unsigned n;
    if (atomic_fetch_add_explicit(&n, 1, memory_order_relaxed) % 8 == 0)
        sched_yield();
}

START_TEST(no_block_is_ever_held_by_two_threads)
{
    mp_gstack_pop_window_hook = yield_in_window;
    shared_base = blocks(NBATCH * PER_BATCH);
    mp_gstack_reset(&shared);
    for (unsigned i = 0; i < NBATCH; i++)
        mp_gstack_push(&shared, make_batch(shared_base, i * PER_BATCH, PER_BATCH), PER_BATCH);
    pthread_t t[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, contender, (void *)(i + 1));
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(violations, 0);
    unsigned n, batches = 0, total = 0;
    static unsigned char seen[NBATCH * PER_BATCH];
    memset(seen, 0, sizeof seen);
    for (mp_block_t *b; (b = mp_gstack_pop(&shared, &n)) != NULL; batches++) {
        ck_assert_uint_eq(n, PER_BATCH);
        for (mp_block_t *x = b; x; x = x->next) {
            ck_assert_uint_eq(seen[index_of(x)], 0);
            seen[index_of(x)] = 1;
            total++;
        }
    }
    ck_assert_uint_eq(batches, NBATCH);
    ck_assert_uint_eq(total, NBATCH * PER_BATCH);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gstack");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, pop_of_empty_stack_is_null);
    tcase_add_test(tc, batches_come_back_last_in_first_out_with_their_counts);
    suite_add_tcase(s, tc);
    TCase *tcc = tcase_create("contention");
    tcase_set_timeout(tcc, 120);
    tcase_add_test(tcc, no_block_is_ever_held_by_two_threads);
    suite_add_tcase(s, tcc);
    return s;
}

UNIT_MAIN(suite)
