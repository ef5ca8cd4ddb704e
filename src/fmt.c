/* A small printf for fixed buffers: the allocator must never call stdio
 * (it may allocate, and it takes locks a signal handler could hold). */
#include "internal.h"

#include <stdint.h>

typedef struct mp_out {
    char *buf;
    size_t cap; /* bytes available, including the final NUL */
    size_t len; /* bytes the whole output needs */
} mp_out_t;

static void put_char(mp_out_t *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len] = c;
    o->len++;
}

static void put_str(mp_out_t *o, const char *s)
{
    if (s == NULL)
        s = "(null)";
    while (*s)
        put_char(o, *s++);
}

static void put_unsigned(mp_out_t *o, unsigned long long v, unsigned base)
{
    char digits[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (n)
        put_char(o, digits[--n]);
}

static void put_signed(mp_out_t *o, long long v)
{
    if (v < 0) {
        put_char(o, '-');
        put_unsigned(o, (unsigned long long)-(v + 1) + 1, 10);
    } else {
        put_unsigned(o, (unsigned long long)v, 10);
    }
}

size_t mp_vfmt(char *buf, size_t cap, const char *fmt, va_list ap)
{
    mp_out_t o = { buf, cap, 0 };
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            put_char(&o, *f);
            continue;
        }
        f++;
        int longs = 0, size_t_arg = 0;
        for (;; f++) {
            if (*f == 'l')
                longs++;
            else if (*f == 'z')
                size_t_arg = 1;
            else
                break;
        }
        switch (*f) {
        case 's':
            put_str(&o, va_arg(ap, const char *));
            break;
        case 'c':
            put_char(&o, (char)va_arg(ap, int));
            break;
        case 'd':
            if (longs >= 2)
                put_signed(&o, va_arg(ap, long long));
            else if (longs == 1 || size_t_arg)
                put_signed(&o, va_arg(ap, long));
            else
                put_signed(&o, va_arg(ap, int));
            break;
        case 'u':
        case 'x': {
            unsigned base = *f == 'u' ? 10 : 16;
            unsigned long long v;
            if (longs >= 2)
                v = va_arg(ap, unsigned long long);
            else if (longs == 1 || size_t_arg)
                v = va_arg(ap, unsigned long);
            else
                v = va_arg(ap, unsigned);
            put_unsigned(&o, v, base);
            break;
        }
        case 'p':
            put_str(&o, "0x");
            put_unsigned(&o, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            put_char(&o, '%');
            break;
        case '\0':
            f--; /* a lone '%' at the end: stop */
            break;
        default:
            put_char(&o, '%');
            put_char(&o, *f);
        }
    }
    if (cap)
        buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}

size_t mp_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = mp_vfmt(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}
