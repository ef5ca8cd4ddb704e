/* What run a dump comes from (run.c): the program, its arguments, when it
 * started, and every mapped module with its load address and build-id. */
#ifndef MPOOL_RUN_H
#define MPOOL_RUN_H

#include "observe/emitter.h"

void mp_run_emit(mp_emitter_t *e) __attribute__((visibility("hidden")));

#endif
