/* Every module header of src/, for the unit suites, which test modules from
 * inside (src/ itself has no such umbrella: each file includes what it uses). */
#ifndef MPOOL_TEST_INTERNALS_H
#define MPOOL_TEST_INTERNALS_H

#include "api/pools.h"
#include "base/fmt.h"
#include "base/mathlib.h"
#include "base/options.h"
#include "base/report.h"
#include "core/alloc.h"
#include "core/bootstrap.h"
#include "core/counters.h"
#include "core/debug.h"
#include "core/gstack.h"
#include "core/init.h"
#include "core/limit.h"
#include "core/reclaim.h"
#include "core/region.h"
#include "core/sample.h"
#include "core/sizeclass.h"
#include "core/tcache.h"
#include "fallback/fallback.h"
#include "fallback/hugecache.h"
#include "observe/dump.h"
#include "observe/emitter.h"
#include "platform/os.h"
#include "profile/sites.h"

#endif
