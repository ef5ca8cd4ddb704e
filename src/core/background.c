/* The background thread, mpool-bg.
 *
 * Modules hand it tasks (core/reclaim.c the decay of freed memory while
 * the program does not call malloc, observe/series.c the time series).
 * Each task has a slot of its own, kept for good; the thread runs the
 * active ones when they are due and sleeps on a futex until the next.  It
 * exists only while a task is active: with none left it ends, and the next
 * mp_background_run starts another.  So a program that never frees much and
 * asks for no series never has one.
 *
 * It never holds a lock the program could need (the tasks take the same
 * atomic flags the allocator's slow paths do), blocks every signal, so the
 * program's handlers never run on it, and never keeps the process alive:
 * exit() ends it like any thread, and when a program's last thread ends
 * with pthread_exit (which ends the process only when no thread is left)
 * it finds itself alone and calls exit(0), as glibc does for the last
 * thread.
 *
 * Starting it: from a slow path of malloc or free (pthread_create itself
 * allocates: those calls find the thread STARTING and go on).  In a fork
 * child it is gone; its tasks wait for the child's next slow path
 * (mp_background_poke), so a child that execs at once starts none.  A
 * program that must be single-threaded for a call (unshare and setns of a
 * user or mount namespace fail with EINVAL otherwise) gets it:
 * preload/namespaces.c stops the thread around those calls. */
#define _GNU_SOURCE
#include "core/background.h"
#include "base/options.h"
#include "platform/os.h"

#include <stdlib.h>

enum { IDLE, STARTING, RUNNING, STOPPING, PAUSED };
enum { SLOTS = 4 };
#define STACK_BYTES ((size_t)128 * 1024)
#define LONGEST_SLEEP_NS ((uint64_t)1000000000) /* a look at least this often */

typedef struct slot {
    _Atomic(mp_background_task_fn) task; /* set once: the slot is the task's for good */
    _Atomic bool active;
    _Atomic uint32_t requests;           /* mp_background_run calls: see run_slot */
    uint64_t due_ns;                     /* the thread's own */
} slot_t;

static slot_t slots[SLOTS];
static _Atomic uint32_t state;
static _Atomic uint32_t wake_word;   /* changed to wake the thread before its time */
static _Atomic bool waiting;         /* active tasks and no thread: the next poke starts one */
static unsigned long handle;         /* the thread's, while RUNNING or STOPPING */
static _Atomic bool ever_started;
/* fork() in a program whose one other thread is ours: the thread runs no
 * task while fork_hold is set, and in_task says whether it is in one. */
static _Atomic int in_task, fork_hold;

bool mp_background_running(void)
{
    return atomic_load(&state) == RUNNING;
}

static bool any_active(void)
{
    for (int i = 0; i < SLOTS; i++)
        if (atomic_load(&slots[i].active))
            return true;
    return false;
}

/* Run the slot's task if due.  A run request that comes while the task
 * decides it is done keeps it active: `requests` is read before the task
 * runs and checked again after it lets go. */
static void run_slot(slot_t *s, uint64_t now)
{
    if (now < s->due_ns)
        return;
    uint32_t seen = atomic_load(&s->requests);
    uint64_t delay = atomic_load(&s->task)();
    if (delay == 0 && atomic_load(&s->requests) == seen) {
        atomic_store(&s->active, false);
        if (atomic_load(&s->requests) == seen)
            return;
        atomic_store(&s->active, true); /* asked for again meanwhile */
    }
    s->due_ns = now + (delay ? delay : 1);
}

/* No task left: end, unless one came meanwhile.  true: the thread ends. */
static bool retire(void)
{
    uint32_t running = RUNNING;
    if (!atomic_compare_exchange_strong(&state, &running, IDLE))
        return true; /* STOPPING: mp_background_pause joins it */
    if (any_active()) {
        uint32_t idle = IDLE;
        if (atomic_compare_exchange_strong(&state, &idle, RUNNING))
            return false;
    }
    mp_os_thread_detach_self(); /* nobody joins a thread that ended on its own */
    return true;
}

