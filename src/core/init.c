/* Start-up, fork and the reentrancy guard.
 *
 * Initialisation runs once, on whichever thread allocates first (or from the
 * constructor).  Anything it calls that allocates re-enters malloc on the same
 * thread: mp_tls_in_init sends those requests to the bootstrap arena instead of
 * recursing.  Other threads wait for it to finish.
 *
 * fork(): the handlers take every lock libmpool has, so the child inherits
 * consistent tables, and the child re-initialises the locks.  When the process
 * is single-threaded the locks are not taken: nobody else can hold them, and a
 * fork() from a signal handler that interrupted malloc must not wait for a lock
 * the interrupted code holds (glibc makes the same exception). */
#define _GNU_SOURCE
#include "core/init.h"
#include "base/options.h"
#include "base/report.h"
#include "core/background.h"
#include "core/freelink.h"
#include "core/limit.h"
#include "core/reclaim.h"
#include "core/region.h"
#include "core/sampled.h"
#include "core/sizeclass.h"
#include "core/tcache.h"
#include "fallback/fallback.h"
#include "platform/os.h"
#include "profile/sites.h"

#include <pthread.h>
#include <sys/single_threaded.h>
#include <unistd.h>

_Atomic int mp_init_state;
MP_TLS int mp_tls_in_init;
unsigned long mp_thread_key;
uint64_t mp_start_ns;
/* prepare took the locks; parent must release them.  Per thread: two threads
 * may fork at once, and one's parent handler must not clear the flag after
 * the other's prepare set it (which left every lock taken: fork_getline). */
static MP_TLS bool fork_locked;

/* glibc's lock of its list of FILEs (exported, recursive).  glibc's fork()
 * takes it after the atfork prepare handlers, and its own malloc's locks
 * after that.  A replacement malloc that locks in a prepare handler must
 * take it first: else a thread in getline (holding its FILE's lock, in
 * realloc, waiting for ours) and one in fflush(NULL) (holding the list,
 * waiting for that FILE) deadlock the fork (tests/stress/fork_getline). */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

static MP_TLS bool fork_held; /* prepare held our thread instead */

/* The program has no thread but the caller (and perhaps ours, held out of
 * its work): nobody can hold our locks, and the caller may be a signal
 * handler that interrupted one.  glibc's flag stays false once a thread
 * was made, ours too: the kernel's count tells. */
static bool program_alone(void)
{
    if (__libc_single_threaded)
        return true;
    if (!mp_background_ever_started())
        return false;
    unsigned threads = mp_os_live_threads();
    return threads == 1 || (threads == 2 && (fork_held = mp_background_fork_hold()));
}

static void fork_prepare(void)
{
    if (program_alone())
        return;
    if (_IO_list_lock)
        _IO_list_lock();
    mp_sampled_fork_prepare(); /* before the region's: a sampled span may grow it */
    mp_region_fork_prepare();
    mp_site_fork_prepare();
    mp_tcache_fork_prepare();
    mp_fallback_fork_prepare();
    fork_locked = true;
}

static void fork_parent(void)
{
    if (fork_held) {
        mp_background_fork_release();
        fork_held = false;
    }
    if (!fork_locked)
        return;
    mp_fallback_fork_parent();
    mp_tcache_fork_parent();
    mp_site_fork_parent();
    mp_region_fork_parent();
    mp_sampled_fork_parent();
    if (_IO_list_unlock)
        _IO_list_unlock();
    fork_locked = false;
}

static void fork_child(void)
{
    fork_held = false;
    mp_fallback_fork_child();
    mp_tcache_fork_child();
    mp_site_fork_child();
    mp_sampled_fork_child();
    mp_reclaim_fork_child();
    mp_region_fork_child();
    mp_background_fork_child();
    if (fork_locked && _IO_list_resetlock)
        _IO_list_resetlock(); /* glibc resets it too when it took it: harmless twice */
    fork_locked = false;
}

static void init_once(void)
{
    mp_start_ns = mp_os_now_ns();
    mp_options_load();
    if (mp_option_string(MP_OPT_heap_profile))
        mp_opt.prof = 1; /* a heap profile is made of the sampled sites */
    /* before any block is freed; debug's calls take the slow paths anyway */
    mp_freelink_init(mp_opt.safelink || mp_opt.debug);
    if (mp_opt.verbose)
        mp_options_print(STDERR_FILENO);
    mp_sizeclass_init(mp_opt.max_class);
    mp_tcache_init();
    mp_reclaim_init();
    mp_sampled_init();
    if (!mp_region_init())
        mp_warn("cannot reserve address space for the pools; every request goes to jemalloc");
    pthread_key_t key;
    if (pthread_key_create(&key, mp_tcache_thread_exit) != 0)
        mp_report_fatal("pthread_key_create failed");
    mp_thread_key = key;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (mp_opt.limit && mp_limit_set(mp_opt.limit) != 0)
        mp_warn("MPOOL_LIMIT needs the counters; this -Dcounters=false build ignores it");
}

uint64_t mp_start_unix_ms(void)
{
    return mp_os_wall_ms() - (mp_os_now_ns() - mp_start_ns) / 1000000u;
}

bool mp_init(void)
{
    if (MP_LIKELY(atomic_load_explicit(&mp_init_state, memory_order_acquire) == MP_INIT_DONE))
        return true;
    if (mp_tls_in_init)
        return false;
    int expected = MP_INIT_NONE;
    if (atomic_compare_exchange_strong(&mp_init_state, &expected, MP_INIT_RUNNING)) {
        mp_tls_in_init = 1;
        init_once();
        mp_tls_in_init = 0;
        atomic_store_explicit(&mp_init_state, MP_INIT_DONE, memory_order_release);
        return true;
    }
    while (atomic_load_explicit(&mp_init_state, memory_order_acquire) != MP_INIT_DONE)
        mp_os_yield();
    return true;
}

__attribute__((constructor)) static void mp_constructor(void)
{
    mp_init();
}
