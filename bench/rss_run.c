/* rss_run.c - runs one benchmark command and reports its peak resident
 * set size and wall time, so the runner needs neither GNU time nor any
 * other package.  The allocator under test is chosen here, in the child
 * only, so this wrapper itself is never measured.
 *
 * usage: rss_run [-p PRELOAD] [-o FILE] [-t SECONDS] -- COMMAND [ARG...]
 *   -p  set LD_PRELOAD=PRELOAD in the child (without -p LD_PRELOAD is
 *       removed, so "no preload" really means the C library's malloc)
 *   -o  append the report to FILE instead of standard error
 *   -t  kill the child after SECONDS (report "timeout 1", exit 124)
 * The report is "key value" lines: rss_kb, wall_s, cpu_s (user + system
 * time of the child, which with wall_s shows how much the machine's load
 * took away), status and, after a timeout, timeout.  The exit status is the child's (128+N
 * when it died of signal N). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: rss_run [-p PRELOAD] [-o FILE] [-t SECONDS] -- COMMAND [ARG...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *preload = NULL, *out = NULL;
    unsigned long timeout = 0;
    struct timespec t0, t1;
    struct rusage ru;
    struct sigaction sa;
    int opt, status = 0, code;
    pid_t pid;
    FILE *f;

    while ((opt = getopt(argc, argv, "+p:o:t:")) != -1) {
        switch (opt) {
        case 'p': preload = optarg; break;
        case 'o': out = optarg; break;
        case 't': {
            char *end;
            timeout = strtoul(optarg, &end, 10);
            if (*end != '\0' || timeout == 0)
                usage();
            break;
        }
        default: usage();
        }
    }
    if (optind >= argc)
        usage();

    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid = fork();
    if (pid < 0) {
        perror("rss_run: fork");
        return 125;
    }
    if (pid == 0) {
        if (preload != NULL && *preload != '\0')
            setenv("LD_PRELOAD", preload, 1);
        else
            unsetenv("LD_PRELOAD");
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "rss_run: cannot run %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }

    /* No SA_RESTART: the alarm must interrupt wait4 so the child can be
     * killed. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    if (timeout)
        alarm((unsigned)timeout);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("rss_run: wait4");
            return 125;
        }
        if (timed_out)
            kill(pid, SIGKILL);
    }
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    if (WIFEXITED(status))
        code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        code = 128 + WTERMSIG(status);
    else
        code = 125;
    if (timed_out)
        code = 124;

    f = out ? fopen(out, "a") : stderr;
    if (f == NULL) {
        perror(out);
        return 125;
    }
    /* ru_maxrss is in KiB on Linux. */
    fprintf(f, "rss_kb %ld\nwall_s %.6f\ncpu_s %.6f\nstatus %d\n", ru.ru_maxrss,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
            (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6,
            code);
    if (timed_out)
        fprintf(f, "timeout 1\n");
    if (f != stderr)
        fclose(f);
    return code;
}
