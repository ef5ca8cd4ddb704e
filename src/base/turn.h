/* A turn: an atomic flag that one holder at a time takes, spinning with
 * sched_yield when asked to wait.  For work that is short and never waits
 * on anything the waiter could hold (a dump, a line of the time series);
 * a fork child resets it by storing 0. */
#ifndef MPOOL_TURN_H
#define MPOOL_TURN_H

#include "platform/os.h"

#include <stdatomic.h>
#include <stdbool.h>

static inline bool mp_turn_take(_Atomic int *turn, bool wait)
{
    int expected = 0;
    while (!atomic_compare_exchange_weak(turn, &expected, 1)) {
        if (!wait)
            return false;
        expected = 0;
        mp_os_yield();
    }
    return true;
}

static inline void mp_turn_give(_Atomic int *turn)
{
    atomic_store(turn, 0);
}

#endif
