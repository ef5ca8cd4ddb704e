/* Profiled blocks served by the pools (sampled.c). */
#ifndef MPOOL_SAMPLED_H
#define MPOOL_SAMPLED_H

#include "core/types.h"

void mp_sampled_init(void) MP_HIDDEN; /* before mp_region_init: its table */
/* A block of cls (*reused: freed before); NULL if no span can be had. */
void *mp_sampled_alloc(unsigned cls, bool *reused) MP_HIDDEN;
void mp_sampled_release(void *p, unsigned cls) MP_HIDDEN;
void mp_sampled_fork_prepare(void) MP_HIDDEN;
void mp_sampled_fork_parent(void) MP_HIDDEN;
void mp_sampled_fork_child(void) MP_HIDDEN;

#endif
