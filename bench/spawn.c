/* spawn: measurement helper used by scripts/bench (not a workload).
 *
 * usage: spawn RESULT_FILE PROGRAM [ARGS...]
 *
 * Runs PROGRAM as a child, waits for it with wait4() and writes one line
 *   "<wait status> <ru_maxrss KiB> <wall seconds> <user s> <sys s>"
 * to RESULT_FILE. Exits 0 if the measurement itself worked.
 *
 * Why a helper: Linux carries a process's peak RSS across execve(), and a
 * child forked (or vforked) from the Python runner starts out with the
 * runner's own ~40 MiB mapped, so wait4() on a direct child of Python reports
 * max(runner RSS, program RSS). The program forked from this tiny helper
 * starts from the helper's ~1 MiB instead, so ru_maxrss is the program's own.
 * stdin/stdout/stderr and the environment are passed through unchanged,
 * except that if BENCH_PRELOAD is set, the child gets LD_PRELOAD=$BENCH_PRELOAD
 * (and no BENCH_PRELOAD): the allocator under test is loaded into the measured
 * program only, never into this helper.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child = -1;

static void forward(int sig)
{
    if (child > 0) kill(child, sig);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s RESULT_FILE PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    child = fork();
    if (child < 0) { perror("fork"); return 125; }
    if (child == 0) {
        const char *pre = getenv("BENCH_PRELOAD");
        if (pre) {
            if (*pre) setenv("LD_PRELOAD", pre, 1);
            else unsetenv("LD_PRELOAD");
            unsetenv("BENCH_PRELOAD");
        }
        execvp(argv[2], argv + 2);
        fprintf(stderr, "spawn: cannot execute %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    pid_t r;
    do {
        r = wait4(child, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r < 0) { perror("wait4"); return 125; }
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror(argv[1]); return 125; }
    fprintf(f, "%d %ld %.9f %.6f %.6f\n", status, ru.ru_maxrss,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6);
    if (fclose(f) != 0) { perror(argv[1]); return 125; }
    return 0;
}
