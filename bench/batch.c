/* batch.c - batch producer/consumer, after the behaviour of Lever and
 * Boreham's malloc-test ("xmalloc-test" in mimalloc-bench, from their
 * USENIX 2000 paper "malloc() Performance in a Multithreaded Linux
 * Environment"), written for hakmem from that description: N producer
 * threads each fill a batch of 4096 blocks and append it to one queue,
 * guarded by a mutex and two condition variables, that holds at most 100
 * batches; N consumer threads take batches off it and free every block.
 * Every free is a remote free, the freeing threads never allocate, and the
 * allocating threads never free: memory must flow from the consumers back
 * to the producers, and the queue bounds how much of it is live.
 *
 * Sizes: one fixed size (64 B in the runner), or with size 0 a random
 * size per block, log-uniform from 8 B to 2 KiB.
 *
 * Besides the rate (blocks freed per second) it prints the bound on live
 * bytes (every queued and in-flight batch at its largest) and the peak of
 * live bytes actually requested, so the runner's peak RSS can be read
 * against what the program really held.
 *
 * usage: batch [pairs [seconds [size [batch_size [queue_batches]]]]] */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define USAGE "[pairs [seconds [size [batch_size [queue_batches]]]]]"
#define MIXED_MIN 8
#define MIXED_MAX 2048

/* A batch is allocated by its producer and freed by its consumer too,
 * as the blocks it carries. */
struct batch {
    struct batch *next;
    size_t bytes; /* sizes asked for, for the live-byte figures */
    size_t n;
    char *blocks[];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct batch *head, *tail;
    unsigned long len, cap;
    unsigned producers_left;
} queue = {PTHREAD_MUTEX_INITIALIZER,
           PTHREAD_COND_INITIALIZER,
           PTHREAD_COND_INITIALIZER,
           NULL,
           NULL,
           0,
           0,
           0};

static size_t batch_size, fixed_size;
static atomic_int stop_flag;
/* Requested bytes live, counted a batch at a time (before its first
 * malloc, after its last free), and their high-water mark. */
static atomic_long live_bytes, live_peak;

/* One per thread on its own cache lines: the counters are written per
 * batch and must not false-share. */
struct task {
    _Alignas(BENCH_CACHE_PAD) unsigned id;
    unsigned long long blocks;
};

static size_t block_size(bench_rng *r)
{
    if (fixed_size)
        return fixed_size;
    /* Log-uniform: an octave from 8, 16, ..., 1024 B, then uniform in it. */
    size_t base = (size_t)MIXED_MIN << bench_rng_below(r, 8);
    return base + (size_t)bench_rng_below(r, base);
}

static void live_add(long delta)
{
    long now = atomic_fetch_add_explicit(&live_bytes, delta, memory_order_relaxed) + delta;
    long peak = atomic_load_explicit(&live_peak, memory_order_relaxed);
    while (now > peak && !atomic_compare_exchange_weak_explicit(
                             &live_peak, &peak, now, memory_order_relaxed, memory_order_relaxed)) {
    }
}

static void *producer(void *arg)
{
    struct task *t = arg;
    bench_rng rng;
    bench_rng_seed(&rng, 7000 + t->id);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        size_t i, bytes = sizeof(struct batch) + batch_size * sizeof(char *);
        /* Counted before the first malloc, so the live count rises before
         * the memory does: mixed sizes are drawn twice from the same
         * generator state, to count them and then to allocate them. */
        if (fixed_size) {
            bytes += batch_size * fixed_size;
        } else {
            bench_rng again = rng;
            for (i = 0; i < batch_size; i++)
                bytes += block_size(&again);
        }
        live_add((long)bytes);
        struct batch *b = bench_xmalloc(sizeof *b + batch_size * sizeof b->blocks[0]);
        for (i = 0; i < batch_size; i++) {
            size_t s = block_size(&rng);
            char *p = bench_xmalloc(s);
            p[s - 1] = (char)t->id;
            p[0] = (char)i; /* last: the consumer checks it */
            b->blocks[i] = p;
        }
        b->n = batch_size;
        b->bytes = bytes;
        b->next = NULL;
        t->blocks += batch_size;

        pthread_mutex_lock(&queue.lock);
        while (queue.len >= queue.cap)
            pthread_cond_wait(&queue.not_full, &queue.lock);
        if (queue.tail)
            queue.tail->next = b;
        else
            queue.head = b;
        queue.tail = b;
        queue.len++;
        pthread_cond_signal(&queue.not_empty);
        pthread_mutex_unlock(&queue.lock);
    }
    pthread_mutex_lock(&queue.lock);
    if (--queue.producers_left == 0)
        pthread_cond_broadcast(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
    return NULL;
}

