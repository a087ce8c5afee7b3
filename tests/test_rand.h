/* test_rand.h - the tests' deterministic PRNG (xorshift64*), shared by the
 * check suites in tests/ and the programs in tests/reliability/. */
#ifndef HAKMEM_TEST_RAND_H
#define HAKMEM_TEST_RAND_H

#include <stdint.h>

static inline uint64_t test_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A nonzero state from any value (thread index, seed). */
static inline uint64_t test_seed(uint64_t v) { return (v + 1) * 0x9E3779B97F4A7C15ULL | 1; }

#endif /* HAKMEM_TEST_RAND_H */
