/* The dump as OpenMetrics text (openmetrics.c). */
#ifndef MPOOL_OPENMETRICS_H
#define MPOOL_OPENMETRICS_H

#include "observe/dump.h"

void mp_openmetrics_emit(const mp_snapshot_t *s, mp_emitter_t *e) MP_HIDDEN;

#endif
