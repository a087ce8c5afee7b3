/* xthread.c - cross-thread producer/consumer: in each of N pairs one
 * thread allocates batches of blocks and writes them, the other reads and
 * frees them, so every free is a remote free into a heap the freeing
 * thread does not own (a pipeline stage or a message queue).  Reports
 * blocks (one malloc + one free) per second.
 *
 * usage: xthread [pairs [batches [batch_size [min_size [max_size]]]]] */
#define _GNU_SOURCE
#include "bench_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define USAGE "[pairs [batches [batch_size [min_size [max_size]]]]]"
/* Batches in flight per pair: enough to keep both sides busy, few enough
 * that the live set stays small and the freed blocks go back while the
 * producer still allocates from the same pages. */
#define RING 16

struct pair {
    _Alignas(BENCH_CACHE_PAD) atomic_ulong head; /* batches published */
    _Alignas(BENCH_CACHE_PAD) atomic_ulong tail; /* batches freed */
    _Alignas(BENCH_CACHE_PAD) char **slots[RING];
    unsigned id;
};

static unsigned long nbatches;
static size_t batch_size, min_size, max_size;

/* Spin briefly, then yield: with more threads than cores (2 cores here,
 * often shared) pure spinning would measure the scheduler. */
static void backoff(unsigned *spins)
{
    if (++*spins > 64) {
        sched_yield();
        *spins = 0;
    }
}

static void *producer(void *arg)
{
    struct pair *pp = arg;
    bench_rng rng;
    unsigned long b;
    unsigned spins = 0;

    bench_rng_seed(&rng, 1000 + pp->id);
    for (b = 0; b < nbatches; b++) {
        char **slot;
        size_t i;
        while (b - atomic_load_explicit(&pp->tail, memory_order_acquire) >= RING)
            backoff(&spins);
        slot = pp->slots[b % RING];
        for (i = 0; i < batch_size; i++) {
            size_t size = bench_rng_range(&rng, min_size, max_size);
            char *p = malloc(size);
            if (p == NULL) {
                fprintf(stderr, "xthread: malloc(%zu) failed\n", size);
                exit(3);
            }
            p[0] = (char)i;
            p[size - 1] = (char)b;
            slot[i] = p;
        }
        atomic_store_explicit(&pp->head, b + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct pair *pp = arg;
    unsigned long b;
    unsigned spins = 0;

    for (b = 0; b < nbatches; b++) {
        char **slot;
        size_t i;
        while (atomic_load_explicit(&pp->head, memory_order_acquire) <= b)
            backoff(&spins);
        slot = pp->slots[b % RING];
        for (i = 0; i < batch_size; i++) {
            /* Read before freeing, as a real consumer would: it also
             * catches an allocator that handed out overlapping blocks. */
            if (slot[i][0] != (char)i) {
                fprintf(stderr, "xthread: block %zu of batch %lu corrupted\n", i, b);
                exit(4);
            }
            free(slot[i]);
        }
        atomic_store_explicit(&pp->tail, b + 1, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long long npairs = bench_arg(argc, argv, 1, 1, 1, 512, "pairs", USAGE);
    struct pair *pairs;
    pthread_t *threads;
    double start, elapsed, total;
    unsigned i, r;

    nbatches = (unsigned long)bench_arg(argc, argv, 2, 60000, 1, 1ull << 40, "batches", USAGE);
    batch_size = (size_t)bench_arg(argc, argv, 3, 256, 1, 1 << 20, "batch_size", USAGE);
    min_size = (size_t)bench_arg(argc, argv, 4, 16, 1, 1 << 24, "min_size", USAGE);
    max_size = (size_t)bench_arg(argc, argv, 5, 256, min_size, 1 << 24, "max_size", USAGE);
    if (argc > 6) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    if ((double)npairs * RING * (double)batch_size * (double)max_size > 4.0 * (1ull << 30)) {
        fprintf(stderr, "xthread: live set could exceed 4 GiB; lower the sizes\n");
        return 2;
    }

    pairs = aligned_alloc(BENCH_CACHE_PAD, sizeof *pairs * npairs);
    threads = bench_xmalloc(sizeof *threads * 2 * npairs);
    if (pairs == NULL) {
        fprintf(stderr, "xthread: out of memory\n");
        return 3;
    }
    for (i = 0; i < npairs; i++) {
        atomic_init(&pairs[i].head, 0);
        atomic_init(&pairs[i].tail, 0);
        pairs[i].id = i;
        for (r = 0; r < RING; r++)
            pairs[i].slots[r] = bench_xmalloc(sizeof(char *) * batch_size);
    }

    start = bench_now();
    for (i = 0; i < npairs; i++) {
        if (pthread_create(&threads[2 * i], NULL, producer, &pairs[i]) != 0 ||
            pthread_create(&threads[2 * i + 1], NULL, consumer, &pairs[i]) != 0) {
            fprintf(stderr, "xthread: cannot create threads\n");
            return 3;
        }
    }
    for (i = 0; i < 2 * npairs; i++)
        pthread_join(threads[i], NULL);
    elapsed = bench_now() - start;

    for (i = 0; i < npairs; i++)
        for (r = 0; r < RING; r++)
            free(pairs[i].slots[r]);
    free(pairs);
    free(threads);

    total = (double)npairs * (double)nbatches * (double)batch_size;
    printf("xthread: %llu pairs, %lu batches of %zu blocks of %zu..%zu bytes, %.3f s\n", npairs,
           nbatches, batch_size, min_size, max_size, elapsed);
    printf("ops_per_sec %.0f\n", total / elapsed);
    return 0;
}
