/* See emitter.h.  JSON is emitted compact but one member per line, so dumps
 * diff well and golden files stay readable. */
#include "observe/emitter.h"
#include "base/fmt.h"
#include "platform/os.h"

#include <string.h>

static void flush(mp_emitter_t *e)
{
    if (e->fd < 0 || e->len == 0)
        return;
    if (!mp_os_write(e->fd, e->buf, e->len))
        e->failed = true;
    e->len = 0;
}

static void put(mp_emitter_t *e, const char *s, size_t n)
{
    e->total += n;
    while (n) {
        size_t room = e->cap - e->len - (e->fd < 0 ? 1 : 0); /* a buffer keeps room for NUL */
        if (room == 0 || e->cap == 0) {
            if (e->fd < 0)
                return; /* truncated: total still counts */
            flush(e);
            continue;
        }
        size_t k = n < room ? n : room;
        memcpy(e->buf + e->len, s, k);
        e->len += k;
        s += k;
        n -= k;
    }
}

void mp_emit_raw(mp_emitter_t *e, const char *s, size_t n)
{
    put(e, s, n);
}

void mp_emit_rawf(mp_emitter_t *e, const char *fmt, ...)
{
    char tmp[320];
    va_list ap;
    va_start(ap, fmt);
    size_t n = mp_vfmt(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(e, tmp, n < sizeof tmp ? n : sizeof tmp - 1);
}

void mp_emit_json_string(mp_emitter_t *e, const char *s)
{
    put(e, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            put(e, esc, 2);
        } else if (c < 0x20) {
            mp_emit_rawf(e, "\\u%c%c%c%c", '0', '0', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
        } else {
            put(e, (const char *)&c, 1);
        }
    }
    put(e, "\"", 1);
}

/* JSON: separator, newline and indentation before a member; then its key. */
static void json_member(mp_emitter_t *e, const char *key)
{
    if (!e->first[e->depth])
        put(e, ",", 1);
    e->first[e->depth] = false;
    put(e, "\n", 1);
    for (int i = 0; i <= e->depth; i++)
        put(e, "  ", 2);
    if (key) {
        mp_emit_json_string(e, key);
        put(e, ": ", 2);
    }
}

static void json_open(mp_emitter_t *e, const char *key, char bracket)
{
    json_member(e, key);
    put(e, &bracket, 1);
    if (e->depth + 1 < MP_EMIT_DEPTH)
        e->depth++;
    e->first[e->depth] = true;
}

static void json_close(mp_emitter_t *e, char bracket)
{
    bool empty = e->first[e->depth];
    if (e->depth > 0)
        e->depth--;
    if (!empty) {
        put(e, "\n", 1);
        for (int i = 0; i <= e->depth; i++)
            put(e, "  ", 2);
    }
    put(e, &bracket, 1);
}

static void text_line_start(mp_emitter_t *e)
{
    for (int i = 0; i < e->text_indent; i++)
        put(e, " ", 1);
}

static void init(mp_emitter_t *e, int mode, int fd, char *buf, size_t cap)
{
    memset(e, 0, sizeof *e);
    e->mode = mode;
    e->fd = fd;
    e->buf = buf;
    e->cap = cap;
}

void mp_emit_init_fd(mp_emitter_t *e, int mode, int fd, char *scratch, size_t cap)
{
    init(e, mode, fd, scratch, cap);
}

void mp_emit_init_buf(mp_emitter_t *e, int mode, char *buf, size_t cap)
{
    init(e, mode, -1, buf, cap);
}

void mp_emit_finish(mp_emitter_t *e)
{
    if (e->fd >= 0)
        flush(e);
    else if (e->cap)
        e->buf[e->len] = '\0';
}

void mp_emit_begin(mp_emitter_t *e, const char *title)
{
    if (e->mode == MP_EMIT_JSON) {
        put(e, "{", 1);
        e->depth = 0;
        e->first[0] = true;
    } else {
        mp_emit_rawf(e, "%s\n", title);
        e->text_indent = 2;
    }
}

void mp_emit_end(mp_emitter_t *e)
{
    if (e->mode == MP_EMIT_JSON) {
        put(e, "\n}\n", 3);
    }
}

/* TEXT: a blank line, then a title at the current indentation. */
static void text_heading(mp_emitter_t *e, const char *title)
{
    put(e, "\n", 1);
    text_line_start(e);
    mp_emit_rawf(e, "%s\n", title);
}

/* An object or a list: JSON brackets, or an indented TEXT section. */
static void section_begin(mp_emitter_t *e, const char *key, const char *title, char bracket)
{
    if (e->mode == MP_EMIT_JSON) {
        json_open(e, key, bracket);
    } else {
        text_heading(e, title);
        e->text_indent += 2;
    }
}

static void section_end(mp_emitter_t *e, char bracket)
{
    if (e->mode == MP_EMIT_JSON)
        json_close(e, bracket);
    else
        e->text_indent -= 2;
}

void mp_emit_object_begin(mp_emitter_t *e, const char *key, const char *title)
{
    section_begin(e, key, title, '{');
}

void mp_emit_object_end(mp_emitter_t *e)
{
    section_end(e, '}');
}

void mp_emit_u64(mp_emitter_t *e, const char *key, const char *label, uint64_t v)
{
    if (e->mode == MP_EMIT_JSON) {
        json_member(e, key);
        mp_emit_rawf(e, "%llu", (unsigned long long)v);
    } else {
        text_line_start(e);
        mp_emit_rawf(e, "%-24s %llu\n", label, (unsigned long long)v);
    }
}

void mp_emit_str(mp_emitter_t *e, const char *key, const char *label, const char *s)
{
    if (e->mode == MP_EMIT_JSON) {
        json_member(e, key);
        mp_emit_json_string(e, s);
    } else {
        text_line_start(e);
        mp_emit_rawf(e, "%-24s %s\n", label, s);
    }
}

void mp_emit_u32_array(mp_emitter_t *e, const char *key, const char *label, const uint32_t *v,
                       unsigned n)
{
    if (e->mode == MP_EMIT_JSON) {
        json_member(e, key);
        put(e, "[", 1);
        for (unsigned i = 0; i < n; i++)
            mp_emit_rawf(e, i ? ", %u" : "%u", v[i]);
        put(e, "]", 1);
        return;
    }
    char heading[128];
    mp_fmt(heading, sizeof heading, "%s (%u, oldest first)", label, n);
    text_heading(e, heading);
    for (unsigned i = 0; i < n; i += 12) {
        text_line_start(e);
        put(e, "  ", 2);
        for (unsigned j = i; j < n && j < i + 12; j++)
            mp_emit_rawf(e, "%7u", v[j]);
        put(e, "\n", 1);
    }
}

static void text_cell(mp_emitter_t *e, const char *s, int width)
{
    int len = (int)strlen(s);
    for (int i = len; i < width; i++)
        put(e, " ", 1);
    put(e, s, (size_t)len);
}

void mp_emit_table_begin(mp_emitter_t *e, const char *key, const char *title,
                         const mp_column_t *cols, unsigned ncols)
{
    if (e->mode == MP_EMIT_JSON) {
        json_open(e, key, '[');
        return;
    }
    text_heading(e, title);
    text_line_start(e);
    for (unsigned i = 0; i < ncols; i++)
        text_cell(e, cols[i].label, cols[i].width);
    put(e, "\n", 1);
}

void mp_emit_table_row(mp_emitter_t *e, const mp_column_t *cols, const uint64_t *v, unsigned ncols)
{
    if (e->mode == MP_EMIT_JSON) {
        json_member(e, NULL);
        put(e, "{", 1);
        for (unsigned i = 0; i < ncols; i++) {
            if (i)
                put(e, ", ", 2);
            mp_emit_json_string(e, cols[i].key);
            mp_emit_rawf(e, ": %llu", (unsigned long long)v[i]);
        }
        put(e, "}", 1);
        return;
    }
    text_line_start(e);
    for (unsigned i = 0; i < ncols; i++) {
        char num[24];
        mp_fmt(num, sizeof num, "%llu", (unsigned long long)v[i]);
        text_cell(e, num, cols[i].width);
    }
    put(e, "\n", 1);
}

void mp_emit_table_end(mp_emitter_t *e)
{
    if (e->mode == MP_EMIT_JSON)
        json_close(e, ']');
}

void mp_emit_list_begin(mp_emitter_t *e, const char *key, const char *title)
{
    section_begin(e, key, title, '[');
}

void mp_emit_item_begin(mp_emitter_t *e)
{
    if (e->mode == MP_EMIT_JSON)
        json_open(e, NULL, '{');
}

void mp_emit_item_end(mp_emitter_t *e)
{
    if (e->mode == MP_EMIT_JSON)
        json_close(e, '}');
    else
        put(e, "\n", 1);
}

void mp_emit_list_end(mp_emitter_t *e)
{
    section_end(e, ']');
}

void mp_emit_str_array(mp_emitter_t *e, const char *key, const char *label,
                       const char *const *v, unsigned n)
{
    if (e->mode == MP_EMIT_JSON) {
        json_open(e, key, '[');
        for (unsigned i = 0; i < n; i++) {
            json_member(e, NULL);
            mp_emit_json_string(e, v[i]);
        }
        json_close(e, ']');
        return;
    }
    text_line_start(e);
    mp_emit_rawf(e, "%s\n", label);
    for (unsigned i = 0; i < n; i++) {
        text_line_start(e);
        mp_emit_rawf(e, "  %s\n", v[i]);
    }
}
