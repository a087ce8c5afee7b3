/* xchurn.c - cross-thread churn of mixed sizes, after the behaviour of
 * rpmalloc's benchmark ("rptest" in mimalloc-bench, run there as
 * `rptest N 0 1 2 500 1000 100 8 16000`), written for hakmem from its
 * published description: each thread keeps a window of live blocks of
 * 8 B to 16 000 B with a linear fall-off toward large sizes (most blocks
 * small, every size visited), and every loop frees a scattered set of
 * them, then allocates a scattered set (freeing whatever a slot still
 * held).  Every `cross` loops it also allocates a set of blocks and hands
 * them over through slots shared by all threads: each block is exchanged
 * into a random shared slot and whatever was there before, usually a
 * block of another thread, is freed.  So frees are a mix of local and
 * remote, of every size, in no order.
 *
 * Reports memory operations (a malloc or a free each, as rpmalloc's
 * benchmark counts them) per second of CPU time of the whole process, so
 * time spent waiting for a core on a loaded machine does not count.
 *
 * usage: xchurn [threads [loops [window [ops [cross [min_size [max_size]]]]]]] */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define USAGE "[threads [loops [window [ops [cross [min_size [max_size]]]]]]]"
/* Slots shared by every thread: enough that two threads rarely pick the
 * same one at once, few enough that a block waits there only briefly. */
#define SHARED_SLOTS 1024

struct task {
    _Alignas(BENCH_CACHE_PAD) unsigned id;
    unsigned long long ops;
};

static _Atomic(char *) shared[SHARED_SLOTS];
static unsigned long loops, cross_every;
static size_t window, ops_per_loop, min_size, max_size;

/* Linear fall-off: the density of the smaller of two uniform draws falls
 * linearly from min_size to nothing at max_size (mean a third of the
 * way up). */
static size_t random_size(bench_rng *r)
{
    uint64_t span = max_size - min_size + 1;
    uint64_t a = bench_rng_below(r, span), b = bench_rng_below(r, span);
    return min_size + (size_t)(a < b ? a : b);
}

static char *new_block(bench_rng *r, unsigned tag)
{
    size_t size = random_size(r);
    char *p = bench_xmalloc(size);
    p[size - 1] = (char)tag;
    p[0] = (char)tag;
    return p;
}

static void *worker(void *arg)
{
    struct task *t = arg;
    bench_rng rng;
    char **mine = bench_xmalloc(window * sizeof *mine);
    unsigned long long ops = 0;
    unsigned long loop;
    size_t i;

    bench_rng_seed(&rng, 900 + t->id);
    for (i = 0; i < window; i++)
        mine[i] = new_block(&rng, t->id);
    ops += window;
    for (loop = 0; loop < loops; loop++) {
        for (i = 0; i < ops_per_loop; i++) {
            size_t s = (size_t)bench_rng_below(&rng, window);
            if (mine[s] != NULL) {
                free(mine[s]);
                mine[s] = NULL;
                ops++;
            }
        }
        for (i = 0; i < ops_per_loop; i++) {
            size_t s = (size_t)bench_rng_below(&rng, window);
            if (mine[s] != NULL) {
                free(mine[s]);
                ops++;
            }
            mine[s] = new_block(&rng, t->id);
            ops++;
        }
        if (loop % cross_every == 0) {
            for (i = 0; i < ops_per_loop; i++) {
                char *p = new_block(&rng, t->id);
                size_t s = (size_t)bench_rng_below(&rng, SHARED_SLOTS);
                char *old = atomic_exchange_explicit(&shared[s], p, memory_order_acq_rel);
                ops++;
                if (old != NULL) {
                    free(old);
                    ops++;
                }
            }
        }
    }
    for (i = 0; i < window; i++) {
        if (mine[i] != NULL) {
            free(mine[i]);
            ops++;
        }
    }
    free(mine);
    t->ops = ops;
    return NULL;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    unsigned long long nthreads = bench_arg(argc, argv, 1, 2, 1, 1024, "threads", USAGE);
    struct task *tasks;
    pthread_t *threads;
    unsigned long long total = 0;
    double start, cpu_start, elapsed, cpu;
    unsigned i;

    loops = (unsigned long)bench_arg(argc, argv, 2, 100000, 1, 1ull << 32, "loops", USAGE);
    window = (size_t)bench_arg(argc, argv, 3, 1000, 1, 1 << 24, "window", USAGE);
    ops_per_loop = (size_t)bench_arg(argc, argv, 4, 100, 1, 1 << 24, "ops", USAGE);
    cross_every = (unsigned long)bench_arg(argc, argv, 5, 2, 1, 1ull << 32, "cross", USAGE);
    min_size = (size_t)bench_arg(argc, argv, 6, 8, 1, 1 << 24, "min_size", USAGE);
    max_size = (size_t)bench_arg(argc, argv, 7, 16000, min_size, 1 << 24, "max_size", USAGE);
    if (argc > 8) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    if ((double)(nthreads * window + SHARED_SLOTS) * (double)max_size > 4.0 * (1ull << 30)) {
        fprintf(stderr, "xchurn: live set could exceed 4 GiB; lower the sizes\n");
        return 2;
    }

    tasks = aligned_alloc(BENCH_CACHE_PAD, sizeof *tasks * nthreads);
    threads = bench_xmalloc(sizeof *threads * nthreads);
    if (tasks == NULL) {
        fprintf(stderr, "xchurn: out of memory\n");
        return 3;
    }
    memset(tasks, 0, sizeof *tasks * nthreads);

    start = bench_now();
    cpu_start = cpu_now();
    for (i = 0; i < nthreads; i++) {
        tasks[i].id = i;
        if (pthread_create(&threads[i], NULL, worker, &tasks[i]) != 0) {
            fprintf(stderr, "xchurn: cannot create threads\n");
            return 3;
        }
    }
    for (i = 0; i < nthreads; i++) {
        pthread_join(threads[i], NULL);
        total += tasks[i].ops;
    }
    for (i = 0; i < SHARED_SLOTS; i++) {
        char *p = atomic_exchange(&shared[i], NULL);
        if (p != NULL) {
            free(p);
            total++;
        }
    }
    cpu = cpu_now() - cpu_start;
    elapsed = bench_now() - start;
    free(tasks);
    free(threads);

    printf("xchurn: %llu threads, %lu loops, window %zu, %zu ops/loop, cross every %lu, "
           "%zu..%zu bytes, %.3f s, %.3f CPU s\n",
           nthreads, loops, window, ops_per_loop, cross_every, min_size, max_size, elapsed, cpu);
    printf("%llu memory operations, %.0f per wall second\n", total, (double)total / elapsed);
    printf("ops_per_sec %.0f\n", (double)total / cpu);
    return 0;
}
