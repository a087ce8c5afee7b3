/* churn.c - single-thread malloc/free of small objects (16-128 B by
 * default) in batches, freed alternately in allocation order and in
 * reverse: the fast path of every allocator, as in a program building and
 * dropping small nodes and strings.  Reports operations (one malloc + one
 * free) per second.
 *
 * usage: churn [rounds [batch [min_size [max_size]]]] */
#include "bench_common.h"

#define USAGE "[rounds [batch [min_size [max_size]]]]"

int main(int argc, char **argv)
{
    unsigned long long rounds = bench_arg(argc, argv, 1, 100000, 1, 1ull << 40, "rounds", USAGE);
    size_t batch = (size_t)bench_arg(argc, argv, 2, 1000, 1, 1 << 24, "batch", USAGE);
    size_t min_size = (size_t)bench_arg(argc, argv, 3, 16, 1, 1 << 20, "min_size", USAGE);
    size_t max_size = (size_t)bench_arg(argc, argv, 4, 128, min_size, 1 << 20, "max_size", USAGE);
    char **blocks;
    bench_rng rng;
    unsigned long long r;
    double start, elapsed;
    size_t i;

    if (argc > 5) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    blocks = bench_xmalloc(sizeof *blocks * batch);
    bench_rng_seed(&rng, 12345);
    start = bench_now();
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < batch; i++) {
            size_t size = bench_rng_range(&rng, min_size, max_size);
            char *p = malloc(size);
            if (p == NULL) {
                fprintf(stderr, "churn: malloc(%zu) failed\n", size);
                return 3;
            }
            p[0] = (char)i;
            blocks[i] = p;
        }
        /* FIFO rounds defeat a pure LIFO free list's locality; LIFO
         * rounds reward it.  Real programs do both. */
        if (r & 1) {
            for (i = 0; i < batch; i++)
                free(blocks[i]);
        } else {
            for (i = batch; i-- > 0;)
                free(blocks[i]);
        }
    }
    elapsed = bench_now() - start;
    free(blocks);

    printf("churn: %llu rounds of %zu blocks of %zu..%zu bytes, %.3f s\n", rounds, batch, min_size,
           max_size, elapsed);
    printf("ops_per_sec %.0f\n", (double)rounds * (double)batch / elapsed);
    return 0;
}
