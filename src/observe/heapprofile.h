/* The heap profile in gperftools' text format (heapprofile.c). */
#ifndef MPOOL_HEAPPROFILE_H
#define MPOOL_HEAPPROFILE_H

#include "observe/emitter.h"

/* The profile to e, which writes to a file (the memory map is copied into
 * it at the end). */
void mp_heapprofile_emit(mp_emitter_t *e) __attribute__((visibility("hidden")));

#endif
