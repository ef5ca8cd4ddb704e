/* guard_handler.c - a program's own SIGSEGV handler, next to libmpool's
 * guard pages (MPOOL_GUARD_SAMPLE).
 *
 *   guard_handler before|after|query|none|resethand
 *
 * The program leans on SIGSEGV the way a GC write barrier or a JIT does: a
 * page of its own, mapped PROT_NONE; its SA_SIGINFO handler checks that the
 * fault is on that page (si_addr, si_signo, si_code), opens the page with
 * mprotect and returns, and the write is retried.  Outside guarded memory
 * libmpool's handler must be invisible: the program sees every one of its
 * faults, sigaction() shows the program's handler, and an unhandled fault
 * kills by SIGSEGV as it does without libmpool.
 *
 *   before     handler installed first thing in main, before any malloc; 1000
 *              faults, each with malloc/free traffic in between (so libmpool
 *              guards blocks meanwhile); all 1000 must arrive
 *   after      the same, the handler installed after 10 000 mallocs (libmpool
 *              has set its own up by then)
 *   query      sigaction(SIGSEGV/SIGBUS, NULL, &old) is SIG_DFL before the
 *              program installs anything; after sigaction(), exactly that
 *              handler, flags and mask; after signal(), that handler (and
 *              signal() returns the previous one); each of them gets a fault;
 *              SIG_DFL restored reads back
 *   none       no handler: prints "faulting", dereferences address 0x10 and
 *              must die by SIGSEGV (not SIGABRT, no report)
 *   resethand  an SA_RESETHAND handler: the first fault is handled, the
 *              handler reads back as SIG_DFL, the program prints "first fault
 *              handled"; the second fault kills it by SIGSEGV
 *
 * before/after/query print "ok" and exit 0; any failure is a FAIL line on
 * stderr and exit 1 (an unexpected fault in the handler: exit 3).
 * Build with -fno-builtin -O1 -g -D_GNU_SOURCE (-rdynamic is harmless).
 */
#define _GNU_SOURCE 1
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 1000

static char *page;               /* the program's own page */
static long page_size;
static volatile sig_atomic_t faults, bad_faults;
static volatile sig_atomic_t plain_faults; /* faults seen by the signal() handler */
static int failed;

#define FAIL(...)                                     \
    do {                                              \
        failed++;                                     \
        fprintf(stderr, "FAIL guard_handler: " __VA_ARGS__); \
    } while (0)

static void say(const char *s)
{
    if (write(STDERR_FILENO, s, strlen(s)) < 0) {}
}

/* the write barrier: the fault must be ours, on our page */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
    char *a = si ? (char *)si->si_addr : NULL;
    if (sig != SIGSEGV || si == NULL || uc == NULL || si->si_signo != SIGSEGV ||
        si->si_code != SEGV_ACCERR || a < page || a >= page + page_size) {
        bad_faults++;
        say("FAIL guard_handler: a fault not on the program's page reached its handler\n");
        _exit(3);
    }
    if (mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) {
        say("FAIL guard_handler: mprotect in the handler\n");
        _exit(3);
    }
    faults++;
}

/* a signal()-style handler: no siginfo, opens the page all the same */
static void on_segv_plain(int sig)
{
    if (sig != SIGSEGV || mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) {
        say("FAIL guard_handler: plain handler\n");
        _exit(3);
    }
    plain_faults++;
}

static void install(int extra_flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | extra_flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) {
        FAIL("sigaction(SIGSEGV)\n");
        exit(1);
    }
}

static void map_page(void)
{
    page_size = sysconf(_SC_PAGESIZE);
    page = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
}

static void protect(void)
{
    if (mprotect(page, page_size, PROT_NONE) != 0) {
        perror("mprotect");
        exit(1);
    }
}

/* touch the protected page: one fault, handled, the write retried */
__attribute__((noinline)) static void touch(int i)
{
    volatile char *v = page;
    v[(i * 61) % page_size] = (char)(i | 1);
    if (v[(i * 61) % page_size] != (char)(i | 1))
        FAIL("the write at round %d did not land\n", i);
}

static volatile uintptr_t sink;

/* the allocator's traffic between two faults */
__attribute__((noinline)) static void traffic(int n, int seed)
{
    void *keep[16];
    for (int i = 0; i < n; i++) {
        size_t size = 1 + (size_t)((i + seed) * 131) % 4096;
        char *p = malloc(size);
        if (!p) {
            FAIL("malloc(%zu) = NULL\n", size);
            exit(1);
        }
        p[0] = 1;
        p[size - 1] = 2;
        sink += (uintptr_t)p[size - 1];
        if (i < 16)
            keep[i] = p;
        else
            free(p);
    }
    for (int i = 0; i < n && i < 16; i++)
        free(keep[i]);
}

static int barrier_rounds(void)
{
    for (int i = 0; i < ROUNDS; i++) {
        protect();
        traffic(20, i);
        int before = faults;
        touch(i);
        if (faults != before + 1) {
            FAIL("round %d: %d faults reached the handler, want 1\n", i, faults - before);
            break;
        }
    }
    if (faults != ROUNDS || bad_faults)
        FAIL("%d faults of %d reached the handler (%d not ours)\n", (int)faults, ROUNDS,
             (int)bad_faults);
    return failed == 0;
}

static int same_mask(const sigset_t *a, const sigset_t *b)
{
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP && sigismember(a, s) != sigismember(b, s))
            return 0;
    return 1;
}

/* the kernel adds SA_RESTORER to what it reads back */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
#define FLAGS(f) ((f) & ~SA_RESTORER)

