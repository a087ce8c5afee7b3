/* internal.h - definitions shared by every layer of the allocator.
 * Included first by each source file; never installed. */
#ifndef HAKMEM_INTERNAL_H
#define HAKMEM_INTERNAL_H

#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Hot helpers live inline in headers; slow paths are out of line and cold
 * so the fast paths stay small. */
#define HAK_INLINE static inline __attribute__((always_inline))
#define HAK_COLD __attribute__((cold, noinline))
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_NORETURN __attribute__((noreturn))
#define HAK_CACHELINE 64
#define HAK_ALIGNED(n) __attribute__((aligned(n)))

/* Every block is at least this aligned (alignof(max_align_t) on x86-64). */
#define HAK_MIN_ALIGN 16

#define HAK_PAGE_SIZE 4096UL

/* Milliseconds of a coarse monotonic clock (no system call: vDSO), for
 * ages and rate limits on slow paths. */
static inline uint64_t hak_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Relaxed atomics for counters that one thread writes and others only read
 * (statistics): plain loads and stores on x86, but race-free in C11. */
#define HAK_RELAXED_ADD(obj, n) \
    atomic_store_explicit(&(obj), atomic_load_explicit(&(obj), memory_order_relaxed) + (n), \
                          memory_order_relaxed)
#define HAK_RELAXED_LOAD(obj) atomic_load_explicit(&(obj), memory_order_relaxed)

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define HAK_TSAN 1
#else
#define HAK_TSAN 0
#endif

/* Statistics counters on fast paths: one thread writes, hak_stats() reads.
 * A plain add is one instruction; an aligned 64-bit store does not tear,
 * and readers load with __atomic_load_n.  ThreadSanitizer builds use the
 * relaxed-atomic form so the race is declared rather than reported. */
typedef uint64_t hak_counter_t;
#if HAK_TSAN
#define HAK_COUNT(c, n)                                                                            \
    __atomic_store_n(&(c), __atomic_load_n(&(c), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#else
#define HAK_COUNT(c, n) ((c) += (n))
#endif
#define HAK_COUNTER_READ(c) __atomic_load_n(&(c), __ATOMIC_RELAXED)
/* A store by a field's only writer that other threads read (statistics). */
#if HAK_TSAN
#define HAK_OWNER_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#else
#define HAK_OWNER_STORE(x, v) ((x) = (v))
#endif

HAK_INLINE uintptr_t hak_align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }

#endif /* HAKMEM_INTERNAL_H */
