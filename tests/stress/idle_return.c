/* idle_return.c - memory goes back while a process idles (issue 16).
 * 512 MiB in small (16 B - 64 KiB) and large (1.5 - 8 MiB) blocks,
 * every block written, all freed, then 3 seconds of sleep without a call
 * into the allocator: the resident set (read from /proc/self/statm with
 * read(2), which allocates nothing) must have fallen below a tenth of its
 * peak.  Without the purge thread the caches keep up to 192 MiB of it.
 *
 *   idle_return          as above
 *   idle_return kept     run with HAKMEM_BACKGROUND=0 by idle-return.sh:
 *                        the RSS must stay above a tenth of the peak (the
 *                        check above can fail, and the switch works)
 *   idle_return fork     a burst, then fork: the child has no purge thread
 *                        until an allocation of its own needs one, then
 *                        returns a burst of its own; so does the parent
 *   idle_return thread   the purge thread is named hakmem-purge and
 *                        blocks every signal the program could send
 * TSan builds: 64 MiB and no RSS figures (the runtime's shadow memory is
 * resident too); what hak_stats says is still checked. */
#define _GNU_SOURCE
#include "../test_util.h"

#include <dirent.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/* Block i of a burst: small ones of 16 B .. 64 KiB, large ones of
 * 1.5 .. 7.5 MiB. */
static size_t small_size(unsigned i) { return (size_t)16 << (i % 13); }
static size_t large_size(unsigned i) { return ((size_t)3 << 19) * (1 + i % 5) + 4096 * (i % 3); }

/* Chains blocks of size(i) in front of head, each filled with fill, until
 * *got reaches upto.  Blocks are chained through their first word: the
 * test keeps no array. */
static void *chain_blocks(void *head, size_t *got, size_t upto, size_t (*size)(unsigned), int fill)
{
    for (unsigned i = 0; *got < upto; i++) {
        size_t n = size(i);
        void **b = hak_malloc(n);
        if (b == NULL)
            test_fail("hak_malloc(%zu) failed after %zu MiB", n, *got >> 20);
        memset(b, fill, n);
        b[0] = head;
        head = b;
        *got += n;
    }
    return head;
}

static void *burst(size_t small_bytes, size_t large_bytes)
{
    size_t got = 0;
    void *head = chain_blocks(NULL, &got, small_bytes, small_size, 0x5a);
    return chain_blocks(head, &got, small_bytes + large_bytes, large_size, 0xa5);
}

