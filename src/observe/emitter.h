/* One emitter for the stats dump in both formats.  Each statistic is named
 * once -- a JSON key and a human label in the same call -- and the JSON and
 * text outputs come from the same walk (observe/dump.c).
 *
 * Output goes to a caller's buffer (truncated, always NUL-terminated) or
 * through a fixed buffer to a file descriptor with write(2): no stdio, no
 * malloc, safe in a signal handler. */
#ifndef MPOOL_EMITTER_H
#define MPOOL_EMITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MP_EMIT_JSON, MP_EMIT_TEXT };
#define MP_EMIT_DEPTH 8

typedef struct mp_emitter {
    int mode;                   /* MP_EMIT_JSON or MP_EMIT_TEXT */
    char *buf;                  /* output window */
    size_t cap, len;            /* window size; bytes in the window */
    int fd;                     /* >= 0: flush the window here when full */
    size_t total;               /* bytes the whole output has (or would have) */
    bool failed;                /* a write(2) failed */
    int depth;                  /* JSON nesting */
    bool first[MP_EMIT_DEPTH];  /* no comma before the next member */
    int text_indent;            /* TEXT: spaces before a line */
} mp_emitter_t;

typedef struct mp_column {
    const char *key;   /* JSON member name */
    const char *label; /* TEXT column heading */
    int width;         /* TEXT column width */
} mp_column_t;

void mp_emit_init_fd(mp_emitter_t *e, int mode, int fd, char *scratch, size_t cap);
void mp_emit_init_buf(mp_emitter_t *e, int mode, char *buf, size_t cap);
void mp_emit_finish(mp_emitter_t *e); /* flush; NUL-terminate a buffer */
/* Text as it is, for other formats (openmetrics.c); formatted by mp_fmt,
 * at most 319 bytes. */
void mp_emit_raw(mp_emitter_t *e, const char *s, size_t n);
void mp_emit_rawf(mp_emitter_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mp_emit_json_string(mp_emitter_t *e, const char *s); /* quoted and escaped */

void mp_emit_begin(mp_emitter_t *e, const char *title); /* the top-level object */
void mp_emit_end(mp_emitter_t *e);
void mp_emit_object_begin(mp_emitter_t *e, const char *key, const char *title);
void mp_emit_object_end(mp_emitter_t *e);
void mp_emit_u64(mp_emitter_t *e, const char *key, const char *label, uint64_t v);
void mp_emit_str(mp_emitter_t *e, const char *key, const char *label, const char *s);
void mp_emit_u32_array(mp_emitter_t *e, const char *key, const char *label, const uint32_t *v,
                       unsigned n);

/* A table: JSON, an array of objects; TEXT, a heading and aligned rows. */
void mp_emit_table_begin(mp_emitter_t *e, const char *key, const char *title,
                         const mp_column_t *cols, unsigned ncols);
void mp_emit_table_row(mp_emitter_t *e, const mp_column_t *cols, const uint64_t *v, unsigned ncols);
void mp_emit_table_end(mp_emitter_t *e);

/* A list of records, each an object (JSON) or an indented block (TEXT). */
void mp_emit_list_begin(mp_emitter_t *e, const char *key, const char *title);
void mp_emit_item_begin(mp_emitter_t *e);
void mp_emit_item_end(mp_emitter_t *e);
void mp_emit_list_end(mp_emitter_t *e);
void mp_emit_str_array(mp_emitter_t *e, const char *key, const char *label,
                       const char *const *v, unsigned n);

#endif
