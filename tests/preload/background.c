/* background.c - a program for tests/preload/background.py, which runs it
 * under libmpool and checks what the background thread (mpool-bg) and the
 * time series do.  One mode per run:
 *
 *   grow       grow() takes 200 MiB in 1000-byte blocks, sleep 0.6 s,
 *              shrink() frees them, sleep 0.8 s without calling malloc
 *   idle       256 MiB of 256-byte blocks freed, then 2 s without malloc;
 *              prints the RSS, our threads' names, and our thread's
 *              wake-ups in the last second
 *   unshare    frees 16 MiB (the thread starts), then unshare(CLONE_NEWUSER)
 *   fork       grows, forks; parent and child each grow, shrink and sleep
 *   exits      16 threads call exit(0) at the same moment
 *   pthread_exit  main ends with pthread_exit while another thread runs on
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void grow(int n, size_t size);
void shrink(int n);
static void *blocks[200000];

static long rss_mib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE) / (1 << 20);
}

/* mpool-bg's voluntary context switches (its wake-ups), or -1 */
static long bg_wakeups(void)
{
    long n = -1;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], line[128];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int ours = fgets(line, sizeof line, f) && strcmp(line, "mpool-bg\n") == 0;
        fclose(f);
        if (!ours)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
                break;
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

/* "main,mpool-bg": the names of the process's threads */
static void thread_names(char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(comm, sizeof comm, f))
                comm[0] = '\0';
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = '\0';
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "", comm);
    }
    if (d)
        closedir(d);
}

__attribute__((noinline)) void grow(int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(size);
        memset(blocks[i], 1, size);
    }
}

__attribute__((noinline)) void shrink(int n)
{
    for (int i = 0; i < n; i++) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
}

static int mode_grow(void)
{
    grow(200000, 1000);
    usleep(600000);
    shrink(200000);
    usleep(800000);
    return 0;
}

/* The budget of the background thread: 256 MiB of small blocks freed,
 * then no malloc: under 32 MiB of RSS within a second. */
static int mode_idle(void)
{
    enum { N = 1 << 20 };
    static char *v[N];
    char names[512];
    for (int i = 0; i < N; i++) /* 256 MiB of 256-byte blocks */
        v[i] = memset(malloc(256), 1, 256);
    printf("rss_full=%ld\n", rss_mib());
    for (int i = 0; i < N; i++)
        free(v[i]);
    usleep(50000);
    thread_names(names, sizeof names);
    printf("rss_freed=%ld threads_freed=%s\n", rss_mib(), names);
    fflush(stdout); /* no malloc from here on: stdout's buffer exists */
    usleep(950000);
    long wakeups = bg_wakeups();
    printf("rss_1s=%ld\n", rss_mib());
    usleep(1000000);
    thread_names(names, sizeof names);
    printf("rss_idle=%ld threads_idle=%s idle_wakeups=%ld\n", rss_mib(), names,
           wakeups >= 0 ? bg_wakeups() - wakeups : -1);
    return 0;
}

static int mode_unshare(void)
{
    grow(16384, 1000);
    shrink(16384);
    usleep(100000);
    char names[512];
    thread_names(names, sizeof names);
    printf("threads_before=%s\n", names);
    if (unshare(CLONE_NEWUSER) == 0)
        printf("unshare=ok\n");
    else
        printf("unshare=%s\n", strerrorname_np(errno));
    grow(16384, 1000); /* and the heap works on */
    shrink(16384);
    return 0;
}

static int mode_fork(void)
{
    grow(50000, 1000);
    shrink(50000);
    pid_t child = fork();
    if (child < 0)
        return 1;
    grow(100000, 1000);
    usleep(300000);
    shrink(100000);
    usleep(700000);
    printf("%s=%ld rss=%ld\n", child ? "parent" : "child", (long)getpid(), rss_mib());
    if (child == 0)
        return 0;
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static pthread_barrier_t all_ready;

static void *exit_now(void *arg)
{
    (void)arg;
    void *p = malloc(1000); /* a cache of its own */
    pthread_barrier_wait(&all_ready);
    free(p);
    exit(0);
}

static int mode_exits(void)
{
    enum { THREADS = 16 };
    grow(20000, 1000);
    shrink(20000);
    pthread_barrier_init(&all_ready, NULL, THREADS);
    pthread_t t;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t, NULL, exit_now, NULL);
    pause();
    return 1;
}

static void *outlive_main(void *arg)
{
    (void)arg;
    usleep(300000);
    free(malloc(100));
    return NULL;
}

static int mode_pthread_exit(void)
{
    pthread_t t;
    pthread_create(&t, NULL, outlive_main, NULL);
    pthread_exit(NULL);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "grow") == 0)
        return mode_grow();
    if (strcmp(mode, "idle") == 0)
        return mode_idle();
    if (strcmp(mode, "unshare") == 0)
        return mode_unshare();
    if (strcmp(mode, "fork") == 0)
        return mode_fork();
    if (strcmp(mode, "exits") == 0)
        return mode_exits();
    if (strcmp(mode, "pthread_exit") == 0)
        return mode_pthread_exit();
    fprintf(stderr, "usage: background grow|idle|unshare|fork|exits|pthread_exit\n");
    return 2;
}
