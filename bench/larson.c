/* larson.c - the Larson-Krishnan server benchmark, written for hakmem from
 * its published description: threads replace random blocks of a shared,
 * shuffled working set, and each thread hands its array to a fresh
 * successor thread after a fixed amount of work, so thread creation and
 * exit, and frees of blocks whose allocating thread is gone, are all on
 * the measured path.  Reports operations (one free + one malloc) per
 * second.
 *
 * usage: larson seconds min_size max_size blocks_per_thread rounds seed threads
 *        (classic invocation: larson 5 8 1000 5000 100 4141 N) */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define USAGE "seconds min_size max_size blocks_per_thread rounds seed threads"

/* One lineage of threads.  Only the thread currently running the chain
 * touches it; pthread_create orders the hand-over to the successor. */
struct chain {
    /* Its own cache lines, so chains never false-share their counters. */
    _Alignas(BENCH_CACHE_PAD) char **blocks;
    size_t nblocks;
    bench_rng rng;
    uint64_t ops;
    uint64_t generations;
};

static size_t min_size, max_size;
static uint64_t rounds;
static atomic_int stop_flag;
static pthread_attr_t detached;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
static unsigned live_chains;

static void chain_finished(void)
{
    pthread_mutex_lock(&live_lock);
    if (--live_chains == 0)
        pthread_cond_signal(&live_cv);
    pthread_mutex_unlock(&live_lock);
}

/* Fills a fresh block: the first and last bytes at least, so the block's
 * cache lines are really owned by the writing thread, as in a server that
 * builds a message in it. */
static inline void touch(char *p, size_t size, uint64_t tag)
{
    size_t head = size < sizeof tag ? size : sizeof tag;
    memcpy(p, &tag, head);
    p[size - 1] = (char)tag;
}

static void *worker(void *arg)
{
    struct chain *c = arg;
    uint64_t budget = rounds * c->nblocks;

    c->generations++;
    for (;;) {
        uint64_t i;
        for (i = 0; i < budget; i++) {
            size_t slot, size;
            char *p;

            /* A relaxed load every 64 operations keeps the stop check
             * off the profile but stops within microseconds. */
            if ((i & 63) == 0 && atomic_load_explicit(&stop_flag, memory_order_relaxed))
                break;
            slot = (size_t)bench_rng_below(&c->rng, c->nblocks);
            free(c->blocks[slot]);
            size = bench_rng_range(&c->rng, min_size, max_size);
            p = malloc(size);
            if (p == NULL) {
                fprintf(stderr, "larson: malloc(%zu) failed\n", size);
                exit(3);
            }
            touch(p, size, i);
            c->blocks[slot] = p;
        }
        c->ops += i;
        if (atomic_load_explicit(&stop_flag, memory_order_relaxed))
            break;
        /* Hand the array over and die: the successor frees blocks this
         * thread allocated after this thread has exited. */
        {
            pthread_t t;
            if (pthread_create(&t, &detached, worker, c) == 0)
                return NULL;
        }
        /* No thread available (limits, memory): keep going in this one
         * rather than lose the chain. */
    }
    chain_finished();
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long long seconds = bench_arg(argc, argv, 1, 5, 1, 3600, "seconds", USAGE);
    unsigned long long nthreads;
    size_t nblocks, total, i;
    uint64_t seed, total_ops = 0, generations = 0;
    struct chain *chains;
    char **all;
    bench_rng rng;
    struct timespec deadline;
    double start, elapsed, tput;

    min_size = (size_t)bench_arg(argc, argv, 2, 8, 1, 1 << 20, "min_size", USAGE);
    max_size = (size_t)bench_arg(argc, argv, 3, 1000, min_size, 1 << 20, "max_size", USAGE);
    nblocks = (size_t)bench_arg(argc, argv, 4, 5000, 1, 1 << 22, "blocks_per_thread", USAGE);
    rounds = bench_arg(argc, argv, 5, 100, 1, 1000000, "rounds", USAGE);
    seed = bench_arg(argc, argv, 6, 4141, 0, UINT64_MAX, "seed", USAGE);
    nthreads = bench_arg(argc, argv, 7, 2, 1, 1024, "threads", USAGE);
    if (argc > 8) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    total = nblocks * (size_t)nthreads;
    /* Bound the working set (the average block is (min+max)/2) so a typo
     * cannot swap the machine to death. */
    if ((double)total * (double)(min_size + max_size) / 2 > 4.0 * (1ull << 30)) {
        fprintf(stderr, "larson: working set above 4 GiB; lower blocks or sizes\n");
        return 2;
    }

    chains = aligned_alloc(BENCH_CACHE_PAD, sizeof *chains * nthreads);
    all = bench_xmalloc(sizeof *all * total);
    if (chains == NULL) {
        fprintf(stderr, "larson: out of memory\n");
        return 3;
    }
    memset(chains, 0, sizeof *chains * nthreads);

    /* Warm-up: the main thread allocates every block, then a shuffle
     * spreads them over the threads' arrays, so from the first operation
     * most frees are of blocks another thread allocated. */
    bench_rng_seed(&rng, seed);
    for (i = 0; i < total; i++) {
        size_t size = bench_rng_range(&rng, min_size, max_size);
        all[i] = bench_xmalloc(size);
        touch(all[i], size, i);
    }
    for (i = total - 1; i > 0; i--) {
        size_t j = (size_t)bench_rng_below(&rng, i + 1);
        char *p = all[i];
        all[i] = all[j];
        all[j] = p;
    }

    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    live_chains = (unsigned)nthreads;
    start = bench_now();
    for (i = 0; i < nthreads; i++) {
        pthread_t t;
        chains[i].blocks = all + i * nblocks;
        chains[i].nblocks = nblocks;
        bench_rng_seed(&chains[i].rng, seed + 1 + i);
        if (pthread_create(&t, &detached, worker, &chains[i]) != 0) {
            fprintf(stderr, "larson: cannot create thread %zu\n", i);
            return 3;
        }
    }

    /* Sleep on the condition variable with a deadline, so a run whose
     * chains all die early (they never do unless something broke) does
     * not hang. */
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)seconds;
    pthread_mutex_lock(&live_lock);
    while (live_chains > 0) {
        if (pthread_cond_timedwait(&live_cv, &live_lock, &deadline) != 0)
            break;
    }
    atomic_store(&stop_flag, 1);
    while (live_chains > 0)
        pthread_cond_wait(&live_cv, &live_lock);
    pthread_mutex_unlock(&live_lock);
    elapsed = bench_now() - start;

    for (i = 0; i < nthreads; i++) {
        total_ops += chains[i].ops;
        generations += chains[i].generations;
    }
    for (i = 0; i < total; i++)
        free(all[i]);
    free(all);
    free(chains);
    pthread_attr_destroy(&detached);

    tput = (double)total_ops / elapsed;
    printf("larson: %llu threads, %zu..%zu bytes, %zu blocks/thread, %llu rounds, %.2f s, %llu "
           "thread generations\n",
           nthreads, min_size, max_size, nblocks, (unsigned long long)rounds, elapsed,
           (unsigned long long)generations);
    printf("Throughput = %.0f operations per second, relative time (1e9/throughput): %.3f\n", tput,
           1e9 / tput);
    printf("ops_per_sec %.0f\n", tput);
    return 0;
}
