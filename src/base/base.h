/* What every file of libmpool may use: attributes, branch hints and the two
 * compile-time switches.  No types of the allocator (core/types.h), no
 * functions. */
#ifndef MPOOL_BASE_H
#define MPOOL_BASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP_HIDDEN __attribute__((visibility("hidden")))
#define MP_EXPORT __attribute__((visibility("default")))
#define MP_LIKELY(x) __builtin_expect(!!(x), 1)
#define MP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MP_NOINLINE __attribute__((noinline))
#define MP_COLD __attribute__((cold, noinline))
#define MP_TLS __thread __attribute__((tls_model("initial-exec")))
#define MP_CACHELINE 64
#define MP_MIN_ALIGN 16 /* every block is 16-aligned */
#define MP_NO_SITE UINT32_MAX /* no allocation site recorded (profile/sites.h) */

/* Functions that read other threads' counters without synchronising, on
 * purpose (each counter is an aligned word its owner alone writes; a read
 * sees an old or a new value).  ThreadSanitizer is told so, not silenced
 * wholesale. */
#if defined(__GNUC__) && !defined(__clang__)
#define MP_RACY_READER __attribute__((no_sanitize_thread))
#else
#define MP_RACY_READER __attribute__((no_sanitize("thread")))
#endif

/* Compile-time switches (meson options), not to be confused with the
 * MPOOL_* settings read at run time (base/options.def).
 *
 * MP_COUNTERS (-Dcounters): the counters on the fast paths, 1 by default; 0
 * only in the build that measures their cost.  A plain `if`, so both builds
 * type-check. */
#ifndef MP_COUNTERS
#define MP_COUNTERS 1
#endif

/* MP_CHECKS (-Dchecks): the fast paths' misuse checks (interior pointers,
 * double frees), 1 by default; 0 only in the build that measures their cost,
 * which keeps no free marks, so it does not look for them on the slow paths
 * either (the slow paths' pointer checks stay). */
#ifndef MP_CHECKS
#define MP_CHECKS 1
#endif

#endif
