/* C++ operator new and delete in every form, by their mangled names, so the
 * library needs no libstdc++.  A failed new runs the program's new_handler
 * and retries, as the standard says, and throws std::bad_alloc when there is
 * none.  Compiled with -fexceptions so that exceptions from a new_handler
 * pass through these frames.  The libstdc++ entry points are weak: they are
 * present whenever a C++ program calls these operators. */
#define _GNU_SOURCE
#include "core/alloc.h"
#include "base/report.h"

#include <dlfcn.h>
#include <stdbool.h>

typedef void (*mp_new_handler)(void);
extern mp_new_handler _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

typedef struct nothrow_t nothrow_t;

/* The nothrow forms must return NULL even when a new_handler throws, which
 * takes a C++ catch.  libstdc++'s own nothrow operators are exactly
 * `try { return ::operator new(n); } catch (...) { return nullptr; }`, and
 * their ::operator new is ours: so on failure we let them do the catching.
 * Without libstdc++ in the process no handler can exist, and NULL is right. */
typedef void *(*nothrow_new_fn)(size_t, const nothrow_t *);
typedef void *(*nothrow_new_aligned_fn)(size_t, size_t, const nothrow_t *);

static void *libstdcxx(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

static void *nothrow_failed(size_t n, const nothrow_t *t)
{
    static nothrow_new_fn next;
    if (next == NULL)
        next = (nothrow_new_fn)libstdcxx("_ZnwmRKSt9nothrow_t");
    return next ? next(n, t) : NULL;
}

static void *nothrow_failed_aligned(size_t n, size_t align, const nothrow_t *t)
{
    static nothrow_new_aligned_fn next;
    if (next == NULL)
        next = (nothrow_new_aligned_fn)libstdcxx("_ZnwmSt11align_val_tRKSt9nothrow_t");
    return next ? next(n, align, t) : NULL;
}

static void *new_failed(size_t n, size_t align)
{
    for (;;) {
        mp_new_handler h = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
        if (h == NULL) {
            if (_ZSt17__throw_bad_allocv)
                _ZSt17__throw_bad_allocv();
            mp_report_fatal("operator new failed and std::bad_alloc is unavailable");
        }
        h(); /* may throw, which is why this file has unwind tables */
        void *p = align > MP_MIN_ALIGN ? mp_memalign(align, n) : mp_malloc(n);
        if (p)
            return p;
    }
}

static inline void *cxx_new(size_t n)
{
    void *p = mp_malloc(n);
    return MP_LIKELY(p != NULL) ? p : new_failed(n, 0);
}

static inline void *cxx_new_aligned(size_t n, size_t align)
{
    void *p = mp_memalign(align, n);
    return MP_LIKELY(p != NULL) ? p : new_failed(n, align);
}

/* operator new / new[] */
MP_EXPORT void *_Znwm(size_t n) { return cxx_new(n); }
MP_EXPORT void *_Znam(size_t n) { return cxx_new(n); }
MP_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const nothrow_t *t)
{
    void *p = mp_malloc(n);
    return MP_LIKELY(p != NULL) ? p : nothrow_failed(n, t);
}
MP_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const nothrow_t *t) { return _ZnwmRKSt9nothrow_t(n, t); }
MP_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t a) { return cxx_new_aligned(n, a); }
MP_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t a) { return cxx_new_aligned(n, a); }
MP_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_t *t)
{
    void *p = mp_memalign(a, n);
    return MP_LIKELY(p != NULL) ? p : nothrow_failed_aligned(n, a, t);
}
MP_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_t *t)
{
    return _ZnwmSt11align_val_tRKSt9nothrow_t(n, a, t);
}

/* operator delete / delete[]: plain, sized, nothrow, aligned */
MP_EXPORT void _ZdlPv(void *p) { mp_free(p); }
MP_EXPORT void _ZdaPv(void *p) { mp_free(p); }
MP_EXPORT void _ZdlPvm(void *p, size_t n) { mp_free_sized(p, n); }
MP_EXPORT void _ZdaPvm(void *p, size_t n) { mp_free_sized(p, n); }
MP_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; mp_free(p); }
MP_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; mp_free(p); }
MP_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; mp_free(p); }
MP_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; mp_free(p); }
MP_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)a; mp_free_sized(p, n); }
MP_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)a; mp_free_sized(p, n); }
MP_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_t *t) { (void)a; (void)t; mp_free(p); }
MP_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_t *t) { (void)a; (void)t; mp_free(p); }
