/* bench_common.h - helpers shared by the hakmem benchmark workloads:
 * a fast per-thread PRNG, a monotonic clock and strict argument parsing.
 * Workloads call only the plain malloc family so that LD_PRELOAD decides
 * which allocator is measured; nothing here allocates. */
#ifndef HAKMEM_BENCH_COMMON_H
#define HAKMEM_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Keeps the compiler from proving a block unused and deleting the
 * malloc/free pair around it (GCC and clang both do that). */
#define BENCH_ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

/* Separates data written by different threads onto different cache
 * lines (two lines, because adjacent-line prefetch pairs them). */
#define BENCH_CACHE_PAD 128

/* xoshiro-style generators are overkill here; splitmix64 is one add and
 * three multiply/xor-shift steps, passes the statistical tests that
 * matter for picking slots and sizes, and has no shared state (rand()
 * takes a lock in glibc, which would measure the PRNG, not malloc). */
typedef struct {
    uint64_t s;
} bench_rng;

static inline void bench_rng_seed(bench_rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

static inline uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without a division (Lemire's multiply-shift). */
static inline uint64_t bench_rng_below(bench_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline size_t bench_rng_range(bench_rng *r, size_t lo, size_t hi)
{
    return lo + (size_t)bench_rng_below(r, (uint64_t)(hi - lo) + 1);
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parses argv[i] as an unsigned integer in [lo, hi] or exits with a
 * usage message: a benchmark run with a silently wrong parameter is
 * worse than one that refuses to start. */
static inline unsigned long long bench_arg(int argc, char **argv, int i, unsigned long long dflt,
                                           unsigned long long lo, unsigned long long hi,
                                           const char *name, const char *usage)
{
    char *end;
    unsigned long long v;

    if (i >= argc)
        return dflt;
    errno = 0;
    v = strtoull(argv[i], &end, 0);
    if (errno || end == argv[i] || *end != '\0' || argv[i][0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "%s: bad %s '%s' (want %llu..%llu)\nusage: %s %s\n", argv[0], name, argv[i],
                lo, hi, argv[0], usage);
        exit(2);
    }
    return v;
}

static inline void *bench_xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "bench: out of memory allocating %zu bytes\n", n);
        exit(3);
    }
    return p;
}

#endif
