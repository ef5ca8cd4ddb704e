/* The dump as OpenMetrics text, or with classic the Prometheus text format
 * 0.0.4 (openmetrics.c). */
#ifndef MPOOL_OPENMETRICS_H
#define MPOOL_OPENMETRICS_H

#include "observe/dump.h"

#include <stdbool.h>
void mp_openmetrics_emit(const mp_snapshot_t *s, mp_emitter_t *e, bool classic) MP_HIDDEN;

#endif
