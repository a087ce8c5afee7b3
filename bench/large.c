/* large.c - large blocks (64 KiB to 32 MiB by default, log-uniform):
 * a few live at a time, each allocated, written on every page and freed,
 * as with I/O buffers, images or decompression windows.  Measures how an
 * allocator maps, caches and returns big blocks (mmap/munmap and page
 * faults versus reuse).  Reports operations (one malloc + one free) per
 * second.
 *
 * usage: large [iterations [min_size [max_size [live]]]] */
#include "bench_common.h"

#include <unistd.h>

#define USAGE "[iterations [min_size [max_size [live]]]]"

int main(int argc, char **argv)
{
    unsigned long long iters = bench_arg(argc, argv, 1, 1000, 1, 1ull << 40, "iterations", USAGE);
    size_t min_size = (size_t)bench_arg(argc, argv, 2, 64 << 10, 1, 1ull << 32, "min_size", USAGE);
    size_t max_size =
        (size_t)bench_arg(argc, argv, 3, 32 << 20, min_size, 1ull << 32, "max_size", USAGE);
    size_t live = (size_t)bench_arg(argc, argv, 4, 4, 1, 4096, "live", USAGE);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned lo_shift = 0, hi_shift = 0;
    char **blocks;
    bench_rng rng;
    unsigned long long it;
    double start, elapsed;
    size_t i;

    if (argc > 5) {
        fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
        return 2;
    }
    if ((double)live * (double)max_size > 8.0 * (1ull << 30)) {
        fprintf(stderr, "large: live set could exceed 8 GiB\n");
        return 2;
    }
    while (((size_t)1 << (lo_shift + 1)) <= min_size)
        lo_shift++;
    while (((size_t)1 << (hi_shift + 1)) <= max_size)
        hi_shift++;
    blocks = bench_xmalloc(sizeof *blocks * live);
    for (i = 0; i < live; i++)
        blocks[i] = NULL;
    bench_rng_seed(&rng, 4242);

    start = bench_now();
    for (it = 0; it < iters; it++) {
        size_t slot = (size_t)bench_rng_below(&rng, live);
        /* Log-uniform between the bounds: each power of two is as likely
         * as the next, so the 64 KiB end is not drowned out. */
        size_t base = (size_t)1 << bench_rng_range(&rng, lo_shift, hi_shift);
        size_t size = base + (size_t)bench_rng_below(&rng, base), off;
        char *p;

        if (size < min_size)
            size = min_size;
        if (size > max_size)
            size = max_size;
        free(blocks[slot]);
        p = malloc(size);
        if (p == NULL) {
            fprintf(stderr, "large: malloc(%zu) failed\n", size);
            return 3;
        }
        /* One store per page: every page is faulted in (or found already
         * resident when the allocator reused memory). */
        for (off = 0; off < size; off += page)
            p[off] = (char)it;
        p[size - 1] = (char)it;
        blocks[slot] = p;
    }
    elapsed = bench_now() - start;
    for (i = 0; i < live; i++)
        free(blocks[i]);
    free(blocks);

    printf("large: %llu operations on %zu live blocks of %zu..%zu bytes, %.3f s\n", iters, live,
           min_size, max_size, elapsed);
    printf("ops_per_sec %.0f\n", (double)iters / elapsed);
    return 0;
}
