/* internal.h - definitions shared by every layer of the allocator.
 * Included first by each source file; never installed.  Its names have no
 * module prefix: they are the vocabulary of every file.
 *
 * Glossary (the same words in code, tests and documentation):
 *   OS page    4 KiB, what the kernel maps, faults in and takes back.
 *   chunk      2 MiB of address space, 2 MiB aligned: the unit of the
 *              chunk map.  A SuperSlab is one chunk; a large block's
 *              mapping starts on one.
 *   SuperSlab  a chunk cut into 32 units; unit 0 holds its header and
 *              the metadata of every slab in it.
 *   unit       64 KiB, a 32nd of a SuperSlab.
 *   slab       1-16 consecutive units serving one size class, owned by
 *              one thread heap at a time.
 *   block      what malloc hands out.  A small block comes from a slab
 *              (at most 1 MiB, SIZE_CLASS_SMALL_MAX); of those, a tiny
 *              block (at most 1 KiB) finds its class by table, a mid
 *              block by arithmetic.  A large block (above 1 MiB, or
 *              aligned beyond a unit) is a mapping of its own. */
#ifndef HAKMEM_INTERNAL_H
#define HAKMEM_INTERNAL_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Hot helpers live inline in headers; slow paths are out of line and cold
 * so the fast paths stay small. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define COLD __attribute__((cold, noinline))
#define NOINLINE __attribute__((noinline))
#define NORETURN __attribute__((noreturn))
#define CACHELINE 64
#define ALIGNED(n) __attribute__((aligned(n)))

/* Every block is at least this aligned (alignof(max_align_t) on x86-64). */
#define MIN_ALIGN 16

#define OS_PAGE_SIZE 4096UL

/* Milliseconds of a coarse monotonic clock (no system call: vDSO), for
 * ages and rate limits on slow paths. */
static inline uint64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Atomics: one vocabulary, on plain (not _Atomic) objects, with the
 * memory order in the name.  Whatever another thread may read or write at
 * the same time goes through these, never through a plain access. */
#define load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define fetch_add_relaxed(p, n) __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define fetch_sub_relaxed(p, n) __atomic_fetch_sub((p), (n), __ATOMIC_RELAXED)
#define fetch_or_release(p, v) __atomic_fetch_or((p), (v), __ATOMIC_RELEASE)
#define fetch_and_release(p, v) __atomic_fetch_and((p), (v), __ATOMIC_RELEASE)
#define exchange_acquire(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQUIRE)
/* Compare-and-swap: *expected is updated on failure, which is relaxed. */
#define cas_weak(p, expected, desired, order)                                                      \
    __atomic_compare_exchange_n((p), (expected), (desired), true, (order), __ATOMIC_RELAXED)
#define cas_strong(p, expected, desired, order)                                                    \
    __atomic_compare_exchange_n((p), (expected), (desired), false, (order), __ATOMIC_RELAXED)
/* Sequentially consistent, for the one place that needs it: a sleeper
 * that announces itself and then reads a counter, against a waker that
 * adds to the counter and then reads the announcement (neither may see
 * the other's old value, or a wake-up is lost). */
#define load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define exchange_seq_cst(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define fetch_add_seq_cst(p, n) __atomic_fetch_add((p), (n), __ATOMIC_SEQ_CST)

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#else
#define TSAN_BUILD 0
#endif

/* A field with one writer that other threads only read (statistics
 * counters, a slab's `used`): the writer adds or stores with a plain
 * access, one instruction (an aligned 64-bit store does not tear), and
 * readers use load_relaxed.  ThreadSanitizer builds use relaxed atomics,
 * so the race is declared rather than reported. */
typedef uint64_t counter_t;
/* load_published: a read of a field that its writer published before
 * any pointer leading to it reached this thread (a stale value where it
 * did not is harmless to the caller).  A plain load, which the compiler
 * may fold into the instruction that uses it; relaxed in ThreadSanitizer
 * builds. */
#if TSAN_BUILD
#define owner_add(p, n) store_relaxed((p), load_relaxed(p) + (n))
#define owner_store(p, v) store_relaxed((p), (v))
#define load_published(p) load_relaxed(p)
#else
#define owner_add(p, n) ((void)(*(p) += (n)))
#define owner_store(p, v) ((void)(*(p) = (v)))
#define load_published(p) (*(p))
#endif

ALWAYS_INLINE uintptr_t align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }

#endif /* HAKMEM_INTERNAL_H */
