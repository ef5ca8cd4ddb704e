/* Call stacks: taken with libunwind, without libmpool's own frames, and
 * described frame by frame as "func+0x1c (/path/module+0x2a1c)".  Shared by
 * the allocation sites (sites.c) and the guarded blocks (guard/).
 *
 * libunwind is loaded (dlopen, RTLD_LOCAL) at the first profiled stack, not
 * linked: a program that does not profile maps neither it nor its liblzma
 * (96 KiB of RSS in every process, two more objects for every unwinder's
 * lookups). */
#ifndef MPOOL_STACK_H
#define MPOOL_STACK_H

#include "base/base.h"

#define MP_STACK_OWN_FRAMES 8 /* room for libmpool's frames above the caller's */

void mp_stack_prepare(void) MP_HIDDEN; /* once: the program's path, our code's range */

typedef int (*mp_backtrace_fn)(void **buffer, int size);
/* glibc's backtrace (libgcc's unwinder, which finds each frame's rules with
 * _dl_find_object: no lock, no system call, no cache of its own), by its
 * own name: libunwind exports a backtrace too. */
extern int __backtrace(void **buffer, int size);
/* libunwind's unw_backtrace once loaded, else NULL. */
extern mp_backtrace_fn mp_stack_unwinder MP_HIDDEN;
/* Load libunwind (once; its unw_backtrace, or glibc's backtrace with one
 * warning if it cannot be loaded). */
mp_backtrace_fn mp_stack_load_unwinder(void) MP_HIDDEN;
/* Leave out raw[0 .. n)'s leading frames of libmpool's: at most max of the
 * rest into pcs; their number. */
unsigned mp_stack_trim(void *const *raw, int n, void **pcs, unsigned max) MP_HIDDEN;

/* The caller's stack, innermost first, libmpool's frames left out: at most
 * max (<= 64) return addresses into pcs; their number.  Inline: every frame
 * of ours costs the unwind.  Takes the loader's lock (loading libunwind, its
 * first look at a module): never call it holding a lock of ours, and with
 * mp_tls_unsampled set, so that allocations meanwhile are not sampled. */
static inline __attribute__((always_inline)) unsigned mp_stack_capture(void **pcs, unsigned max)
{
    void *raw[64 + MP_STACK_OWN_FRAMES];
    mp_stack_prepare();
    mp_backtrace_fn backtrace = __atomic_load_n(&mp_stack_unwinder, __ATOMIC_ACQUIRE);
    if (MP_UNLIKELY(backtrace == NULL))
        backtrace = mp_stack_load_unwinder();
    int n = backtrace(raw, (int)(max > 64 ? 64 : max) + MP_STACK_OWN_FRAMES);
    return mp_stack_trim(raw, n, pcs, max > 64 ? 64 : max);
}
/* Is pc in libmpool's own code? */
bool mp_stack_is_own(const void *pc) MP_HIDDEN;
/* The same through glibc's backtrace: about 15 times the instructions of
 * mp_stack_capture, but without the 256 KiB cache libunwind's fast path
 * maps and fills for each thread that unwinds: for the rare stacks that
 * must cost no memory (guarded blocks, on by default).  Its first call
 * loads libgcc_s, as glibc does. */
unsigned mp_stack_capture_lean(void **pcs, unsigned max) MP_HIDDEN;

/* "func+0x1c (/path/module+0x2a1c)" for the code at pc, or "0x7f..." when no
 * module holds it; the main program named by its path.  Into out (cap
 * bytes, NUL-terminated); the length it wanted. */
size_t mp_stack_describe(const void *pc, char *out, size_t cap) MP_HIDDEN;

#endif
