// larson_cxx.cc - the Larson-Krishnan server benchmark as it is usually
// published and run (mimalloc-bench's "larson", invoked as
// `larson 5 8 1000 5000 100 4141 N`), written for hakmem from that
// program's described behaviour: a C++ program whose blocks come from
// new char[] and go back through delete[], so every allocation passes
// through libstdc++'s operator new (or the allocator's own, when it
// defines one) exactly as in the published runs.
//
//  - The main thread allocates every thread's initial blocks (sizes drawn
//    from [min_size, max_size)), shuffles them, and warms them up by
//    replacing random ones four times over, so each worker starts on
//    blocks it did not allocate, in pages of a thread that then only
//    sleeps until the end of the run.
//  - Each worker repeatedly deletes a random block of its array and puts
//    a new one of a random size in its place, writing into it.  After
//    rounds x blocks_per_thread replacements it starts a successor thread
//    that inherits the array, and exits: thread creation and exit, and
//    frees of blocks whose allocating thread is gone, are on the measured
//    path.
//  - After `seconds` the main thread stops the chains and reports
//    replacements (one delete + one new) per second.
//
// bench/larson.c is the same program in C with malloc and free; this one
// adds libstdc++'s operator new/delete and the warm-up.
//
// usage: larson_cxx seconds min_size max_size blocks_per_thread rounds seed threads
#include "bench_common.h"

#include <pthread.h>

#include <atomic>
#include <cstring>
#include <new>

#define USAGE "seconds min_size max_size blocks_per_thread rounds seed threads"

namespace
{

// One lineage of threads.  Only the thread currently running the chain
// touches it; pthread_create orders the hand-over to the successor.
struct alignas(BENCH_CACHE_PAD) chain {
    char **blocks;
    size_t nblocks;
    bench_rng rng;
    uint64_t ops;
    uint64_t generations;
};

size_t min_size, size_span;
uint64_t rounds;
std::atomic<int> stop_flag(0);
pthread_attr_t detached;
pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
unsigned live_chains;

void chain_finished()
{
    pthread_mutex_lock(&live_lock);
    if (--live_chains == 0)
        pthread_cond_signal(&live_cv);
    pthread_mutex_unlock(&live_lock);
}

// Sizes as the published program draws them: min_size up to, but not
// including, max_size (a single size when they are equal).
inline size_t random_size(bench_rng *r)
{
    return size_span ? min_size + (size_t)bench_rng_below(r, size_span) : min_size;
}

// Writes the first and last bytes, so the block's cache lines are really
// owned by the thread that builds a message in it.
inline char *new_block(size_t size, uint64_t tag)
{
    char *p = new char[size];
    p[0] = (char)tag;
    p[size - 1] = (char)(tag >> 8);
    return p;
}

void *worker(void *arg)
{
    chain *c = static_cast<chain *>(arg);
    uint64_t budget = rounds * c->nblocks;

    c->generations++;
    for (;;) {
        uint64_t i;
        for (i = 0; i < budget; i++) {
            // A relaxed load every 64 operations keeps the stop check off
            // the profile but stops within microseconds.
            if ((i & 63) == 0 && stop_flag.load(std::memory_order_relaxed))
                break;
            size_t slot = (size_t)bench_rng_below(&c->rng, c->nblocks);
            delete[] c->blocks[slot];
            c->blocks[slot] = new_block(random_size(&c->rng), i);
        }
        c->ops += i;
        if (stop_flag.load(std::memory_order_relaxed))
            break;
        // Hand the array over and die: the successor frees blocks this
        // thread allocated after this thread has exited.
        pthread_t t;
        if (pthread_create(&t, &detached, worker, c) == 0)
            return nullptr;
        // No thread available (limits, memory): keep going in this one
        // rather than lose the chain.
    }
    chain_finished();
    return nullptr;
}

} // namespace