static void query(void)
{
    struct sigaction old;
    traffic(10000, 0);

    /* nothing installed yet: SIG_DFL, for SIGSEGV and SIGBUS */
    int sigs[2] = {SIGSEGV, SIGBUS};
    for (int k = 0; k < 2; k++) {
        memset(&old, 0xff, sizeof old);
        if (sigaction(sigs[k], NULL, &old) != 0)
            FAIL("sigaction(%d, NULL, &old) failed\n", sigs[k]);
        else if (old.sa_handler != SIG_DFL)
            FAIL("signal %d: handler %p before the program set one, want SIG_DFL\n", sigs[k],
                 (void *)old.sa_handler);
    }

    /* sigaction: the same handler, flags and mask back */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaddset(&sa.sa_mask, SIGTERM);
    memset(&old, 0xff, sizeof old);
    if (sigaction(SIGSEGV, &sa, &old) != 0)
        FAIL("sigaction(SIGSEGV, &sa, &old) failed\n");
    else if (old.sa_handler != SIG_DFL)
        FAIL("installing: the previous handler is %p, want SIG_DFL\n", (void *)old.sa_handler);
    traffic(1000, 1);
    memset(&old, 0, sizeof old);
    sigaction(SIGSEGV, NULL, &old);
    if (old.sa_sigaction != on_segv)
        FAIL("sigaction reads back handler %p, want the program's %p\n", (void *)old.sa_sigaction,
             (void *)on_segv);
    if (FLAGS(old.sa_flags) != sa.sa_flags)
        FAIL("sigaction reads back flags 0x%x, want 0x%x\n", (unsigned)FLAGS(old.sa_flags),
             (unsigned)sa.sa_flags);
    if (!same_mask(&old.sa_mask, &sa.sa_mask))
        FAIL("sigaction reads back another sa_mask\n");
    /* and it is the one that runs (SA_ONSTACK without an alternate stack: the
     * current one) */
    protect();
    int before = faults;
    touch(1);
    if (faults != before + 1)
        FAIL("the sigaction handler got %d faults, want 1\n", faults - before);

    /* signal(): returns the previous handler, installs the new one */
    sighandler_t prev = signal(SIGSEGV, on_segv_plain);
    if ((void *)prev != (void *)on_segv)
        FAIL("signal() returned %p, want the previous handler %p\n", (void *)prev, (void *)on_segv);
    traffic(1000, 2);
    memset(&old, 0, sizeof old);
    sigaction(SIGSEGV, NULL, &old);
    if (old.sa_handler != on_segv_plain)
        FAIL("after signal(): handler %p, want %p\n", (void *)old.sa_handler, (void *)on_segv_plain);
    if (old.sa_flags & (SA_SIGINFO | SA_RESETHAND))
        FAIL("after signal(): flags 0x%x\n", (unsigned)old.sa_flags);
    protect();
    touch(2);
    if (plain_faults != 1)
        FAIL("the signal() handler got %d faults, want 1\n", (int)plain_faults);
    if (signal(SIGSEGV, on_segv_plain) != on_segv_plain)
        FAIL("signal() again did not return the signal() handler\n");

    /* back to SIG_DFL, and SIG_IGN for SIGBUS: read back as set */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    memset(&old, 0, sizeof old);
    if (sigaction(SIGSEGV, &dfl, &old) != 0 || old.sa_handler != on_segv_plain)
        FAIL("restoring SIG_DFL: the previous handler read %p\n", (void *)old.sa_handler);
    traffic(1000, 3);
    memset(&old, 0xff, sizeof old);
    sigaction(SIGSEGV, NULL, &old);
    if (old.sa_handler != SIG_DFL)
        FAIL("SIG_DFL restored, handler reads %p\n", (void *)old.sa_handler);
    if (signal(SIGBUS, SIG_IGN) == SIG_ERR)
        FAIL("signal(SIGBUS, SIG_IGN)\n");
    traffic(1000, 4);
    memset(&old, 0, sizeof old);
    sigaction(SIGBUS, NULL, &old);
    if (old.sa_handler != SIG_IGN)
        FAIL("SIGBUS set to SIG_IGN reads %p\n", (void *)old.sa_handler);
    signal(SIGBUS, SIG_DFL);
    traffic(1000, 5);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "before")) {
        map_page(); /* mmap, not malloc */
        install(0);
        traffic(10000, 0);
        barrier_rounds();
    } else if (!strcmp(mode, "after")) {
        traffic(10000, 0);
        map_page();
        install(0);
        barrier_rounds();
    } else if (!strcmp(mode, "query")) {
        map_page();
        query();
    } else if (!strcmp(mode, "none")) {
        traffic(10000, 0);
        printf("faulting\n");
        fflush(stdout);
        volatile int *bad = (volatile int *)(uintptr_t)0x10;
        *bad = 1;
        traffic(100, 1);
        printf("survived a write to 0x10\n");
        return 1;
    } else if (!strcmp(mode, "resethand")) {
        traffic(10000, 0);
        map_page();
        install(SA_RESETHAND);
        protect();
        traffic(100, 1);
        touch(1);
        struct sigaction old;
        memset(&old, 0xff, sizeof old);
        sigaction(SIGSEGV, NULL, &old);
        if (faults != 1)
            FAIL("SA_RESETHAND: %d faults reached the handler, want 1\n", (int)faults);
        if (old.sa_handler != SIG_DFL)
            FAIL("SA_RESETHAND: after the first fault the handler reads %p, want SIG_DFL\n",
                 (void *)old.sa_handler);
        if (failed)
            return 1;
        printf("first fault handled\n");
        fflush(stdout);
        protect();
        traffic(100, 2);
        touch(2);
        printf("survived the second fault\n");
        return 1;
    } else {
        fprintf(stderr, "usage: guard_handler before|after|query|none|resethand\n");
        return 2;
    }
    if (failed)
        return 1;
    printf("ok\n");
    return 0;
}
