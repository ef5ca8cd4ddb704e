/* The MPOOL_* settings: one table (options.def), read once at start with
 * secure_getenv, so a setuid or setgid program ignores them all.  A bad value
 * gets one warning line naming the variable and keeps the default. */
#define _GNU_SOURCE
#include "base/options.h"
#include "base/fmt.h"
#include "base/report.h"
#include "platform/os.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
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

static char string_values[MP_OPT_COUNT][MP_OPT_STRING_MAX]; /* copied: environ may change */

const char *mp_option_string(mp_option_id_t id)
{
    return *((size_t *)&mp_opt + id) ? string_values[id] : NULL;
}

static size_t *option_slot(int i)
{
    return (size_t *)&mp_opt + i; /* mp_options_t is one size_t per row, in order */
}

static bool word_is(const char *s, const char *w)
{
    for (; *w; s++, w++)
        if ((*s | 0x20) != (*w | 0x20)) /* ASCII case-insensitive */
            return false;
    return *s == '\0';
}

static const struct {
    const char *name;
    int number;
} signal_names[] = {
    { "HUP", SIGHUP },   { "INT", SIGINT },       { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 },
    { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE },     { "ALRM", SIGALRM }, { "TERM", SIGTERM },
    { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
    { "TTOU", SIGTTOU }, { "URG", SIGURG },       { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
    { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
    { "PWR", SIGPWR },   { "SYS", SIGSYS },
};

/* Signals a dump may not take over: they cannot be caught, or they mean the
 * program is crashing and its own handling must stay. */
static bool signal_usable(int sig)
{
    return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP && sig != SIGSEGV &&
           sig != SIGBUS && sig != SIGILL && sig != SIGFPE && sig != SIGABRT && sig != SIGTRAP;
}

static int parse_signal(const char *s, size_t *out)
{
    if (s[0] == 'S' && s[1] == 'I' && s[2] == 'G')
        s += 3;
    long sig = -1;
    if (*s >= '0' && *s <= '9') {
        size_t v;
        if (mp_option_parse(MP_OPT_SIZE, s, &v) != 0 || v > 1000)
            return -1;
        for (const char *p = s; *p; p++)
            if (*p < '0' || *p > '9')
                return -1; /* no K/M/G here */
        sig = (long)v;
    } else if (strncmp(s, "RTMIN", 5) == 0 || strncmp(s, "RTMAX", 5) == 0) {
        bool min = s[4] == 'N';
        const char *p = s + 5;
        long off = 0;
        if (*p == '+' || *p == '-') {
            int sign = *p++ == '+' ? 1 : -1;
            if (*p < '0' || *p > '9')
                return -1;
            for (; *p >= '0' && *p <= '9'; p++)
                if ((off = off * 10 + (*p - '0')) > 64)
                    return -1;
            off *= sign;
        }
        if (*p != '\0')
            return -1;
        sig = (min ? SIGRTMIN : SIGRTMAX) + off;
        if (sig < SIGRTMIN || sig > SIGRTMAX)
            return -1;
    } else {
        for (size_t i = 0; i < sizeof signal_names / sizeof *signal_names; i++)
            if (word_is(s, signal_names[i].name))
                sig = signal_names[i].number;
    }
    if (!signal_usable((int)sig))
        return -1;
    *out = (size_t)sig;
    return 0;
}

/* A duration in milliseconds: digits, an optional fraction, then ms, s, m
 * or h (none: ms).  "1.5s" is 1500; what falls below 1 ms is dropped. */
static int parse_duration(const char *s, size_t *out)
{
    uint64_t whole = 0, frac = 0, frac_scale = 1;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > 1000000000000ull)
            return -1;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        if (*++p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            if (frac_scale < 1000000) { /* digits past the sixth are noise */
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_scale *= 10;
            }
    }
    uint64_t unit_ms;
    if (*p == '\0' || strcmp(p, "ms") == 0)
        unit_ms = 1;
    else if (strcmp(p, "s") == 0)
        unit_ms = 1000;
    else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
        unit_ms = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        unit_ms = 3600 * 1000;
    else
        return -1;
    if (whole > UINT64_MAX / 2 / unit_ms)
        return -1; /* 9999999999999h: not a wrap into the allowed range */
    *out = (size_t)(whole * unit_ms + frac * unit_ms / frac_scale);
    return 0;
}

int mp_option_parse(mp_option_type_t type, const char *s, size_t *out)
{
    if (type == MP_OPT_SIGNAL)
        return parse_signal(s, out);
    if (type == MP_OPT_DURATION)
        return parse_duration(s, out);
    if (type == MP_OPT_FORMAT) {
        static const char *const names[] = { [MP_FORMAT_JSON] = "json", [MP_FORMAT_TEXT] = "text",
                                             [MP_FORMAT_OPENMETRICS] = "openmetrics",
                                             [MP_FORMAT_PROMETHEUS] = "prometheus" };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (word_is(s, names[i])) {
                *out = i;
                return 0;
            }
        return -1;
    }
    if (type == MP_OPT_STRING) {
        size_t n = 0;
        while (s[n])
            n++;
        if (n == 0 || n >= MP_OPT_STRING_MAX)
            return -1;
        *out = 1;
        return 0;
    }
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

static const char *const type_text[] = {
    [MP_OPT_BOOL] = "0 or 1",
    [MP_OPT_SIZE] = "a size (like 64K)",
    [MP_OPT_STRING] = "a usable text (1 to 4095 bytes)",
    [MP_OPT_SIGNAL] = "a catchable signal (like USR2 or 12)",
    [MP_OPT_FORMAT] = "json, text, openmetrics or prometheus",
    [MP_OPT_DURATION] = "a duration (like 250ms, 2s or 1m)",
};

/* The environment as the kernel gave it, for a start so early that libc has
 * not set `environ` yet: an allocation from a .preinit_array function (any
 * program built with clang -fsanitize=undefined makes one) initialises
 * libmpool before that, and secure_getenv then finds nothing.  Read with
 * open/read into a static buffer: no malloc, no stdio. */
static const char *early_getenv(const char *name)
{
    static char env[64 * 1024];
    static size_t len;
    static bool read_done;
    if (getauxval(AT_SECURE)) /* setuid/setgid: as secure_getenv */
        return NULL;
    if (!read_done) {
        read_done = true;
        ssize_t n = mp_os_read_file("/proc/self/environ", env, sizeof env);
        len = n > 0 ? (size_t)n : 0;
    }
    size_t nl = strlen(name);
    for (size_t i = 0; i < len; i += strlen(env + i) + 1)
        if (strncmp(env + i, name, nl) == 0 && env[i + nl] == '=')
            return env + i + nl + 1;
    return NULL;
}

static const char *setting(const char *name)
{
    return environ ? secure_getenv(name) : early_getenv(name);
}

void mp_options_load(void)
{
    for (int i = 0; i < MP_OPT_COUNT; i++) {
        const mp_option_desc_t *d = &option_table[i];
        const char *text = setting(d->env);
        if (text == NULL)
            continue;
        size_t v;
        char msg[200];
        if (mp_option_parse(d->type, text, &v) != 0) {
            mp_fmt(msg, sizeof msg, "%s='%.60s' is not %s; using the default", d->env, text,
                   type_text[d->type]);
            mp_warn(msg);
        } else if (d->type == MP_OPT_DURATION && v != 0 && (v < d->min || v > d->max)) {
            mp_fmt(msg, sizeof msg, "%s=%s is outside %zums..%zums; using the default", d->env,
                   text, d->min, d->max);
            mp_warn(msg);
        } else if ((d->type == MP_OPT_BOOL || d->type == MP_OPT_SIZE) &&
                   (v < d->min || v > d->max)) {
            mp_fmt(msg, sizeof msg, "%s=%s is outside %zu..%zu; using the default %zu", d->env,
                   text, d->min, d->max, d->def);
            mp_warn(msg);
        } else {
            *option_slot(i) = v;
            if (d->type == MP_OPT_STRING)
                memcpy(string_values[i], text, strlen(text) + 1);
        }
    }
}

void mp_options_print(int fd)
{
    char line[256];
    for (int i = 0; i < MP_OPT_COUNT; i++) {
        const mp_option_desc_t *d = &option_table[i];
        size_t v = *option_slot(i), n;
        if (d->type == MP_OPT_STRING)
            n = mp_fmt(line, sizeof line, "mpool: %s=%s (%s)\n", d->env,
                       v ? string_values[i] : "(unset)", d->doc);
        else if (d->type == MP_OPT_FORMAT)
            n = mp_fmt(line, sizeof line, "mpool: %s=%s (%s)\n", d->env,
                       v == MP_FORMAT_PROMETHEUS    ? "prometheus"
                       : v == MP_FORMAT_OPENMETRICS ? "openmetrics"
                       : v                          ? "text"
                                                    : "json",
                       d->doc);
        else if (d->type == MP_OPT_DURATION)
            n = mp_fmt(line, sizeof line, "mpool: %s=%zums (%s)\n", d->env, v, d->doc);
        else
            n = mp_fmt(line, sizeof line, "mpool: %s=%zu (%s)\n", d->env, v, d->doc);
        mp_os_write(fd, line, n < sizeof line ? n : sizeof line - 1);
    }
}
