/* leak.c - many short-lived blocks with a slowly growing leak, after the
 * behaviour of mimalloc-bench's "mleak" workload, written for hakmem from
 * that description: one thread allocates blocks of mixed sizes (16 B to
 * 1 KiB, log-uniform) that live for a short, fixed number of operations
 * (a ring of the most recent blocks, oldest freed first), and one block
 * in `leak_one_in` is never freed: it stays linked on a list, as in a
 * cache that only grows.  The leaked blocks are scattered over the slabs
 * the short-lived ones cycle through, so an allocator that can only
 * reuse whole slabs or pages sees its footprint grow faster than the
 * leak.  Reports blocks (one malloc + one free, or one leak) per second;
 * compare the peak RSS with the leaked bytes it prints.
 *
 * usage: leak [operations [lifetime [leak_one_in [min_size [max_size]]]]] */
#include "bench_common.h"

#define USAGE "[operations [lifetime [leak_one_in [min_size [max_size]]]]]"

int main(int argc, char **argv)
{
    unsigned long long nops =
        bench_arg(argc, argv, 1, 100000000, 1, 1ull << 40, "operations", USAGE);
    size_t lifetime = (size_t)bench_arg(argc, argv, 2, 512, 1, 1 << 24, "lifetime", USAGE);
    unsigned long long leak_one_in =
        bench_arg(argc, argv, 3, 1000, 2, 1ull << 40, "leak_one_in", USAGE);
    size_t min_size =
        (size_t)bench_arg(argc, argv, 4, 16, sizeof(void *), 1 << 20, "min_size", USAGE);
    size_t max_size = (size_t)bench_arg(argc, argv, 5, 1024, min_size, 1 << 24, "max_size", USAGE);
    unsigned long long i, leaked = 0;
    size_t leaked_bytes = 0;
    unsigned max_shift;
    void *leaks = NULL; /* the leaked blocks, linked through their first word */
    char **ring;
    size_t *sizes;
    bench_rng rng;
    double start, elapsed;

    if (argc > 6) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    if ((double)nops / (double)leak_one_in * (double)max_size > 4.0 * (1ull << 30)) {
        fprintf(stderr, "leak: the leak could exceed 4 GiB; leak less\n");
        return 2;
    }
    for (max_shift = 0; (min_size << (max_shift + 1)) <= max_size; max_shift++) {
    }

    ring = bench_xmalloc(sizeof *ring * lifetime);
    sizes = bench_xmalloc(sizeof *sizes * lifetime);
    for (size_t k = 0; k < lifetime; k++)
        ring[k] = NULL;
    bench_rng_seed(&rng, 4242);
    start = bench_now();
    for (i = 0; i < nops; i++) {
        size_t slot = (size_t)(i % lifetime);
        size_t base = min_size << bench_rng_below(&rng, max_shift + 1);
        size_t size = base + (size_t)bench_rng_below(&rng, base);
        char *p;
        if (size > max_size)
            size = max_size;
        if (ring[slot] != NULL) {
            /* The oldest block dies now, unless it is the one in
             * leak_one_in that a program forgets. */
            if (bench_rng_below(&rng, leak_one_in) == 0) {
                *(void **)ring[slot] = leaks;
                leaks = ring[slot];
                leaked++;
                leaked_bytes += sizes[slot];
            } else {
                free(ring[slot]);
            }
        }
        p = bench_xmalloc(size);
        p[size - 1] = (char)i;
        p[0] = (char)i;
        ring[slot] = p;
        sizes[slot] = size;
    }
    elapsed = bench_now() - start;
    for (size_t k = 0; k < lifetime; k++)
        free(ring[k]);
    free(ring);
    free(sizes);
    BENCH_ESCAPE(leaks);

    printf("leak: %llu blocks of %zu..%zu bytes living %zu operations, one in %llu leaked: "
           "%llu blocks, %.1f MiB, %.3f s\n",
           nops, min_size, max_size, lifetime, leak_one_in, leaked,
           (double)leaked_bytes / 1048576.0, elapsed);
    printf("leaked_kb %.0f\n", (double)leaked_bytes / 1024.0);
    printf("ops_per_sec %.0f\n", (double)nops / elapsed);
    return 0;
}
