/* A thread dumps stats in a loop while the main thread forks; each child
 * calls exit(), which writes an exit dump.  A child must not wait for the
 * dump the other thread (absent in the child) was writing.  Exit 1 if a
 * child is still running after 5 s. */
#include <mpool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *path;

static void *dumper(void *arg)
{
    (void)arg;
    for (;;)
        mpool_stats_dump(path);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    path = argv[1];
    pthread_t t;
    pthread_create(&t, NULL, dumper, NULL);
    for (int i = 0; i < 100; i++) {
        pid_t pid = fork();
        if (pid == 0)
            exit(0);
        int status, waited = 0;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (waited++ > 5000) {
                fprintf(stderr, "fork_dump: child %d still in exit() after 5 s\n", pid);
                kill(pid, SIGKILL);
                return 1;
            }
            usleep(1000);
        }
    }
    _exit(0);
}