static void *thread_main(void *arg)
{
    (void)arg;
    mp_os_thread_name("mpool-bg");
    while (atomic_load(&state) == STARTING)
        mp_os_yield(); /* until the starter has its handle */
    for (;;) {
        uint32_t seen = atomic_load(&wake_word);
        uint64_t now = mp_os_now_ns(), next = now + LONGEST_SLEEP_NS;
        bool any = false;
        atomic_store(&in_task, 1);
        if (atomic_load(&fork_hold)) {
            atomic_store(&in_task, 0);
            mp_os_futex_wait(&wake_word, seen, 1000000); /* until the fork is over */
            continue;
        }
        for (int i = 0; i < SLOTS; i++) {
            slot_t *s = &slots[i];
            if (!atomic_load(&s->active))
                continue;
            run_slot(s, now);
            if (atomic_load(&s->active)) {
                any = true;
                if (s->due_ns < next)
                    next = s->due_ns;
            }
        }
        atomic_store(&in_task, 0);
        if (atomic_load(&state) == STOPPING)
            return NULL;
        if (!any) {
            if (retire())
                return NULL;
            continue;
        }
        if (mp_os_live_threads() == 1)
            exit(0); /* every thread of the program ended with pthread_exit */
        now = mp_os_now_ns();
        if (next > now)
            mp_os_futex_wait(&wake_word, seen, (int64_t)(next - now));
    }
}

static void wake_thread(void)
{
    atomic_fetch_add(&wake_word, 1);
    mp_os_futex_wake(&wake_word, 1);
}

/* A thread for the active tasks: wake the one there is, or start one. */
static bool ensure_thread(void)
{
    for (;;) {
        uint32_t s = atomic_load(&state);
        if (s == RUNNING) {
            wake_thread();
            return true;
        }
        if (s == STARTING)
            return true; /* pthread_create allocating: the thread will see the task */
        if (s == STOPPING || s == PAUSED) {
            atomic_store(&waiting, true);
            return true;
        }
        if (atomic_compare_exchange_weak(&state, &s, STARTING))
            break;
    }
    unsigned long h;
    if (!mp_os_thread_start(thread_main, NULL, STACK_BYTES, &h)) {
        atomic_store(&state, IDLE);
        atomic_store(&waiting, true); /* tried again at a later slow path */
        return false;
    }
    handle = h;
    atomic_store(&ever_started, true);
    atomic_store(&state, RUNNING);
    return true;
}

bool mp_background_run(mp_background_task_fn task)
{
    if (!mp_opt.background)
        return false;
    slot_t *s = NULL;
    for (int i = 0; i < SLOTS && s == NULL; i++) {
        mp_background_task_fn t = atomic_load(&slots[i].task);
        if (t == NULL && atomic_compare_exchange_strong(&slots[i].task, &t, task))
            t = task;
        if (t == task)
            s = &slots[i];
    }
    if (s == NULL)
        return false;
    atomic_fetch_add(&s->requests, 1);
    atomic_store(&s->active, true);
    return ensure_thread();
}

void mp_background_poke(void)
{
    if (MP_UNLIKELY(atomic_load_explicit(&waiting, memory_order_relaxed)) &&
        atomic_exchange(&waiting, false) && any_active())
        ensure_thread();
}

bool mp_background_pause(void)
{
    for (;;) {
        uint32_t s = atomic_load(&state);
        if (s == IDLE && atomic_compare_exchange_weak(&state, &s, PAUSED))
            return false;
        if (s == RUNNING && atomic_compare_exchange_weak(&state, &s, STOPPING)) {
            wake_thread();
            mp_os_thread_join(handle);
            atomic_store(&state, PAUSED);
            return true;
        }
        if (s == PAUSED || s == STOPPING)
            return false; /* another thread's pause */
        mp_os_yield(); /* STARTING: let it finish */
    }
}

void mp_background_resume(void)
{
    uint32_t paused = PAUSED;
    if (atomic_compare_exchange_strong(&state, &paused, IDLE) && any_active())
        atomic_store(&waiting, true);
}

bool mp_background_ever_started(void)
{
    return atomic_load_explicit(&ever_started, memory_order_relaxed);
}

/* No lock of the program's can hold up a task (they take none, and
 * jemalloc's are taken with signals blocked, so a handler that forks never
 * interrupts one), so the wait is short. */
bool mp_background_fork_hold(void)
{
    uint32_t s = atomic_load(&state);
    if (s != RUNNING && s != STARTING && s != STOPPING)
        return false;
    atomic_store(&fork_hold, 1);
    while (atomic_load(&in_task))
        mp_os_yield();
    return true;
}

void mp_background_fork_release(void)
{
    atomic_store(&fork_hold, 0);
}

void mp_background_fork_child(void)
{
    atomic_store(&fork_hold, 0);
    atomic_store(&in_task, 0);
    atomic_store(&state, IDLE);
    atomic_store(&waiting, any_active());
}
