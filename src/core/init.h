/* Start-up (once, on the first allocation or in the constructor) and fork. */
#ifndef MPOOL_INIT_H
#define MPOOL_INIT_H

#include "base/base.h"

enum { MP_INIT_NONE = 0, MP_INIT_RUNNING = 1, MP_INIT_DONE = 2 };
extern _Atomic int mp_init_state MP_HIDDEN;
extern MP_TLS int mp_tls_in_init MP_HIDDEN; /* this thread is running mp_init */
bool mp_init(void) MP_HIDDEN;               /* false while this thread is initialising */
extern unsigned long mp_thread_key MP_HIDDEN;
extern uint64_t mp_start_ns MP_HIDDEN;      /* when libmpool started (mp_os_now_ns) */
uint64_t mp_start_unix_ms(void) MP_HIDDEN;  /* the same moment, in ms since 1970 */

#endif
