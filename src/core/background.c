/* The background thread, mpool-bg.
 *
 * Modules hand it tasks (core/reclaim.c the decay of freed memory while
 * the program does not call malloc, observe/series.c the time series).
 * Each task has a slot of its own, kept for good; the thread runs the
 * active ones when they are due and sleeps on a futex until the next, or
 * until woken when none is active.
 *
 * When it starts: only where starting a thread is safe.  pthread_create
 * takes glibc's locks and allocates, and glibc frees a dead thread's TLS
 * while holding the lock pthread_create takes, so a free() must never
 * start it: only allocation slow paths (mp_background_start, from the
 * reclaim tick once the heap is big enough to have memory to give back,
 * or a huge block was made) and constructors (the series) do.  Frees only
 * wake it.  Once started it stays, asleep while there is no work, so a
 * program that never grows past a few megabytes and asks for no series
 * never has one.
 *
 * It never holds a lock the program could need with signals open (the
 * tasks take the allocator's atomic flags, and the fallback's locks, which
 * are taken with signals blocked while the program's only other thread is
 * ours: mp_fallback_guard_signals), blocks every signal, so the program's
 * handlers never run on it, and never keeps the process alive: exit()
 * ends it like any thread; when the last thread of the program ends with
 * pthread_exit, that thread's cache destructor stops ours first
 * (mp_background_program_thread_exit), so glibc's own rule ends the
 * process on the program's stack.
 *
 * A fork child has no thread; its tasks wait for the child's next
 * allocation slow path.  Calls that need a single-threaded process
 * (unshare and setns of user, mount and time namespaces) get it:
 * preload/namespaces.c stops the thread around them and starts it again
 * after. */
#define _GNU_SOURCE
#include "core/background.h"
#include "base/options.h"
#include "fallback/fallback.h"
#include "platform/os.h"

#include <stdlib.h>
#include <sys/single_threaded.h>

enum { IDLE, STARTING, RUNNING, STOPPING, PAUSED };
enum { SLOTS = 4 };
/* Room for the program's exit handlers too, in the rare case it is ours
 * that ends the process (a last program thread that never allocated). */
#define STACK_BYTES ((size_t)1024 * 1024)
#define IDLE_LOOK_NS ((uint64_t)10 * 1000000000) /* with nothing to do: a look this often */

typedef struct slot {
    _Atomic(mp_background_task_fn) task; /* set once: the slot is the task's for good */
    _Atomic bool active;
    _Atomic uint32_t requests;           /* mp_background_run calls: see run_slot */
    uint64_t due_ns;                     /* the thread's own */
} slot_t;

static slot_t slots[SLOTS];
static _Atomic uint32_t state;
static _Atomic uint32_t wake_word;   /* changed to wake the thread */
static _Atomic bool waiting;         /* work and no thread: the next safe start makes one */
static unsigned long handle;         /* the thread's, while RUNNING or STOPPING */
static _Atomic bool ever_started;
/* fork() in a program whose one other thread is ours: the thread runs no
 * task while fork_hold is set, and in_task says whether it is in one. */
static _Atomic int in_task, fork_hold;
static MP_TLS bool is_self; /* this thread is ours */

bool mp_background_is_self(void)
{
    return is_self;
}

bool mp_background_running(void)
{
    return atomic_load(&state) == RUNNING;
}

bool mp_background_ever_started(void)
{
    return atomic_load_explicit(&ever_started, memory_order_relaxed);
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

/* Every program thread ended, and none that ended had a cache to stop us
 * (mp_background_program_thread_exit): end the process as glibc would,
 * with the signals the process had. */
static void end_process_if_alone(void)
{
    if (mp_os_live_threads() == 1) {
        mp_os_unblock_signals();
        exit(0);
    }
}

static void *thread_main(void *arg)
{
    (void)arg;
    is_self = true;
    mp_os_thread_name("mpool-bg");
    while (atomic_load(&state) == STARTING)
        mp_os_yield(); /* until the starter has its handle */
    for (;;) {
        uint32_t seen = atomic_load(&wake_word);
        uint64_t now = mp_os_now_ns(), next = now + IDLE_LOOK_NS;
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
            if (atomic_load(&s->active) && s->due_ns < next)
                next = s->due_ns;
        }
        atomic_store(&in_task, 0);
        if (atomic_load(&state) == STOPPING)
            return NULL;
        end_process_if_alone();
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

static bool any_active(void)
{
    for (int i = 0; i < SLOTS; i++)
        if (atomic_load(&slots[i].active))
            return true;
    return false;
}

bool mp_background_start(void)
{
    if (!mp_opt.background)
        return false;
    uint32_t s = atomic_load(&state);
    if (s != IDLE || !atomic_compare_exchange_strong(&state, &s, STARTING))
        return s == RUNNING || s == STARTING;
    /* A program that was single-threaded stays so to its own eyes: the
     * fallback keeps blocking signals around its locks, so that a handler
     * that forks never finds one held under it (fallback/jemalloc.h), and
     * our thread's tasks never wait on one (mp_background_fork_hold). */
    if (__libc_single_threaded)
        mp_fallback_guard_signals(true);
    unsigned long h;
    if (!mp_os_thread_start(thread_main, NULL, STACK_BYTES, &h)) {
        atomic_store(&state, IDLE);
        atomic_store(&waiting, false); /* not again at every slow path: at the next reason */
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
    if (atomic_load(&state) == RUNNING)
        wake_thread();
    else
        atomic_store(&waiting, true);
    return true;
}

void mp_background_poke(void)
{
    if (MP_UNLIKELY(atomic_load_explicit(&waiting, memory_order_relaxed)) &&
        atomic_exchange(&waiting, false) && any_active())
        mp_background_start();
}

/* Stop the thread (joined) and leave the state `then` (IDLE or PAUSED);
 * true if one ran. */
static bool stop_thread(uint32_t then)
{
    for (;;) {
        uint32_t s = atomic_load(&state);
        if (s == RUNNING) {
            if (!atomic_compare_exchange_weak(&state, &s, STOPPING))
                continue;
            wake_thread();
            mp_os_thread_join(handle);
            atomic_store(&state, then);
            return true;
        }
        if (s == STARTING) {
            mp_os_yield(); /* let it finish */
            continue;
        }
        if (s == STOPPING)
            return false; /* another thread's stop */
        if (then == PAUSED && s == IDLE && !atomic_compare_exchange_weak(&state, &s, PAUSED))
            continue;
        return false; /* no thread */
    }
}

bool mp_background_pause(void)
{
    return stop_thread(PAUSED);
}

void mp_background_resume(void)
{
    uint32_t paused = PAUSED;
    if (atomic_compare_exchange_strong(&state, &paused, IDLE) && any_active())
        mp_background_start(); /* an ordinary call, outside the allocator */
}

/* From a thread's cache destructor: if it is the last thread of the
 * program, ours goes first, so that the process ends when it does. */
void mp_background_program_thread_exit(void)
{
    if (atomic_load(&state) == RUNNING && mp_os_live_threads() == 2)
        stop_thread(IDLE);
}

/* No lock of the program's can hold up a task (they take none, and the
 * fallback's are taken with signals blocked, so a handler that forks never
 * interrupts one), so the wait is short. */
bool mp_background_fork_hold(void)
{
    if (atomic_load(&state) != RUNNING)
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
