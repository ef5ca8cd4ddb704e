/* Golden files: a fixed snapshot rendered as JSON and text must match
 * tests/unit/golden/ byte for byte.  MPOOL_UPDATE_GOLDEN=1 rewrites them
 * (then review the diff). */
#include "internals.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

/* An add-on section, as api/pools.c registers one: one pool. */
static void one_pool_section(mp_emitter_t *e)
{
    mp_pool_row_t row = { 64, 128, 96, 5000, 4990, 12, 3 };
    mp_pools_emit(e, &row, 1);
}

static void fixed_snapshot(mp_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    s->reason = "signal";
    s->pid = 4242;
    s->elapsed_ns = 1500000000;
    s->rss_bytes = 7340032;
    s->t.mapped_bytes = 4194304;
    s->t.released_bytes = 1048576;
    s->t.fallback_cached_bytes = 8388608;
    s->nclasses = 4;
    s->class_size[1] = 16;
    s->class_size[2] = 32;
    s->class_size[3] = 48;
    s->t.class_allocs[1] = 1000;
    s->t.class_frees[1] = 990;
    s->t.class_fresh[1] = 100;
    s->t.class_allocs[3] = 7; /* class 2 unused: left out */
    s->t.class_frees[3] = 2;
    s->t.class_fresh[3] = 7;
    s->t.fallback_allocs = 3;
    s->t.fallback_frees = 1;
    s->t.fallback_active_blocks = 2;
    s->t.fallback_bytes = 2 << 20;
    s->t.allocs = 1010;
    s->t.frees = 993;
    s->t.reuses = 900;
    s->t.active_blocks = 17;
    s->t.active_bytes = 160 + 240 + (2 << 20);
    s->t.peak_active_bytes = 3 << 20;
    s->t.alloc_ns = 123456;
    s->t.reuse_ns = 7890;
    s->t.threads_started = 5;
    s->t.threads_exited = 3;
    s->t.threads_live = 2;
    uint32_t recent[] = { 16, 24, 100000, 0, 48 };
    s->nrecent = 5;
    memcpy(s->recent, recent, sizeof recent);
    s->nsections = 1;
    s->sections[0] = one_pool_section;
    s->nleaks = 2;
    s->leaks[0] = (mp_leak_t){ 4096.4, 2.0, 2, { "make_thing+0x1c (/usr/bin/app+0x11c0)", "main+0x9 (/usr/bin/app+0x1050)" } };
    s->leaks[1] = (mp_leak_t){ 64, 1, 1, { "0x7f0000001000 (/lib/x86_64-linux-gnu/libfoo.so.1+0x1000) \"q\"" } };
}

static void check_golden(int mode, const char *name)
{
    static mp_snapshot_t s;
    static char out[16384];
    fixed_snapshot(&s);
    mp_emitter_t e;
    mp_emit_init_buf(&e, mode, out, sizeof out);
    mp_snapshot_emit(&s, &e);
    mp_emit_finish(&e);
    ck_assert_uint_eq(e.total, strlen(out));

    char path[512];
    snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, name);
    if (getenv("MPOOL_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(out, f);
        fclose(f);
    }
    static char want[16384];
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "missing golden file %s", path);
    size_t n = fread(want, 1, sizeof want - 1, f);
    want[n] = '\0';
    fclose(f);
    ck_assert_str_eq(out, want);
}

START_TEST(json_matches_golden)
{
    check_golden(MP_EMIT_JSON, "stats.json");
}
END_TEST

START_TEST(text_matches_golden)
{
    check_golden(MP_EMIT_TEXT, "stats.txt");
}
END_TEST

START_TEST(a_short_buffer_truncates_and_reports_the_full_length)
{
    static mp_snapshot_t s;
    char small[100], big[16384];
    fixed_snapshot(&s);
    mp_emitter_t e;
    mp_emit_init_buf(&e, MP_EMIT_JSON, small, sizeof small);
    mp_snapshot_emit(&s, &e);
    mp_emit_finish(&e);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    mp_emit_init_buf(&e, MP_EMIT_JSON, big, sizeof big);
    mp_snapshot_emit(&s, &e);
    mp_emit_finish(&e);
    ck_assert_uint_eq(e.total, strlen(big));
    ck_assert_int_eq(memcmp(small, big, sizeof small - 1), 0);
}
END_TEST

START_TEST(fd_output_equals_buffer_output_across_flushes)
{
    static mp_snapshot_t s;
    static char big[16384], via_fd[16384];
    fixed_snapshot(&s);
    mp_emitter_t e;
    mp_emit_init_buf(&e, MP_EMIT_TEXT, big, sizeof big);
    mp_snapshot_emit(&s, &e);
    mp_emit_finish(&e);
    FILE *tmp = tmpfile();
    char scratch[7]; /* tiny: forces many flushes mid-token */
    mp_emit_init_fd(&e, MP_EMIT_TEXT, fileno(tmp), scratch, sizeof scratch);
    mp_snapshot_emit(&s, &e);
    mp_emit_finish(&e);
    ck_assert(!e.failed);
    rewind(tmp);
    size_t n = fread(via_fd, 1, sizeof via_fd - 1, tmp);
    via_fd[n] = '\0';
    fclose(tmp);
    ck_assert_str_eq(via_fd, big);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("emitter");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, json_matches_golden);
    tcase_add_test(tc, text_matches_golden);
    tcase_add_test(tc, a_short_buffer_truncates_and_reports_the_full_length);
    tcase_add_test(tc, fd_output_equals_buffer_output_across_flushes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
