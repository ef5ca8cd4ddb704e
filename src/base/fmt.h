/* Formatting into caller-owned buffers: no stdio, no malloc, signal-safe.
 * Supports %s %d %u %ld %lu %zu %llu %x %lx %zx %p %c %%, with the flags
 * '-' and '0', a width, and a precision for %s.
 * Output is always NUL-terminated when cap > 0; returns the length the whole
 * output would have had (like snprintf). */
#ifndef MPOOL_FMT_H
#define MPOOL_FMT_H

#include <stdarg.h>
#include <stddef.h>

size_t mp_fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), visibility("hidden")));
size_t mp_vfmt(char *buf, size_t cap, const char *fmt, va_list ap)
    __attribute__((visibility("hidden")));

#endif
