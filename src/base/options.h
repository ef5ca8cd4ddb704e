/* The MPOOL_* settings: read once at start (secure_getenv), then read-only. */
#ifndef MPOOL_OPTIONS_H
#define MPOOL_OPTIONS_H

#include <stddef.h>

typedef enum mp_option_type {
    MP_OPT_BOOL,
    MP_OPT_SIZE,
    MP_OPT_STRING,
    MP_OPT_SIGNAL,
    MP_OPT_FORMAT,
    MP_OPT_DURATION, /* kept in milliseconds */
} mp_option_type_t;

enum { MP_FORMAT_JSON = 0, MP_FORMAT_TEXT = 1, MP_FORMAT_OPENMETRICS = 2, MP_FORMAT_PROMETHEUS = 3 };
#define MP_OPT_STRING_MAX 4096

typedef enum mp_option_id {
#define MP_OPTION(id, env, type, def, min, max, doc) MP_OPT_##id,
#include "options.def"
#undef MP_OPTION
    MP_OPT_COUNT
} mp_option_id_t;

/* Effective values, filled by mp_options_load(); defaults before that.  A
 * string option's value is 1 when set; its text is mp_option_string(id). */
typedef struct mp_options {
#define MP_OPTION(id, env, type, def, min, max, doc) size_t id;
#include "options.def"
#undef MP_OPTION
} mp_options_t;

extern mp_options_t mp_opt __attribute__((visibility("hidden")));

void mp_options_load(void) __attribute__((visibility("hidden")));
const char *mp_option_string(mp_option_id_t id) __attribute__((visibility("hidden"))); /* NULL if unset */
void mp_options_print(int fd) __attribute__((visibility("hidden")));

/* Parse one value as the table's parser does: 0 on success. Exposed for tests. */
int mp_option_parse(mp_option_type_t type, const char *text, size_t *out)
    __attribute__((visibility("hidden")));

#endif