static void *consumer(void *arg)
{
    struct task *t = arg;
    for (;;) {
        struct batch *b;
        size_t i;
        pthread_mutex_lock(&queue.lock);
        while (queue.head == NULL && queue.producers_left > 0)
            pthread_cond_wait(&queue.not_empty, &queue.lock);
        b = queue.head;
        if (b == NULL) { /* drained and no producer left */
            pthread_mutex_unlock(&queue.lock);
            return NULL;
        }
        queue.head = b->next;
        if (queue.head == NULL)
            queue.tail = NULL;
        queue.len--;
        pthread_cond_signal(&queue.not_full);
        pthread_mutex_unlock(&queue.lock);

        for (i = 0; i < b->n; i++) {
            /* Read before freeing, as a real consumer would; it also
             * catches an allocator that handed out overlapping blocks. */
            if (b->blocks[i][0] != (char)i) {
                fprintf(stderr, "batch: block %zu of a batch corrupted\n", i);
                exit(4);
            }
            free(b->blocks[i]);
        }
        t->blocks += b->n;
        live_add(-(long)b->bytes);
        free(b);
    }
}

int main(int argc, char **argv)
{
    unsigned long long npairs = bench_arg(argc, argv, 1, 2, 1, 256, "pairs", USAGE);
    unsigned long long seconds = bench_arg(argc, argv, 2, 2, 1, 3600, "seconds", USAGE);
    struct task *tasks;
    pthread_t *threads;
    struct timespec deadline;
    unsigned long long freed = 0, made = 0;
    double start, elapsed, bound;
    size_t max_block;
    unsigned i;

    fixed_size = (size_t)bench_arg(argc, argv, 3, 64, 0, 1 << 20, "size (0: mixed 8-2048)", USAGE);
    batch_size = (size_t)bench_arg(argc, argv, 4, 4096, 1, 1 << 20, "batch_size", USAGE);
    queue.cap = (unsigned long)bench_arg(argc, argv, 5, 100, 1, 1 << 20, "queue_batches", USAGE);
    if (argc > 6) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    max_block = fixed_size ? fixed_size : 2 * ((size_t)MIXED_MIN << 7) - 1;
    /* At most: the queue full, plus a batch being filled by each producer
     * and one being freed by each consumer. */
    bound = (double)(queue.cap + 2 * npairs) *
            ((double)batch_size * (double)(max_block + sizeof(char *)) + sizeof(struct batch));
    if (bound > 4.0 * (1ull << 30)) {
        fprintf(stderr, "batch: live bound above 4 GiB; lower the sizes\n");
        return 2;
    }

    tasks = aligned_alloc(BENCH_CACHE_PAD, sizeof *tasks * 2 * npairs);
    threads = bench_xmalloc(sizeof *threads * 2 * npairs);
    if (tasks == NULL) {
        fprintf(stderr, "batch: out of memory\n");
        return 3;
    }
    memset(tasks, 0, sizeof *tasks * 2 * npairs);
    queue.producers_left = (unsigned)npairs;

    start = bench_now();
    for (i = 0; i < 2 * npairs; i++) {
        tasks[i].id = i;
        if (pthread_create(&threads[i], NULL, i % 2 ? consumer : producer, &tasks[i]) != 0) {
            fprintf(stderr, "batch: cannot create threads\n");
            return 3;
        }
    }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)seconds;
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, NULL) != 0) {
    }
    atomic_store(&stop_flag, 1);
    for (i = 0; i < 2 * npairs; i++)
        pthread_join(threads[i], NULL);
    elapsed = bench_now() - start;

    for (i = 0; i < 2 * npairs; i++) {
        if (i % 2)
            freed += tasks[i].blocks;
        else
            made += tasks[i].blocks;
    }
    free(tasks);
    free(threads);
    if (freed != made) {
        fprintf(stderr, "batch: %llu blocks allocated but %llu freed\n", made, freed);
        return 4;
    }

    printf("batch: %llu producers + %llu consumers, batches of %zu blocks of %s, queue of %lu, "
           "%.3f s\n",
           npairs, npairs, batch_size, fixed_size ? "one size" : "8-2047 bytes", queue.cap,
           elapsed);
    if (fixed_size)
        printf("block size %zu bytes\n", fixed_size);
    printf("live bytes: peak %.1f MiB requested, bound %.1f MiB\n",
           (double)atomic_load(&live_peak) / 1048576.0, bound / 1048576.0);
    printf("live_peak_kb %.0f\n", (double)atomic_load(&live_peak) / 1024.0);
    printf("live_bound_kb %.0f\n", bound / 1024.0);
    printf("ops_per_sec %.0f\n", (double)freed / elapsed);
    return 0;
}