int main(int argc, char **argv)
{
    unsigned long long seconds = bench_arg(argc, argv, 1, 5, 1, 3600, "seconds", USAGE);
    size_t max_size;
    min_size = (size_t)bench_arg(argc, argv, 2, 8, 1, 1 << 20, "min_size", USAGE);
    max_size = (size_t)bench_arg(argc, argv, 3, 1000, min_size, 1 << 20, "max_size", USAGE);
    size_t nblocks = (size_t)bench_arg(argc, argv, 4, 5000, 1, 1 << 22, "blocks_per_thread", USAGE);
    rounds = bench_arg(argc, argv, 5, 100, 1, 1000000, "rounds", USAGE);
    uint64_t seed = bench_arg(argc, argv, 6, 4141, 0, UINT64_MAX, "seed", USAGE);
    unsigned long long nthreads = bench_arg(argc, argv, 7, 2, 1, 1024, "threads", USAGE);
    if (argc > 8) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    size_span = max_size - min_size;
    size_t total = nblocks * (size_t)nthreads;
    // Bound the working set so a typo cannot swap the machine to death.
    if ((double)total * (double)(min_size + max_size) / 2 > 4.0 * (1ull << 30)) {
        fprintf(stderr, "larson_cxx: working set above 4 GiB; lower blocks or sizes\n");
        return 2;
    }

    // The harness's own arrays come from the allocator under test too, as
    // in the published program; they are allocated once, off the clock.
    chain *chains = new chain[nthreads]();
    char **all = new char *[total];

    // Warm-up, all in the main thread: allocate, shuffle across the
    // threads' arrays, then replace random blocks 4 x total times, so the
    // blocks the workers start on are scattered over pages the main
    // thread filled and then punched holes in.
    bench_rng rng;
    bench_rng_seed(&rng, seed);
    for (size_t i = 0; i < total; i++)
        all[i] = new_block(random_size(&rng), i);
    for (size_t i = total - 1; i > 0; i--) {
        size_t j = (size_t)bench_rng_below(&rng, i + 1);
        char *p = all[i];
        all[i] = all[j];
        all[j] = p;
    }
    for (size_t i = 0; i < 4 * total; i++) {
        size_t victim = (size_t)bench_rng_below(&rng, total);
        delete[] all[victim];
        all[victim] = new_block(random_size(&rng), i);
    }

    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    live_chains = (unsigned)nthreads;
    double start = bench_now();
    for (size_t i = 0; i < nthreads; i++) {
        pthread_t t;
        chains[i].blocks = all + i * nblocks;
        chains[i].nblocks = nblocks;
        bench_rng_seed(&chains[i].rng, seed + 1 + i);
        if (pthread_create(&t, &detached, worker, &chains[i]) != 0) {
            fprintf(stderr, "larson_cxx: cannot create thread %zu\n", i);
            return 3;
        }
    }

    // Sleep on the condition variable with a deadline, so a run whose
    // chains all die early (they never do unless something broke) does
    // not hang.
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)seconds;
    pthread_mutex_lock(&live_lock);
    while (live_chains > 0)
        if (pthread_cond_timedwait(&live_cv, &live_lock, &deadline) != 0)
            break;
    stop_flag.store(1);
    while (live_chains > 0)
        pthread_cond_wait(&live_cv, &live_lock);
    pthread_mutex_unlock(&live_lock);
    double elapsed = bench_now() - start;

    uint64_t total_ops = 0, generations = 0;
    for (size_t i = 0; i < nthreads; i++) {
        total_ops += chains[i].ops;
        generations += chains[i].generations;
    }
    for (size_t i = 0; i < total; i++)
        delete[] all[i];
    delete[] all;
    delete[] chains;
    pthread_attr_destroy(&detached);

    double tput = (double)total_ops / elapsed;
    printf("larson_cxx: %llu threads, %zu..%zu bytes, %zu blocks/thread, %llu rounds, %.2f s, "
           "%llu thread generations\n",
           nthreads, min_size, max_size, nblocks, (unsigned long long)rounds, elapsed,
           (unsigned long long)generations);
    printf("Throughput = %.0f operations per second, relative time (1e9/throughput): %.3f\n", tput,
           1e9 / tput);
    printf("ops_per_sec %.0f\n", tput);
    return 0;
}
