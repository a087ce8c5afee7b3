/* false_sharing.c - allocator-induced false sharing, after the classic
 * cache-thrash (active) and cache-scratch (passive) tests.  Each thread
 * repeatedly allocates a small object, writes it hard and frees it.
 *   active:  the threads' own allocations must not share cache lines;
 *   passive: the main thread first allocates one object per thread, side
 *            by side, and each thread starts by freeing its object; an
 *            allocator that hands a remotely freed block straight back to
 *            the freeing thread keeps the threads writing into one line.
 * Either way false sharing shows up as time.  Reports seconds.
 *
 * usage: false_sharing active|passive [threads [iterations [object_size [writes]]]] */
#include "bench_common.h"

#include <pthread.h>
#include <string.h>

#define USAGE "active|passive [threads [iterations [object_size [writes]]]]"

/* One per thread, each on its own cache lines (and a multiple of the
 * alignment in size, as aligned_alloc wants). */
struct task {
    _Alignas(BENCH_CACHE_PAD) char *initial; /* passive: the main thread's block */
};

static pthread_barrier_t go;
static unsigned long iterations, writes;
static size_t objsize;

static void *worker(void *arg)
{
    struct task *t = arg;
    unsigned long it, w;
    size_t k;

    pthread_barrier_wait(&go);
    free(t->initial); /* free(NULL) in active mode */
    for (it = 0; it < iterations; it++) {
        /* volatile: every store must reach the cache line, as it would
         * in a real counter or flag, or the loop would collapse. */
        volatile char *p = malloc(objsize);
        if (p == NULL) {
            fprintf(stderr, "false_sharing: malloc failed\n");
            exit(3);
        }
        for (w = 0; w < writes; w++)
            for (k = 0; k < objsize; k++)
                p[k] = (char)(p[k] + 1);
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long long nthreads;
    struct task *tasks;
    pthread_t *threads;
    int passive;
    unsigned i;
    double start, elapsed;

    if (argc < 2 || (strcmp(argv[1], "active") != 0 && strcmp(argv[1], "passive") != 0)) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    passive = strcmp(argv[1], "passive") == 0;
    nthreads = bench_arg(argc, argv, 2, 2, 1, 1024, "threads", USAGE);
    iterations = (unsigned long)bench_arg(argc, argv, 3, 40000, 1, 1ull << 40, "iterations", USAGE);
    objsize = (size_t)bench_arg(argc, argv, 4, 8, 1, 4096, "object_size", USAGE);
    writes = (unsigned long)bench_arg(argc, argv, 5, 1000, 1, 1ull << 40, "writes", USAGE);
    if (argc > 6) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }

    tasks = aligned_alloc(BENCH_CACHE_PAD, sizeof *tasks * nthreads);
    threads = bench_xmalloc(sizeof *threads * nthreads);
    if (tasks == NULL) {
        fprintf(stderr, "false_sharing: out of memory\n");
        return 3;
    }
    /* Allocated back to back, so with most allocators they are
     * neighbours in one cache line. */
    for (i = 0; i < nthreads; i++)
        tasks[i].initial = passive ? bench_xmalloc(objsize) : NULL;

    pthread_barrier_init(&go, NULL, (unsigned)nthreads + 1);
    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&threads[i], NULL, worker, &tasks[i]) != 0) {
            fprintf(stderr, "false_sharing: cannot create thread\n");
            return 3;
        }
    }
    start = bench_now();
    pthread_barrier_wait(&go);
    for (i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    elapsed = bench_now() - start;
    pthread_barrier_destroy(&go);
    free(tasks);
    free(threads);

    printf("false_sharing: %s, %llu threads, %lu iterations of %zu-byte objects, %lu writes each, "
           "%.3f s\n",
           passive ? "passive" : "active", nthreads, iterations, objsize, writes, elapsed);
    printf("seconds %.6f\n", elapsed);
    return 0;
}
