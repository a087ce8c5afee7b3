/* realloc_mix.c - a string-builder / growing-vector workload: a table of
 * live blocks of mixed sizes (8 B to 64 KiB, log-uniform) where each
 * operation allocates an empty slot, frees a block, or reallocs it to
 * about twice or half its size, checking that realloc kept the contents.
 * Measures in-place growth, size-class moves and copies.  Reports
 * operations per second.
 *
 * usage: realloc_mix [operations [slots [max_size [threads]]]] */
#include "bench_common.h"

#include <pthread.h>
#include <string.h>

#define USAGE "[operations [slots [max_size [threads]]]]"

/* One per thread, each on its own cache lines (and a multiple of the
 * alignment in size, as aligned_alloc wants). */
struct task {
    _Alignas(BENCH_CACHE_PAD) unsigned id;
};

static unsigned long long nops;
static size_t nslots, max_size;
static unsigned max_shift;

/* Log-uniform in [8, max_size]: small sizes dominate as in real
 * programs, but every power of two up to the maximum is visited. */
static size_t random_size(bench_rng *r)
{
    size_t base = (size_t)8 << bench_rng_below(r, max_shift + 1);
    size_t s = base + (size_t)bench_rng_below(r, base);
    return s > max_size ? max_size : s;
}

static void *worker(void *arg)
{
    struct task *t = arg;
    char **blocks = calloc(nslots, sizeof *blocks);
    size_t *sizes = calloc(nslots, sizeof *sizes);
    bench_rng rng;
    unsigned long long i;
    size_t s;

    if (blocks == NULL || sizes == NULL) {
        fprintf(stderr, "realloc_mix: out of memory\n");
        exit(3);
    }
    bench_rng_seed(&rng, 77 + t->id);
    for (i = 0; i < nops; i++) {
        size_t slot = (size_t)bench_rng_below(&rng, nslots);
        char *p = blocks[slot];
        size_t old = sizes[slot], size;
        unsigned action = (unsigned)bench_rng_below(&rng, 8);

        if (p == NULL) {
            size = random_size(&rng);
            p = malloc(size);
        } else if (action == 0) {
            free(p);
            blocks[slot] = NULL;
            continue;
        } else {
            /* 1..4 grow, 5..7 shrink: the table drifts upwards but each
             * free resets a slot, so the live set stays bounded. */
            if (action <= 4)
                size = old * 2 + (size_t)bench_rng_below(&rng, old + 1);
            else
                size = old / 2 + 1;
            if (size > max_size)
                size = max_size;
            if (p[0] != (char)slot || p[old - 1] != (char)(old ^ slot)) {
                fprintf(stderr, "realloc_mix: block contents lost\n");
                exit(4);
            }
            p = realloc(p, size);
            if (p != NULL && size >= old && p[old - 1] != (char)(old ^ slot)) {
                fprintf(stderr, "realloc_mix: realloc lost the contents\n");
                exit(4);
            }
        }
        if (p == NULL) {
            fprintf(stderr, "realloc_mix: allocation of %zu bytes failed\n", size);
            exit(3);
        }
        p[0] = (char)slot;
        p[size - 1] = (char)(size ^ slot);
        blocks[slot] = p;
        sizes[slot] = size;
    }
    for (s = 0; s < nslots; s++)
        free(blocks[s]);
    free(blocks);
    free(sizes);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long long nthreads;
    struct task *tasks;
    pthread_t *threads;
    double start, elapsed;
    unsigned i;

    nops = bench_arg(argc, argv, 1, 3000000, 1, 1ull << 40, "operations", USAGE);
    nslots = (size_t)bench_arg(argc, argv, 2, 1000, 1, 1 << 24, "slots", USAGE);
    max_size = (size_t)bench_arg(argc, argv, 3, 65536, 8, 1 << 30, "max_size", USAGE);
    nthreads = bench_arg(argc, argv, 4, 1, 1, 1024, "threads", USAGE);
    if (argc > 5) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    if ((double)nslots * (double)max_size * (double)nthreads > 4.0 * (1ull << 30)) {
        fprintf(stderr, "realloc_mix: live set could exceed 4 GiB\n");
        return 2;
    }
    for (max_shift = 0; ((size_t)8 << (max_shift + 1)) <= max_size; max_shift++)
        ;

    tasks = aligned_alloc(BENCH_CACHE_PAD, sizeof *tasks * nthreads);
    threads = bench_xmalloc(sizeof *threads * nthreads);
    if (tasks == NULL) {
        fprintf(stderr, "realloc_mix: out of memory\n");
        return 3;
    }
    start = bench_now();
    for (i = 0; i < nthreads; i++) {
        tasks[i].id = i;
        if (pthread_create(&threads[i], NULL, worker, &tasks[i]) != 0) {
            fprintf(stderr, "realloc_mix: cannot create thread\n");
            return 3;
        }
    }
    for (i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    elapsed = bench_now() - start;
    free(tasks);
    free(threads);

    printf("realloc_mix: %llu threads x %llu operations on %zu slots up to %zu bytes, %.3f s\n",
           nthreads, nops, nslots, max_size, elapsed);
    printf("ops_per_sec %.0f\n", (double)nops * (double)nthreads / elapsed);
    return 0;
}
