/* MPOOL_SHOW_STATS: a short readable summary of a snapshot (summary.c). */
#ifndef MPOOL_SUMMARY_H
#define MPOOL_SUMMARY_H

#include "observe/dump.h"

void mp_summary_write(const mp_snapshot_t *s, int fd) MP_HIDDEN;

#endif
