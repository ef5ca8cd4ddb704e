/* The guarded block's bug report (report.h). */
#define _GNU_SOURCE
#include "guard/report.h"
#include "base/fmt.h"
#include "base/report.h"
#include "platform/os.h"
#include "profile/stack.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void (*mp_guard_last_words)(void);

static void line(const char *fmt, ...)
{
    char buf[640];
    size_t n = mp_fmt(buf, sizeof buf, "mpool: ");
    va_list ap;
    va_start(ap, fmt);
    n += mp_vfmt(buf + n, sizeof buf - n, fmt, ap);
    va_end(ap);
    if (n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    mp_os_write(STDERR_FILENO, buf, n);
}

static const char *who(pid_t tid)
{
    return tid == mp_os_getpid() ? " (main)" : "";
}

/* Frames, innermost first.  A return address points after its call: one
 * byte back names the calling line. */
static void stack(void *const *pcs, unsigned depth, bool first_is_pc)
{
    if (depth == 0)
        line("  (no frames: libunwind found none)");
    for (unsigned i = 0; i < depth; i++) {
        char frame[512];
        const char *pc = (const char *)pcs[i] - (i == 0 && first_is_pc ? 0 : 1);
        mp_stack_describe(pc, frame, sizeof frame);
        line("  #%u %s", i, frame);
    }
}

/* "12 bytes past the end of", "3 bytes before the start of", "8 bytes into" */
static void where(uintptr_t addr, const mp_guard_slot_t *s)
{
    size_t end = s->block + (s->size ? s->size : 1);
    char pos[96];
    if (addr >= end)
        mp_fmt(pos, sizeof pos, "%lu bytes past the end of", (unsigned long)(addr - end));
    else if (addr < s->block)
        mp_fmt(pos, sizeof pos, "%lu bytes before the start of", (unsigned long)(s->block - addr));
    else
        mp_fmt(pos, sizeof pos, "%lu bytes into", (unsigned long)(addr - s->block));
    line("%p is %s the %u-byte block at %p (guarded%s)", (void *)addr, pos, s->size,
         (void *)s->block,
         atomic_load_explicit(&s->state, memory_order_acquire) == MP_GUARD_FREED ? ", freed" : "");
}

static const char *here_title(const mp_guard_report_t *r)
{
    if (r->func == NULL)
        return "the access";
    if (strcmp(r->kind, "double-free") == 0)
        return "the second free";
    if (strcmp(r->func, "free") == 0)
        return "the free";
    return r->func; /* realloc, malloc_usable_size */
}

void mp_guard_report(const mp_guard_report_t *r)
{
    if (!mp_report_begin())
        abort(); /* another report is under way */
    pid_t tid = mp_os_gettid();
    if (r->access)
        line("ERROR: %s on address %p (%s) in thread %d%s", r->kind, (void *)r->addr, r->access,
             (int)tid, who(tid));
    else
        line("ERROR: %s on address %p in thread %d%s", r->kind, (void *)r->addr, (int)tid, who(tid));
    const mp_guard_slot_t *s = r->slot;
    if (s)
        where(r->addr, s);
    else
        line("%p is in libmpool's guarded area, in no block's page", (void *)r->addr);
    line("%s, thread %d%s:", here_title(r), (int)tid, who(tid));
    stack(r->here, r->here_depth, r->here_starts_at_pc);
    if (s) {
        line("allocated by thread %d%s:", (int)s->alloc_tid, who(s->alloc_tid));
        stack(s->alloc_pcs, s->alloc_depth, false);
        if (atomic_load_explicit(&s->state, memory_order_acquire) == MP_GUARD_FREED) {
            line("freed by thread %d%s:", (int)s->free_tid, who(s->free_tid));
            stack(s->free_pcs, s->free_depth, false);
        }
    }
    const mp_guard_stats_t *st = &r->stats;
    line("guarded: %lu allocations so far, one in %lu on average (MPOOL_GUARD_SAMPLE), %lu slots",
         (unsigned long)st->guarded, (unsigned long)st->sample, (unsigned long)st->slots);
    if (mp_guard_last_words)
        mp_guard_last_words();
    abort();
}

void mp_guard_report_here(mp_guard_report_t *r)
{
    void *pcs[MP_GUARD_DEPTH];
    r->here = pcs;
    r->here_depth = mp_stack_capture_lean(pcs, MP_GUARD_DEPTH); /* loads nothing: the heap is bad */
    r->here_starts_at_pc = false;
    mp_guard_report(r);
}
