/* A small printf for fixed buffers: the allocator must never call stdio
 * (it may allocate, and it takes locks a signal handler could hold). */
#include "base/fmt.h"
#include "base/base.h"

#include <stdbool.h>
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

/* Emit the digits/text of one conversion into o with padding to width. */
static void put_padded(mp_out_t *o, const char *s, size_t n, int width, bool left, char pad)
{
    int fill = width > (int)n ? width - (int)n : 0;
    if (!left && pad == '0' && n && s[0] == '-') { /* sign before zeros */
        put_char(o, '-');
        s++;
        n--;
    }
    if (!left)
        while (fill--)
            put_char(o, pad);
    for (size_t i = 0; i < n; i++)
        put_char(o, s[i]);
    if (left)
        while (fill-- > 0)
            put_char(o, ' ');
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
        bool left = false;
        char pad = ' ';
        for (; *f == '-' || *f == '0'; f++) {
            if (*f == '-')
                left = true;
            else
                pad = '0';
        }
        int width = 0, precision = -1;
        for (; *f >= '0' && *f <= '9'; f++)
            width = width * 10 + (*f - '0');
        if (*f == '.') { /* precision: only for %s, the most bytes printed */
            precision = 0;
            for (f++; *f >= '0' && *f <= '9'; f++)
                precision = precision * 10 + (*f - '0');
        }
        int longs = 0, size_t_arg = 0;
        for (;; f++) {
            if (*f == 'l')
                longs++;
            else if (*f == 'z')
                size_t_arg = 1;
            else
                break;
        }
        /* Each conversion is rendered into tmp, then padded into the output. */
        char tmp[32];
        mp_out_t t = { tmp, sizeof tmp, 0 };
        const char *str = NULL;
        size_t len = 0;
        switch (*f) {
        case 's':
            str = va_arg(ap, const char *);
            if (str == NULL)
                str = "(null)";
            while (str[len] && (precision < 0 || len < (size_t)precision))
                len++;
            break;
        case 'c':
            put_char(&t, (char)va_arg(ap, int));
            break;
        case 'd':
            if (longs >= 2)
                put_signed(&t, va_arg(ap, long long));
            else if (longs == 1 || size_t_arg)
                put_signed(&t, va_arg(ap, long));
            else
                put_signed(&t, va_arg(ap, int));
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
            put_unsigned(&t, v, base);
            break;
        }
        case 'p':
            put_str(&t, "0x");
            put_unsigned(&t, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            put_char(&o, '%');
            continue;
        case '\0':
            f--; /* a lone '%' at the end: stop */
            continue;
        default:
            put_char(&o, '%');
            put_char(&o, *f);
            continue;
        }
        if (str == NULL) {
            str = tmp;
            len = t.len;
        }
        put_padded(&o, str, len, width, left, *f == 's' ? ' ' : pad);
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
