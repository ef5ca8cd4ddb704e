/* The background thread, mpool-bg: runs the tasks other modules give it
 * (the decay of freed memory, the time series), and exists only while one
 * of them has work. */
#ifndef MPOOL_BACKGROUND_H
#define MPOOL_BACKGROUND_H

#include "base/base.h"

/* A task: does one round of its work and returns the nanoseconds until it
 * wants the next, or 0 when it has no more (it is dropped, and may be run
 * again later). */
typedef uint64_t (*mp_background_task_fn)(void);

/* Run task on the thread, first at once, starting the thread if it is not
 * running.  A task already running is left as it is.  false if there is no
 * thread for it: MPOOL_BACKGROUND=0, all task slots taken, or the thread
 * cannot be made (it is tried again at a later call). */
bool mp_background_run(mp_background_task_fn task) MP_HIDDEN;

/* For calls that need a single-threaded process (unshare, setns): stop
 * the thread and wait until the kernel has it gone; true if one ran.  It
 * starts again, after mp_background_resume, at the next mp_background_run or
 * mp_background_poke. */
bool mp_background_pause(void) MP_HIDDEN;
void mp_background_resume(void) MP_HIDDEN; /* after the call: a thread may start again */

/* From slow paths: start the thread if tasks are waiting for one (after
 * fork() or a pause).  One load when nothing waits. */
void mp_background_poke(void) MP_HIDDEN;

/* fork() in a program whose only other thread is ours (it need not take
 * any lock): hold the thread outside its tasks until the fork is done;
 * false if it does not run.  The parent releases it. */
bool mp_background_fork_hold(void) MP_HIDDEN;
void mp_background_fork_release(void) MP_HIDDEN;
/* In a fork child: the thread is not there; its tasks wait for the next
 * poke. */
void mp_background_fork_child(void) MP_HIDDEN;
bool mp_background_ever_started(void) MP_HIDDEN;

bool mp_background_running(void) MP_HIDDEN; /* for the stats and tests */

#endif
