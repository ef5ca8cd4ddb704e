/* The MPOOL_* settings: one table (options.def), read once at start with
 * secure_getenv, so a setuid or setgid program ignores them all.  A bad value
 * gets one warning line naming the variable and keeps the default. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>

typedef struct mp_option_desc {
    const char *env;
    mp_option_type_t type;
    size_t def, min, max;
    const char *doc;
} mp_option_desc_t;

static const mp_option_desc_t option_table[MP_OPT_COUNT] = {
#define MP_OPTION(id, env, type, def, min, max, doc) { env, type, def, min, max, doc },
#include "options.def"
#undef MP_OPTION
};

mp_options_t mp_opt = {
#define MP_OPTION(id, env, type, def, min, max, doc) .id = def,
#include "options.def"
#undef MP_OPTION
};

static size_t *option_slot(int i)
{
    return (size_t *)&mp_opt + i; /* mp_options_t is one size_t per row, in order */
}

static bool word_is(const char *s, const char *w)
{
    for (; *w; s++, w++)
        if ((*s | 0x20) != *w) /* ASCII case-insensitive */
            return false;
    return *s == '\0';
}

int mp_option_parse(mp_option_type_t type, const char *s, size_t *out)
{
    if (type == MP_OPT_BOOL) {
        if (word_is(s, "1") || word_is(s, "yes") || word_is(s, "true") || word_is(s, "on")) {
            *out = 1;
            return 0;
        }
        if (word_is(s, "0") || word_is(s, "no") || word_is(s, "false") || word_is(s, "off")) {
            *out = 0;
            return 0;
        }
        return -1;
    }
    /* MP_OPT_SIZE: digits, then an optional K/M/G (optionally followed by B or iB). */
    size_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    unsigned shift = 0;
    switch (*p | 0x20) {
    case 'k': shift = 10; p++; break;
    case 'm': shift = 20; p++; break;
    case 'g': shift = 30; p++; break;
    case 't': shift = 40; p++; break;
    }
    if (shift && (*p | 0x20) == 'i')
        p++;
    if ((*p | 0x20) == 'b')
        p++;
    if (*p != '\0')
        return -1;
    if (shift && v > (SIZE_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

void mp_options_load(void)
{
    for (int i = 0; i < MP_OPT_COUNT; i++) {
        const mp_option_desc_t *d = &option_table[i];
        const char *text = secure_getenv(d->env);
        if (text == NULL)
            continue;
        size_t v;
        char msg[200];
        if (mp_option_parse(d->type, text, &v) != 0) {
            mp_fmt(msg, sizeof msg, "%s='%s' is not %s; using the default %zu", d->env, text,
                   d->type == MP_OPT_BOOL ? "0 or 1" : "a size (like 64K)", d->def);
            mp_warn(msg);
        } else if (v < d->min || v > d->max) {
            mp_fmt(msg, sizeof msg, "%s=%s is outside %zu..%zu; using the default %zu", d->env,
                   text, d->min, d->max, d->def);
            mp_warn(msg);
        } else {
            *option_slot(i) = v;
        }
    }
}

void mp_options_print(int fd)
{
    char line[256];
    for (int i = 0; i < MP_OPT_COUNT; i++) {
        const mp_option_desc_t *d = &option_table[i];
        size_t n = mp_fmt(line, sizeof line, "mpool: %s=%zu (%s)\n", d->env, *option_slot(i),
                          d->doc);
        mp_os_write(fd, line, n < sizeof line ? n : sizeof line - 1);
    }
}
