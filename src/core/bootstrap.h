/* Memory for allocations made while libmpool initialises itself. */
#ifndef MPOOL_BOOTSTRAP_H
#define MPOOL_BOOTSTRAP_H

#include "base/base.h"

void *mp_boot_alloc(size_t n, size_t align) MP_HIDDEN;
bool mp_boot_owns(const void *p, size_t *usable) MP_HIDDEN;

#endif
