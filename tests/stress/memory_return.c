/* memory_return.c - memory that other threads free, or that a thread
 * stopped using, goes back; run by memory-return.sh under LD_PRELOAD (and
 * without it, to compare with the C library's allocator).  Plain malloc
 * and free only.  Prints resident kilobytes (/proc/self/statm).
 *
 *   handoff [blocks]  one thread allocates `blocks' blocks (default 64) in
 *                     each of ten classes from 192 KiB to 1 MiB, writes
 *                     them and hands them to a second thread, which frees
 *                     them all; the first does a little unrelated work and
 *                     sleeps 2 s: "peak_kb P after_kb A".  A block of these
 *                     sizes fills a slab; the owner never allocates there
 *                     again, so only what the freeing thread gives back
 *                     can bring A down.
 *   waiters           32 threads each allocate a little (20 blocks of 4 KiB
 *                     to 1 MiB, written), free it, and wait 2 s: "waiting_kb
 *                     W" with all of them still alive. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_util.h"

#define HANDOFF_CLASSES 10
static const size_t handoff_sizes[HANDOFF_CLASSES] = {
    192 << 10, 224 << 10, 256 << 10, 320 << 10, 384 << 10,
    448 << 10, 512 << 10, 640 << 10, 768 << 10, 1024 << 10,
};
static void **handoff_blocks;
static size_t handoff_count;

static void *handoff_consumer(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < handoff_count; i++)
        free(handoff_blocks[i]);
    return NULL;
}

static int handoff(size_t per_class)
{
    handoff_count = per_class * HANDOFF_CLASSES;
    handoff_blocks = malloc(handoff_count * sizeof *handoff_blocks);
    if (handoff_blocks == NULL)
        test_fail("malloc of the block table failed");
    size_t n = 0;
    for (size_t c = 0; c < HANDOFF_CLASSES; c++)
        for (size_t i = 0; i < per_class; i++) {
            char *b = malloc(handoff_sizes[c]);
            if (b == NULL)
                test_fail("malloc(%zu) failed", handoff_sizes[c]);
            memset(b, 0x5a, handoff_sizes[c]);
            handoff_blocks[n++] = b;
        }
    size_t peak = test_rss_bytes();
    pthread_t t;
    if (pthread_create(&t, NULL, handoff_consumer, NULL) != 0 || pthread_join(t, NULL) != 0)
        test_fail("the freeing thread did not run");
    /* A little unrelated work, none of it in those classes. */
    double x = 0;
    for (int i = 0; i < 2000000; i++)
        x += i * 0.5;
    if (x < 0)
        test_fail("arithmetic");
    sleep(2);
    printf("peak_kb %zu after_kb %zu\n", peak >> 10, test_rss_bytes() >> 10);
    return 0;
}

#define WAITERS 32
static pthread_barrier_t waiters_ready, waiters_done;

static void *waiter(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    void *p[20];
    for (int i = 0; i < 20; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* log-uniform from 4 KiB to 1 MiB */
        unsigned bits = 12 + (unsigned)(x % 8);
        size_t size = ((size_t)1 << bits) + (size_t)(x >> 24) % ((size_t)1 << bits);
        if ((p[i] = malloc(size)) == NULL)
            test_fail("malloc(%zu) failed", size);
        memset(p[i], 0x3c, size);
    }
    for (int i = 0; i < 20; i++)
        free(p[i]);
    pthread_barrier_wait(&waiters_ready);
    pthread_barrier_wait(&waiters_done);
    return NULL;
}

static int waiters(void)
{
    pthread_t t[WAITERS];
    pthread_barrier_init(&waiters_ready, NULL, WAITERS + 1);
    pthread_barrier_init(&waiters_done, NULL, WAITERS + 1);
    for (uintptr_t i = 0; i < WAITERS; i++)
        if (pthread_create(&t[i], NULL, waiter, (void *)(i + 1)) != 0)
            test_fail("pthread_create failed");
    pthread_barrier_wait(&waiters_ready);
    sleep(2);
    printf("waiting_kb %zu\n", test_rss_bytes() >> 10);
    pthread_barrier_wait(&waiters_done);
    for (int i = 0; i < WAITERS; i++)
        pthread_join(t[i], NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "handoff") == 0)
        return handoff(argc > 2 ? strtoul(argv[2], NULL, 10) : 64);
    if (argc >= 2 && strcmp(argv[1], "waiters") == 0)
        return waiters();
    fprintf(stderr, "usage: memory_return handoff [blocks] | waiters\n");
    return TEST_EXIT_HARD;
}
