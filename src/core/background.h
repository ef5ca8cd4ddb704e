/* The background thread, mpool-bg: runs the tasks other modules give it
 * (the decay of freed memory, the time series); started only where that
 * is safe, asleep while there is no work (background.c). */
#ifndef MPOOL_BACKGROUND_H
#define MPOOL_BACKGROUND_H

#include "base/base.h"

/* A task: does one round of its work and returns the nanoseconds until it
 * wants the next, or 0 when it has no more (it is dropped, and may be run
 * again later). */
typedef uint64_t (*mp_background_task_fn)(void);

/* Start the thread if it is not running.  Only from an allocation slow
 * path or an ordinary call (a constructor): never from free(), which glibc
 * calls holding the lock pthread_create takes.  false: MPOOL_BACKGROUND=0,
 * or it cannot be made. */
bool mp_background_start(void) MP_HIDDEN;

/* Run task on the thread, first at once: wakes the thread, or leaves the
 * task waiting for the next mp_background_start / mp_background_poke.
 * Safe anywhere (a futex wake at most).  A task already active stays so.
 * false: MPOOL_BACKGROUND=0, or all task slots taken. */
bool mp_background_run(mp_background_task_fn task) MP_HIDDEN;

/* From allocation slow paths: start the thread if tasks wait for one
 * (after fork(), or a start that failed).  One load when nothing waits. */
void mp_background_poke(void) MP_HIDDEN;

/* For calls that need a single-threaded process (unshare, setns): stop
 * the thread (joined); true if one ran.  resume starts it again if it has
 * work. */
bool mp_background_pause(void) MP_HIDDEN;
void mp_background_resume(void) MP_HIDDEN;

/* A program thread is ending (its cache's destructor): if it is the last,
 * ours is stopped first, so the process ends when it does. */
void mp_background_program_thread_exit(void) MP_HIDDEN;

/* fork() in a program whose only other thread is ours (it need not take
 * any lock): hold the thread outside its tasks until the fork is done;
 * false if it does not run.  The parent releases it. */
bool mp_background_fork_hold(void) MP_HIDDEN;
void mp_background_fork_release(void) MP_HIDDEN;
/* In a fork child: the thread is not there; its tasks wait for the next
 * allocation slow path. */
void mp_background_fork_child(void) MP_HIDDEN;
bool mp_background_ever_started(void) MP_HIDDEN;
bool mp_background_running(void) MP_HIDDEN; /* for the stats and tests */
bool mp_background_is_self(void) MP_HIDDEN; /* the calling thread is ours */

#endif
