/* pair.c - N malloc/free pairs of 32-39 byte blocks in one thread, for
 * counting instructions per pair under callgrind: the runner runs it with
 * two values of N and divides the difference, which cancels start-up and
 * the allocator's own initialisation.
 *
 * usage: pair N */
#include "bench_common.h"

int main(int argc, char **argv)
{
    unsigned long long n = bench_arg(argc, argv, 1, 1000000, 0, 1ull << 40, "N", "N");
    unsigned long long i;

    for (i = 0; i < n; i++) {
        void *p = malloc(32 + (i & 7));
        /* Without the escape the compiler may delete the pair. */
        BENCH_ESCAPE(p);
        free(p);
    }
    printf("pairs %llu\n", n);
    return 0;
}
