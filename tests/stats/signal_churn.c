/* Threads churn the heap while the process sends itself the dump signal:
 * argv[1] times, as fast as it can (a storm) or with a pause (argv[2] us).
 * With a pause and argv[3] (the MPOOL_STATS path), each dump is read back
 * after its signal and must be whole: reason "signal", closing brace.  The
 * process must neither crash nor hang; exit 0, or 1 if a dump was torn. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static atomic_int stop;

static void *churn(void *arg)
{
    unsigned long long x = (unsigned long long)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    void *slots[256] = { 0 };
    while (!atomic_load(&stop)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned k = x % 256;
        free(slots[k]);
        size_t n = x % 7 == 0 ? 100000 + x % 50000 : 8 + x % 2000;
        slots[k] = malloc(n);
        memset(slots[k], (int)k, n < 64 ? n : 64);
    }
    for (int i = 0; i < 256; i++)
        free(slots[i]);
    return NULL;
}

/* 1 if path holds a whole dump written by a signal */
static int whole_signal_dump(const char *path)
{
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return buf[0] == '{' && strstr(buf, "\"reason\": \"signal\"") && n >= 3 &&
           strcmp(buf + n - 3, "\n}\n") == 0;
}

int main(int argc, char **argv)
{
    int signals = argc > 1 ? atoi(argv[1]) : 100;
    int pause_us = argc > 2 ? atoi(argv[2]) : 0;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    const char *path = argc > 3 ? argv[3] : NULL;
    int whole = 0;
    for (int i = 0; i < signals; i++) {
        if (path)
            unlink(path);
        kill(getpid(), SIGUSR2);
        if (pause_us)
            usleep((useconds_t)pause_us);
        if (path && pause_us)
            whole += whole_signal_dump(path);
    }
    if (path && pause_us && whole != signals) {
        fprintf(stderr, "signal_churn: %d of %d signal dumps whole\n", whole, signals);
        return 1;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    return 0;
}
