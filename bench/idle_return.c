/* idle_return.c - how soon freed memory goes back to the kernel when a
 * process stops allocating: a burst of small (16 B - 64 KiB) and large
 * (1.5 - 7.5 MiB) blocks, every page written, all freed, then no call to
 * the allocator at all while the resident set size is sampled.  A server
 * that handles a burst of requests and then waits for the next one looks
 * like this.
 *
 * usage: idle_return [MIB [SECONDS [INTERVAL_MS]]]   (512 5 100)
 * Prints "peak_kib N" (after the burst), "freed_kib N" (right after the
 * frees), then "sample T_MS RSS_KIB" every INTERVAL_MS for SECONDS, and
 * "seconds S" (the time from the frees until the RSS first fell below a
 * tenth of the peak, or SECONDS when it never did).  The RSS is read from
 * /proc/self/statm with read(2), so sampling allocates nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

static const char usage[] = "[MIB [SECONDS [INTERVAL_MS]]]";

static unsigned long rss_kib(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strchr(buf, ' ');
    return p ? strtoul(p + 1, NULL, 10) * (unsigned long)(sysconf(_SC_PAGESIZE) / 1024) : 0;
}

/* Blocks are chained through their first word: the program keeps no
 * array of its own beside them. */
static void *burst(size_t small_bytes, size_t large_bytes)
{
    void *head = NULL;
    size_t got = 0;
    for (unsigned i = 0; got < small_bytes; i++) {
        size_t size = (size_t)16 << (i % 13);
        void **b = bench_xmalloc(size);
        memset(b, 0x5a, size);
        b[0] = head;
        head = b;
        got += size;
    }
    for (unsigned i = 0; got < small_bytes + large_bytes; i++) {
        size_t size = ((size_t)3 << 19) * (1 + i % 5) + 4096 * (i % 3);
        void **b = bench_xmalloc(size);
        memset(b, 0xa5, size);
        b[0] = head;
        head = b;
        got += size;
    }
    return head;
}

int main(int argc, char **argv)
{
    size_t mib = bench_arg(argc, argv, 1, 512, 16, 1 << 16, "MIB", usage);
    unsigned long secs = bench_arg(argc, argv, 2, 5, 1, 3600, "SECONDS", usage);
    unsigned long step = bench_arg(argc, argv, 3, 100, 10, 10000, "INTERVAL_MS", usage);

    void *chain = burst((mib << 20) / 2, (mib << 20) / 2);
    unsigned long peak = rss_kib();
    printf("peak_kib %lu\n", peak);
    double t0 = bench_now();
    while (chain != NULL) {
        void **b = chain;
        chain = b[0];
        free(b);
    }
    double freed_at = bench_now();
    printf("freed_kib %lu\n", rss_kib());

    double below = -1;
    for (unsigned long k = 1; k * step <= secs * 1000; k++) {
        /* Sleep to the k-th tick after the frees, not k intervals after
         * the last sample: the series stays on its time grid. */
        double wake = freed_at + (double)(k * step) / 1000;
        for (double now = bench_now(); now < wake; now = bench_now()) {
            struct timespec ts = {(time_t)(wake - now), (long)((wake - now) * 1e9) % 1000000000L};
            nanosleep(&ts, NULL);
        }
        unsigned long rss = rss_kib();
        printf("sample %lu %lu\n", k * step, rss);
        if (below < 0 && rss * 10 < peak)
            below = bench_now() - t0;
    }
    if (below < 0)
        printf("idle_return: %zu MiB burst, RSS %lu KiB at the peak, not below a tenth of it in "
               "%lu s\n",
               mib, peak, secs);
    else
        printf("idle_return: %zu MiB burst, RSS %lu KiB at the peak, below a tenth of it after "
               "%.2f s\n",
               mib, peak, below);
    printf("seconds %.3f\n", below < 0 ? (double)secs : below);
    return 0;
}
