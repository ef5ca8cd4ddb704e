/* Messages on stderr, without stdio or malloc: warnings (one line, the
 * program goes on) and fatal reports (one line, then abort()). */
#ifndef MPOOL_REPORT_H
#define MPOOL_REPORT_H

#include "base/base.h"

__attribute__((noreturn)) void mp_report_fatal(const char *msg) MP_COLD MP_HIDDEN;
/* "mpool: <line>\n", then abort(); line is written only by the first report. */
__attribute__((noreturn)) void mp_report_abort(const char *line) MP_COLD MP_HIDDEN;
void mp_warn(const char *msg) MP_HIDDEN;
bool mp_report_begin(void) MP_HIDDEN; /* false: another report is under way */

#endif
