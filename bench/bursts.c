/* bursts.c - single-thread bursts of mixed sizes freed in random order:
 * one thread allocates a burst of a few thousand blocks of mixed sizes
 * (log-uniform, 8 B to 4 KiB by default), writes each, then frees the
 * whole burst in a random order, and repeats with a burst of another
 * length.  Written for hakmem from the behaviour of the allocation-burst
 * benchmarks: the bursts of MicroQuill's SmartHeap benchmark (sh6bench,
 * which frees in and against allocation order) and the random free order
 * of OLogN's alloc-test (mimalloc-bench's alloc-test1).  A random free
 * order scatters each slab's free list, so the next burst walks free
 * lists that no longer follow address order: this measures free-list
 * locality and how quickly emptied slabs are reused, not only the fast
 * path.  Reports blocks (one malloc + one free) per second.
 *
 * usage: bursts [rounds [min_blocks [max_blocks [min_size [max_size]]]]] */
#include "bench_common.h"

#define USAGE "[rounds [min_blocks [max_blocks [min_size [max_size]]]]]"

static size_t min_size, max_size;
static unsigned max_shift;

/* Log-uniform in [min_size, max_size]: an octave above min_size, then a
 * uniform size in it, cut at max_size. */
static size_t random_size(bench_rng *r)
{
    size_t base = min_size << bench_rng_below(r, max_shift + 1);
    size_t size = base + (size_t)bench_rng_below(r, base);
    return size > max_size ? max_size : size;
}

int main(int argc, char **argv)
{
    unsigned long long rounds = bench_arg(argc, argv, 1, 2000, 1, 1ull << 40, "rounds", USAGE);
    size_t min_blocks = (size_t)bench_arg(argc, argv, 2, 1000, 1, 1 << 24, "min_blocks", USAGE);
    size_t max_blocks =
        (size_t)bench_arg(argc, argv, 3, 8000, min_blocks, 1 << 24, "max_blocks", USAGE);
    unsigned long long total = 0, r;
    bench_rng rng;
    char **blocks;
    double start, elapsed;
    size_t i;

    min_size = (size_t)bench_arg(argc, argv, 4, 8, 1, 1 << 20, "min_size", USAGE);
    max_size = (size_t)bench_arg(argc, argv, 5, 4096, min_size, 1 << 24, "max_size", USAGE);
    if (argc > 6) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    if ((double)max_blocks * (double)max_size > 4.0 * (1ull << 30)) {
        fprintf(stderr, "bursts: a burst could exceed 4 GiB; lower the sizes\n");
        return 2;
    }
    for (max_shift = 0; (min_size << (max_shift + 1)) <= max_size; max_shift++) {
    }

    blocks = bench_xmalloc(sizeof *blocks * max_blocks);
    bench_rng_seed(&rng, 31337);
    start = bench_now();
    for (r = 0; r < rounds; r++) {
        size_t n = bench_rng_range(&rng, min_blocks, max_blocks);
        for (i = 0; i < n; i++) {
            size_t size = random_size(&rng);
            char *p = bench_xmalloc(size);
            p[size - 1] = (char)r;
            p[0] = (char)i;
            blocks[i] = p;
        }
        /* Fisher-Yates: the burst goes back in a uniformly random order. */
        for (i = n - 1; i > 0; i--) {
            size_t j = (size_t)bench_rng_below(&rng, i + 1);
            char *p = blocks[i];
            blocks[i] = blocks[j];
            blocks[j] = p;
        }
        for (i = 0; i < n; i++)
            free(blocks[i]);
        total += n;
    }
    elapsed = bench_now() - start;
    free(blocks);

    printf("bursts: %llu rounds of %zu..%zu blocks of %zu..%zu bytes, freed in random order, "
           "%.3f s\n",
           rounds, min_blocks, max_blocks, min_size, max_size, elapsed);
    printf("ops_per_sec %.0f\n", (double)total / elapsed);
    return 0;
}
