/* The fault handler (fault.h).
 *
 * The program's action for each of the two signals is kept in two copies,
 * the current one named by an index, so the handler reads a whole one while
 * a sigaction call writes the other.  sigaction calls take a spin lock with
 * every signal blocked: a handler on the same thread cannot deadlock on it. */
#define _GNU_SOURCE
#include "guard/fault.h"
#include "guard/guard.h"
#include "guard/report.h"
#include "platform/os.h"
#include "profile/stack.h"

#include <errno.h>
#include <string.h>
#include <ucontext.h>

static struct sigaction program[2][2]; /* [SIGSEGV, SIGBUS][copy] */
static _Atomic unsigned current[2];
static _Atomic bool installed;
static _Atomic bool writing;

static int which(int sig)
{
    return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1;
}

static void lock(sigset_t *saved)
{
    mp_os_block_signals(saved);
    while (atomic_exchange_explicit(&writing, true, memory_order_acquire))
        mp_os_yield();
}

static void unlock(const sigset_t *saved)
{
    atomic_store_explicit(&writing, false, memory_order_release);
    mp_os_restore_signals(saved);
}

static void set_program_action(int w, const struct sigaction *act)
{
    unsigned next = 1 - atomic_load_explicit(&current[w], memory_order_relaxed);
    program[w][next] = *act;
    atomic_store_explicit(&current[w], next, memory_order_release);
}

int mp_guard_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int w = which(sig);
    if (w < 0 || !atomic_load_explicit(&installed, memory_order_acquire))
        return mp_os_sigaction(sig, act, old);
    sigset_t saved;
    lock(&saved);
    int rc = 0;
    if (!atomic_load_explicit(&installed, memory_order_relaxed)) {
        rc = mp_os_sigaction(sig, act, old);
    } else {
        if (old)
            *old = program[w][atomic_load_explicit(&current[w], memory_order_relaxed)];
        if (act)
            set_program_action(w, act);
    }
    int err = errno;
    unlock(&saved);
    errno = err;
    return rc;
}

/* ---- a fault in the guarded area ------------------------------------------ */

__attribute__((noreturn)) static void report_fault(uintptr_t addr, const ucontext_t *uc)
{
    const mp_guard_slot_t *s = mp_guard_slot_near(addr);
    bool write = uc->uc_mcontext.gregs[REG_ERR] & 2; /* the page fault's error code */
    const char *kind = "unknown-crash";
    if (s && mp_guard_in_data_page(addr, s))
        kind = atomic_load_explicit(&s->state, memory_order_acquire) == MP_GUARD_FREED ? "use-after-free"
                                                                                       : "unknown-crash";
    else if (s)
        kind = addr >= s->block ? "heap-buffer-overflow" : "heap-buffer-underflow";
    /* the stack from the faulting instruction on: this handler's frames and
     * the kernel's signal frame come first */
    void *raw[MP_GUARD_DEPTH + 16];
    mp_backtrace_fn backtrace = __atomic_load_n(&mp_stack_unwinder, __ATOMIC_ACQUIRE);
    int n = (backtrace ? backtrace : __backtrace)(raw, MP_GUARD_DEPTH + 16); /* no dlopen here */
    void *pc = (void *)uc->uc_mcontext.gregs[REG_RIP];
    int from = 0;
    while (from < n && raw[from] != pc)
        from++;
    mp_guard_report_t r = { .kind = kind, .addr = addr, .access = write ? "WRITE" : "READ", .slot = s };
    if (from < n) {
        r.here = raw + from;
        r.here_depth = (unsigned)(n - from) > MP_GUARD_DEPTH ? MP_GUARD_DEPTH : (unsigned)(n - from);
        r.here_starts_at_pc = true;
    } else { /* the unwinder did not cross the signal frame: the faulting pc alone */
        r.here = &pc;
        r.here_depth = 1;
        r.here_starts_at_pc = true;
    }
    mp_guard_report_bug(&r, false);
}

/* ---- any other: as if we had no handler ------------------------------------- */

static void pass_on(int sig, siginfo_t *info, void *ucv)
{
    int w = which(sig);
    struct sigaction pa = program[w][atomic_load_explicit(&current[w], memory_order_acquire)];
    bool sent = info->si_code <= 0; /* by kill(2) and the like, not by a fault */
    if (pa.sa_handler == SIG_IGN && sent)
        return;
    if (pa.sa_handler == SIG_DFL || pa.sa_handler == SIG_IGN) {
        /* The default action: a fault happens again when we return, now
         * with no handler (the kernel would not ignore it either); a sent
         * signal is sent again, and arrives once we return. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        mp_os_sigaction(sig, &dfl, NULL);
        if (sent)
            mp_os_raise(sig);
        return;
    }
    /* the program's handler, under the mask the kernel would have set */
    sigset_t mask = ((ucontext_t *)ucv)->uc_sigmask;
    sigorset(&mask, &mask, &pa.sa_mask);
    if (!(pa.sa_flags & SA_NODEFER))
        sigaddset(&mask, sig);
    mp_os_set_sigmask(&mask);
    if (pa.sa_flags & SA_RESETHAND) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        set_program_action(w, &dfl);
    }
    if (pa.sa_flags & SA_SIGINFO)
        pa.sa_sigaction(sig, info, ucv);
    else
        pa.sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *info, void *ucv)
{
    int saved_errno = errno;
    uintptr_t addr = (uintptr_t)info->si_addr;
    if (sig == SIGSEGV && info->si_code > 0 && mp_guard_owns((const void *)addr))
        report_fault(addr, ucv);
    pass_on(sig, info, ucv);
    errno = saved_errno;
}

void mp_guard_fault_install(void)
{
    if (MP_LIKELY(atomic_load_explicit(&installed, memory_order_acquire)))
        return;
    sigset_t saved;
    lock(&saved);
    if (!atomic_load_explicit(&installed, memory_order_relaxed)) {
        struct sigaction ours;
        memset(&ours, 0, sizeof ours);
        ours.sa_sigaction = on_fault;
        /* NODEFER: the program's handler gets the mask it asked for (pass_on);
         * ONSTACK: a program that catches its stack overflows on an
         * alternate stack still can */
        ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
        sigemptyset(&ours.sa_mask);
        for (int sig = SIGBUS, i = 0; i < 2; i++, sig = SIGSEGV) {
            int w = which(sig);
            struct sigaction was;
            if (mp_os_sigaction(sig, NULL, &was) != 0)
                continue;
            program[w][0] = was;
            atomic_store_explicit(&current[w], 0, memory_order_relaxed);
            mp_os_sigaction(sig, &ours, NULL);
        }
        atomic_store_explicit(&installed, true, memory_order_release);
    }
    unlock(&saved);
}
