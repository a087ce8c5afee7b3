/* rss_return.c - memory is given back: 1 GiB in 64- and 256-byte blocks,
 * first in one thread, then in 4 threads (each freeing the blocks of
 * another, so most frees are remote), all freed; then
 *   - resident memory (/proc/self/statm) must be back within 128 MiB of
 *     what it was before the phase.  The bound: the SuperSlab cache keeps
 *     up to half of HAKMEM_CACHE_MB (default 64 MiB) of free SuperSlabs
 *     mapped and dirty for a second, plus metadata and thread stacks;
 *     128 MiB is 1/8 of the allocation, far below what a leak of a
 *     fraction of it would show;
 *   - hak_stats bytes_in_use must be back within 1 MiB of where it was.
 * Blocks are chained through their first word, so the test itself holds
 * no array of 1 GiB / 160 pointers.
 *
 * Usage: rss_return [MiB] [rounds] (default 1024 1).  In TSan builds the
 * size drops to 64 MiB and the RSS bound is not checked: the runtime's
 * shadow memory is counted in RSS and is not ours to give back. */
#define _GNU_SOURCE
#include "../test_util.h"

#include <pthread.h>

#define RSS_BOUND ((size_t)128 << 20)
#define IN_USE_BOUND ((uint64_t)1 << 20)

struct part {
    size_t bytes; /* to allocate */
    void *head;   /* chain of the blocks allocated */
    size_t count;
};

static pthread_barrier_t barrier;
static struct part parts[4];
static int nthreads_phase;

static void alloc_chain(struct part *pt)
{
    size_t got = 0, n = 0;
    void *head = NULL;
    while (got < pt->bytes) {
        size_t size = n % 4 == 3 ? 256 : 64;
        void **b = hak_malloc(size);
        if (b == NULL)
            test_fail("hak_malloc(%zu) failed after %zu MiB", size, got >> 20);
        b[0] = head;
        b[1] = (void *)(uintptr_t)(size ^ 0x5a5a5a5a); /* checked when freed */
        head = b;
        got += size;
        n++;
    }
    pt->head = head;
    pt->count = n;
}

static size_t free_chain(void *head)
{
    size_t n = 0;
    while (head != NULL) {
        void **b = head;
        head = b[0];
        uintptr_t check = (uintptr_t)b[1] ^ 0x5a5a5a5a;
        if (check != 64 && check != 256)
            test_fail("block %p was overwritten while allocated", (void *)b);
        hak_free(b);
        n++;
    }
    return n;
}

static void *thread_main(void *arg)
{
    int i = (int)(intptr_t)arg;
    alloc_chain(&parts[i]);
    /* everyone allocated before anyone frees: then thread i frees thread
     * i+1's blocks, remote frees into slabs of a live owner; the owners
     * get them back when they exit */
    pthread_barrier_wait(&barrier);
    free_chain(parts[(i + 1) % nthreads_phase].head);
    return NULL;
}

static void phase(int nthreads, size_t total)
{
    struct hak_stats before = test_stats();
    size_t rss0 = test_rss_bytes();
    pthread_t t[4];
    nthreads_phase = nthreads;
    if (nthreads == 1) {
        parts[0] = (struct part){total, NULL, 0};
        alloc_chain(&parts[0]);
        free_chain(parts[0].head);
    } else {
        pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
        for (int i = 0; i < nthreads; i++)
            parts[i] = (struct part){total / (size_t)nthreads, NULL, 0};
        for (int i = 0; i < nthreads; i++)
            if (pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)i) != 0)
                test_fail("pthread_create failed");
        for (int i = 0; i < nthreads; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&barrier);
    }
    if (hak_check() != 0)
        test_fail("hak_check() failed after %d-thread phase", nthreads);
    struct hak_stats after = test_stats();
    size_t rss1 = test_rss_bytes();
    if (after.bytes_in_use > before.bytes_in_use + IN_USE_BOUND)
        test_fail("%d threads: bytes_in_use %llu after freeing everything, %llu before", nthreads,
                  (unsigned long long)after.bytes_in_use, (unsigned long long)before.bytes_in_use);
    if (test_net_blocks(&after) != test_net_blocks(&before))
        test_fail("%d threads: %lld blocks live according to hak_stats, 0 expected", nthreads,
                  (long long)(test_net_blocks(&after) - test_net_blocks(&before)));
    if (!TEST_TSAN && rss1 > rss0 + RSS_BOUND)
        test_fail("%d threads: RSS %zu MiB after freeing %zu MiB, %zu MiB before (bound +%zu)",
                  nthreads, rss1 >> 20, total >> 20, rss0 >> 20, RSS_BOUND >> 20);
    printf("%s: %d thread(s), %zu MiB in 64/256-byte blocks: RSS %zu -> %zu MiB (peak mapped %llu"
           " MiB), bytes_in_use %llu -> %llu, %llu MiB returned to the OS so far\n",
           test_prog(), nthreads, total >> 20, rss0 >> 20, rss1 >> 20,
           (unsigned long long)(after.bytes_mapped_peak >> 20),
           (unsigned long long)before.bytes_in_use, (unsigned long long)after.bytes_in_use,
           (unsigned long long)(after.bytes_returned >> 20));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t mib = TEST_TSAN ? 64 : 1024;
    long rounds = 1;
    if (argc > 1)
        mib = (size_t)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        rounds = strtol(argv[2], NULL, 10);
    if (mib == 0 || rounds <= 0) {
        fprintf(stderr, "usage: %s [MiB] [rounds]\n", test_prog());
        return TEST_EXIT_HARD;
    }
    /* stdio's buffer and the first thread's TLS, before any baseline */
    printf("%s: %zu MiB per phase, %ld round(s)%s\n", test_prog(), mib, rounds,
           TEST_TSAN ? " (TSan build: RSS bound not checked)" : "");
    fflush(stdout);
    test_warm_up_threads(8);
    for (long r = 0; r < rounds; r++) {
        phase(1, mib << 20);
        phase(4, mib << 20);
    }
    return 0;
}
