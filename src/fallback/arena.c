/* Our jemalloc arena: made on the first fallback request (arenas.create),
 * with jemalloc's thread cache bypassed, so the program's own use of
 * jemalloc, if any, and ours share no state.  Also here: the estimate of the
 * dirty pages the arena holds (what fallback.c frees into it, what the huge
 * cache cuts off), the purge that releases them, and jemalloc's fork
 * handlers. */
#define _GNU_SOURCE
#include "platform/os.h"
#include "fallback/arena.h"
#include "base/fmt.h"
#include "fallback/jemalloc.h"


/* The embedded jemalloc's settings (scripts/embed-jemalloc renames its
 * malloc_conf to this), read when it starts.  trust_madvise: no test
 * mapping at start-up, whose failure under an address-space limit jemalloc
 * 5.3 does not survive (it writes to the address mmap refused).  Under a
 * limit (RLIMIT_AS) when it starts, also retain:false: extents it purges are
 * unmapped, so the address space of freed blocks goes back to the process
 * (threads, later big blocks).  Without one, jemalloc keeps purged extents'
 * addresses for reuse (realloc's peak RSS: docs/PERFORMANCE.md). */
#if MP_EMBEDDED_JEMALLOC
MP_HIDDEN const char *mp_je_malloc_conf = "trust_madvise:true";
#endif

static void choose_settings(void)
{
#if MP_EMBEDDED_JEMALLOC
    if (mp_os_address_space_limit() != SIZE_MAX)
        mp_je_malloc_conf = "trust_madvise:true,retain:false";
#endif
}

static _Atomic int arena_state; /* 0 none, 1 being made, 2 ready */
MP_TLS int mp_je_depth;
static int arena_flags;         /* MALLOCX_ARENA(ours) | MALLOCX_TCACHE_NONE */
static char purge_name[32];     /* "arena.<ours>.purge", once ours exists */
static MP_TLS int making_arena; /* jemalloc called back into us while we made it */
/* Bytes freed to jemalloc since its last purge, an upper bound of its dirty
 * pages; and the purges so far. */
static _Atomic size_t freed_dirty;
static _Atomic uint64_t purges;
/* Our arena could not be made (memory ran short, RLIMIT_AS): blocks came
 * from jemalloc's own arenas meanwhile, and a purge purges them all
 * (MALLCTL_ARENAS_ALL: the embedded jemalloc serves only us). */
static _Atomic bool default_used;

int mp_arena_flags(void)
{
    if (MP_LIKELY(atomic_load_explicit(&arena_state, memory_order_acquire) == 2))
        return arena_flags;
    if (making_arena)
        return 0; /* recursion from inside arenas.create: the default arena */
    int expected = 0;
    if (atomic_compare_exchange_strong(&arena_state, &expected, 1)) {
        making_arena = 1;
        choose_settings(); /* before jemalloc's first call, which starts it */
        unsigned ind;
        size_t sz = sizeof ind;
        int flags = MALLOCX_TCACHE_NONE;
        signal_guard_t g;
        guard_begin(&g);
        int err = mallctl("arenas.create", &ind, &sz, NULL, 0);
        guard_end(&g);
        if (err == 0) {
            flags |= MALLOCX_ARENA(ind);
            /* jemalloc purges extents above its oversize threshold (8 MiB) at
             * once, in every arena: each 5-25 MiB malloc/free then costs a
             * page fault per page (docs/PERFORMANCE.md, "large").  Ours
             * keep the arena's ordinary decay (dirty pages returned within
             * ~10 s). */
            char name[64];
            size_t never = (size_t)1 << 62;
            mp_fmt(name, sizeof name, "arena.%u.oversize_threshold", ind);
            guard_begin(&g);
            mallctl(name, NULL, NULL, &never, sizeof never);
            guard_end(&g);
            mp_fmt(purge_name, sizeof purge_name, "arena.%u.purge", ind);
            arena_flags = flags;
        }
        making_arena = 0;
        if (err != 0) { /* the default arena for now; made at a later call */
            atomic_store(&default_used, true);
            atomic_store_explicit(&arena_state, 0, memory_order_release);
            return flags;
        }
        atomic_store_explicit(&arena_state, 2, memory_order_release);
        return arena_flags;
    }
    while (atomic_load_explicit(&arena_state, memory_order_acquire) == 1)
        mp_os_yield();
    if (atomic_load_explicit(&arena_state, memory_order_acquire) == 2)
        return arena_flags;
    atomic_store(&default_used, true);
    return MALLOCX_TCACHE_NONE;
}

bool mp_arena_ready(void)
{
    return atomic_load_explicit(&arena_state, memory_order_acquire) == 2;
}

void mp_arena_purge(void)
{
    /* reset first: what another thread frees meanwhile is counted, not lost */
    atomic_store_explicit(&freed_dirty, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&purges, 1, memory_order_relaxed);
    if (atomic_load(&default_used)) /* every arena: those jemalloc gave our threads */
        mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
    if (atomic_load_explicit(&arena_state, memory_order_acquire) == 2)
        mallctl(purge_name, NULL, NULL, NULL, 0);
}

void mp_arena_note_dirty(size_t bytes)
{
    atomic_fetch_add_explicit(&freed_dirty, bytes, memory_order_relaxed);
}

size_t mp_arena_dirty_bytes(void)
{
    return atomic_load_explicit(&freed_dirty, memory_order_relaxed);
}

uint64_t mp_arena_purges(void)
{
    return atomic_load_explicit(&purges, memory_order_relaxed);
}

/* jemalloc's fork handlers.  The embedded jemalloc's call to pthread_atfork
 * lands here (scripts/embed-jemalloc renames it), so its handlers run inside
 * ours, in the order core/init.c sets: after the stdio list lock, never
 * before it.  Unset until jemalloc has started. */
static void (*_Atomic je_prepare)(void), (*_Atomic je_parent)(void), (*_Atomic je_child)(void);

#if MP_EMBEDDED_JEMALLOC
MP_HIDDEN int mp_je_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    atomic_store(&je_parent, parent);
    atomic_store(&je_child, child);
    atomic_store(&je_prepare, prepare); /* last: prepare set means all are */
    return 0;
}
#endif

static bool je_locked; /* the prepare handler ran jemalloc's */

void mp_arena_fork_wait(void)
{
    /* Another thread may be starting jemalloc (our arena, state 1): its
     * fork handlers are not ours yet, and its locks may be held.  It needs
     * none of our locks to finish, so wait for it (unless this thread is
     * the one: a fork from a signal handler that interrupted it). */
    while (!making_arena && atomic_load_explicit(&arena_state, memory_order_acquire) == 1)
        mp_os_yield();
}

/* Last of the fallback's prepare handlers: jemalloc's own locks. */
void mp_arena_fork_prepare(void)
{
    void (*prepare)(void) = atomic_load(&je_prepare);
    je_locked = prepare != NULL;
    if (prepare)
        prepare();
}

void mp_arena_fork_parent(void)
{
    if (je_locked)
        atomic_load(&je_parent)();
}

void mp_arena_fork_child(void)
{
    if (je_locked)
        atomic_load(&je_child)();
    je_locked = false;
    /* an arena being made by a thread that does not exist in the child */
    int making = 1;
    atomic_compare_exchange_strong(&arena_state, &making, 0);
    making_arena = 0;
}
