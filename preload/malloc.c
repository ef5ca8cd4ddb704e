/* The exported C malloc family: each symbol is a thin forward into src/.
 * Both LD_PRELOAD and -lmpool reach these, ahead of glibc's definitions. */
#define _GNU_SOURCE
#include "core/alloc.h"
#include "api/glibc.h"
#include "mpool.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

MP_EXPORT void *malloc(size_t n) { return mp_malloc(n); }
MP_EXPORT void free(void *p) { mp_free(p); }
MP_EXPORT void *calloc(size_t k, size_t n) { return mp_calloc(k, n); }
MP_EXPORT void *realloc(void *p, size_t n) { return mp_realloc(p, n); }
MP_EXPORT void *reallocarray(void *p, size_t k, size_t n) { return mp_reallocarray(p, k, n); }
MP_EXPORT int posix_memalign(void **out, size_t align, size_t n) { return mp_posix_memalign(out, align, n); }
MP_EXPORT void *aligned_alloc(size_t align, size_t n) { return mp_aligned_alloc(align, n); }
MP_EXPORT void *memalign(size_t align, size_t n) { return mp_memalign(align, n); }
MP_EXPORT void *valloc(size_t n) { return mp_valloc(n); }
MP_EXPORT void *pvalloc(size_t n) { return mp_pvalloc(n); }
MP_EXPORT size_t malloc_usable_size(void *p) { return mp_usable_size(p); }
MP_EXPORT void cfree(void *p) { mp_free(p); }
MP_EXPORT void free_sized(void *p, size_t n) { mp_free_sized(p, n); }
MP_EXPORT void free_aligned_sized(void *p, size_t align, size_t n) { (void)align; mp_free_sized(p, n); }

/* glibc's internal names, which some programs and libraries call directly. */
MP_EXPORT void *__libc_malloc(size_t n) { return mp_malloc(n); }
MP_EXPORT void __libc_free(void *p) { mp_free(p); }
MP_EXPORT void *__libc_calloc(size_t k, size_t n) { return mp_calloc(k, n); }
MP_EXPORT void *__libc_realloc(void *p, size_t n) { return mp_realloc(p, n); }
MP_EXPORT void *__libc_memalign(size_t align, size_t n) { return mp_memalign(align, n); }
MP_EXPORT void *__libc_valloc(size_t n) { return mp_valloc(n); }
MP_EXPORT void *__libc_pvalloc(size_t n) { return mp_pvalloc(n); }

/* glibc's tuning and reporting calls (src/api/glibc.c). */
MP_EXPORT struct mallinfo2 mallinfo2(void) { return mp_mallinfo2(); }

MP_EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mp_mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = (int)m2.arena;
    mi.hblkhd = (int)m2.hblkhd;
    mi.hblks = (int)m2.hblks;
    mi.uordblks = (int)m2.uordblks;
    mi.fordblks = (int)m2.fordblks;
    mi.keepcost = (int)m2.keepcost;
    return mi;
}

/* Hands the calling thread's cached blocks to the global stacks and gives
 * every wholly free span back to the OS.  1 if memory was released, as glibc. */
MP_EXPORT int malloc_trim(size_t pad)
{
    (void)pad;
    return mpool_trim() > 0;
}

MP_EXPORT int mallopt(int param, int value) { return mp_mallopt(param, value); }
MP_EXPORT int malloc_info(int options, FILE *fp) { return mp_malloc_info(options, fp); }
MP_EXPORT void malloc_stats(void) { mp_malloc_stats(); }