static void free_chain(void *head)
{
    while (head != NULL) {
        void **b = head;
        head = b[0];
        hak_free(b);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        continue;
}

/* "Threads:" of /proc/self/status, read without allocating; -1 under
 * TSan, whose runtime has a thread of its own. */
static int thread_count(void)
{
    if (TEST_TSAN)
        return -1;
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        test_fail("cannot open /proc/self/status");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char *t = strstr(buf, "\nThreads:");
    return t ? atoi(t + 9) : -1;
}

/* One burst, freed, then `idle_ms` without allocating; returns the RSS
 * at the peak and at the end, and checks what hak_stats says. */
static void burst_and_idle(const char *who, size_t mib, long idle_ms, bool purged, size_t *peak,
                           size_t *end)
{
    struct hak_stats before = test_stats();
    void *chain = burst((mib << 20) / 2, (mib << 20) / 2);
    *peak = test_rss_bytes();
    free_chain(chain);
    size_t freed = test_rss_bytes();
    sleep_ms(idle_ms);
    *end = test_rss_bytes();
    struct hak_stats after = test_stats();
    printf("%s: %s: %zu MiB burst: RSS %zu MiB at the peak, %zu MiB once freed, %zu MiB after "
           "%ld ms idle; %llu MiB cached, %llu MiB purged while idle\n",
           test_prog(), who, mib, *peak >> 20, freed >> 20, *end >> 20, idle_ms,
           (unsigned long long)(after.bytes_cached >> 20),
           (unsigned long long)((after.bytes_purged_idle - before.bytes_purged_idle) >> 20));
    fflush(stdout);
    if (purged && after.bytes_cached > ((uint64_t)4 << 20) &&
        after.bytes_purged_idle == before.bytes_purged_idle)
        test_fail("%s: %llu bytes still cached and none purged after %ld ms idle", who,
                  (unsigned long long)after.bytes_cached, idle_ms);
}

static int idle_mode(bool expect_return)
{
    size_t mib = TEST_TSAN ? 64 : 512, peak, end;
    burst_and_idle(expect_return ? "purge thread on" : "HAKMEM_BACKGROUND=0", mib, 3000,
                   expect_return, &peak, &end);
    if (TEST_TSAN)
        return 0;
    if (expect_return && end * 10 >= peak)
        test_fail("RSS %zu MiB after 3 s idle, not below a tenth of the peak %zu MiB", end >> 20,
                  peak >> 20);
    if (!expect_return && end * 10 < peak)
        test_fail("HAKMEM_BACKGROUND=0: RSS %zu MiB after 3 s idle fell below a tenth of "
                  "the peak %zu MiB: the purge thread ran, or the caches keep nothing",
                  end >> 20, peak >> 20);
    return 0;
}

static void check_returned(const char *who, size_t peak, size_t end)
{
    if (!TEST_TSAN && end * 10 >= peak)
        test_fail("%s: RSS %zu MiB after 2 s idle, not below a tenth of the peak %zu MiB", who,
                  end >> 20, peak >> 20);
}

static int fork_mode(void)
{
    size_t mib = TEST_TSAN ? 32 : 128, peak, end;
    burst_and_idle("parent", mib, 2000, true, &peak, &end);
    check_returned("parent", peak, end);
    if (thread_count() != 2 && !TEST_TSAN)
        test_fail("parent: %d threads, expected the main thread and the purge thread",
                  thread_count());
    pid_t pid = fork();
    if (pid < 0)
        test_fail("fork failed");
    if (pid == 0) {
        /* Threads do not survive fork(); none was started for the child,
         * nor is one for a little work: only once it maps 8 MiB of its
         * own (ThreadSanitizer: never, it cannot start threads there). */
        if (thread_count() != 1 && !TEST_TSAN)
            test_fail("child: %d threads right after fork, expected 1", thread_count());
        free_chain(burst(1 << 20, 0));
        if (thread_count() != 1 && !TEST_TSAN)
            test_fail("child: %d threads after 1 MiB of work, expected 1", thread_count());
        burst_and_idle("child", mib, 2000, !TEST_TSAN, &peak, &end);
        check_returned("child", peak, end);
        if (thread_count() != 2 && !TEST_TSAN)
            test_fail("child: %d threads after its burst, expected its own purge thread",
                      thread_count());
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        test_fail("the child failed (status %#x)", status);
    burst_and_idle("parent again", mib, 2000, true, &peak, &end);
    check_returned("parent again", peak, end);
    return 0;
}

/* The threads named hakmem-purge, from /proc/self/task; each must block
 * every signal. */
static int purge_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        test_fail("cannot list /proc/self/task");
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        char path[128], buf[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (fd >= 0)
            close(fd);
        if (n <= 0 || strncmp(buf, "hakmem-purge\n", 13) != 0)
            continue;
        found++;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (fd >= 0)
            close(fd);
        buf[n > 0 ? n : 0] = '\0';
        const char *blk = strstr(buf, "\nSigBlk:");
        if (blk == NULL)
            test_fail("no SigBlk line in %s", path);
        unsigned long long mask = strtoull(blk + 8, NULL, 16);
        /* Every signal but those none can block and the C library's own
         * two (32 and 33, which it will not let a thread block). */
        for (int sig = 1; sig <= 64; sig++) {
            if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33)
                continue;
            if (!(mask >> (sig - 1) & 1))
                test_fail("the purge thread does not block signal %d (SigBlk %016llx)", sig, mask);
        }
    }
    closedir(d);
    return found;
}

/* The purge thread's name and signal mask.  The thread names itself as
 * its first step, which may come a moment after the allocation that
 * started it: the test waits up to 5 s for it. */
static int thread_mode(void)
{
    free_chain(burst(16 << 20, 0)); /* past 8 MiB mapped: the thread starts */
    int found = purge_threads();
    for (int waited = 0; found == 0 && waited < 500; waited++) {
        usleep(10000);
        found = purge_threads();
    }
    if (found != 1)
        test_fail("%d threads named hakmem-purge, expected 1", found);
    printf("%s: one purge thread, named hakmem-purge, every signal blocked\n", test_prog());
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "return";
    if (strcmp(mode, "return") == 0)
        return idle_mode(true);
    if (strcmp(mode, "kept") == 0)
        return idle_mode(false);
    if (strcmp(mode, "fork") == 0)
        return fork_mode();
    if (strcmp(mode, "thread") == 0)
        return thread_mode();
    fprintf(stderr, "usage: %s [return|kept|fork|thread]\n", test_prog());
    return TEST_EXIT_HARD;
}
