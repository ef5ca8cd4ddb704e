/* The fault handler of guarded blocks: SIGSEGV and SIGBUS, installed when
 * the first slot is used.  A fault in the guarded area is reported
 * (guard/report.h); any other goes to the handler the program installed,
 * before libmpool or after, or gets the default action, as if libmpool had
 * no handler: the program's sigaction calls for these two signals are kept
 * aside (preload/signals.c routes them here) and answered as the kernel
 * would. */
#ifndef MPOOL_GUARD_FAULT_H
#define MPOOL_GUARD_FAULT_H

#include "base/base.h"

#include <signal.h>

/* Once there is a guarded block (cheap after the first call). */
void mp_guard_fault_install(void) MP_HIDDEN;
/* sigaction(2) as the program sees it. */
int mp_guard_sigaction(int sig, const struct sigaction *act, struct sigaction *old) MP_HIDDEN;

#endif
