/* rel_common.h - helpers shared by the reliability tests: a PRNG, block
 * stamps that make a block handed out twice visible, failure reporting
 * from any thread, statistics snapshots and RSS readings.  Plain C with
 * no test framework, so every program also runs in the sanitizer builds. */
#ifndef HAKMEM_REL_COMMON_H
#define HAKMEM_REL_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"
#include "../test_rand.h"

/* REL_TSAN: built with ThreadSanitizer (gcc and clang spell it apart);
 * such runs are 5-20 times slower, so tests shorten their default form. */
#if defined(__SANITIZE_THREAD__)
#define REL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define REL_TSAN 1
#endif
#endif
#ifndef REL_TSAN
#define REL_TSAN 0
#endif

/* Test-harness exit codes (automake's parallel harness). */
#define REL_EXIT_SKIP 77
#define REL_EXIT_HARD 99

/* A size the compiler cannot see, so it neither folds a call away nor
 * warns about a size it considers absurd. */
static inline size_t rel_opaque(size_t n)
{
    volatile size_t v = n;
    return v;
}

/* ---- failure ------------------------------------------------------------- */

/* The first failure of any thread is printed and ends the process at
 * once: once a block was handed out twice nothing after it can be
 * trusted, and the other threads may be stuck on a corrupted heap. */
__attribute__((format(printf, 2, 3), noreturn, unused)) static void rel_fail(const char *prog,
                                                                          const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* write(2), not stdio: stdio may allocate, and the heap is suspect. */
    char out[600];
    int n = snprintf(out, sizeof out, "%s: FAIL: %s\n", prog, line);
    if (n > 0)
        (void)!write(2, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
    _exit(1);
}

/* ---- block stamps --------------------------------------------------------- */

/* Word k of a block stamped with tag holds tag ^ mix(k), and the bytes past
 * the last whole word a function of both; so two holders of the same block
 * (different tags) overwrite each other's stamp, and a free-list link
 * written into a live block shows up too.  Word 0 is the tag itself, so a
 * report names who else wrote the block. */
static inline uint64_t rel_word(uint64_t tag, size_t k)
{
    uint64_t x = tag ^ (k * 0x9E3779B97F4A7C15ULL);
    return k == 0 ? tag : x ^ (x >> 31);
}

static inline void rel_stamp(void *p, size_t size, uint64_t tag)
{
    unsigned char *b = p;
    size_t words = size / 8;
    for (size_t k = 0; k < words; k++) {
        uint64_t w = rel_word(tag, k);
        memcpy(b + 8 * k, &w, 8);
    }
    for (size_t i = words * 8; i < size; i++)
        b[i] = (unsigned char)(tag >> (8 * (i & 7))) ^ (unsigned char)i;
}

/* Offset of the first wrong byte, or SIZE_MAX when the stamp is intact. */
static inline size_t rel_verify(const void *p, size_t size, uint64_t tag)
{
    const unsigned char *b = p;
    size_t words = size / 8;
    for (size_t k = 0; k < words; k++) {
        uint64_t w;
        memcpy(&w, b + 8 * k, 8);
        if (w != rel_word(tag, k))
            return 8 * k;
    }
    for (size_t i = words * 8; i < size; i++)
        if (b[i] != ((unsigned char)(tag >> (8 * (i & 7))) ^ (unsigned char)i))
            return i;
    return SIZE_MAX;
}

/* Word 0 of p, for reports (what the block says about its holder). */
static inline uint64_t rel_word0(const void *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* ---- statistics ------------------------------------------------------------ */

static inline struct hak_stats rel_stats(const char *prog)
{
    struct hak_stats st;
    memset(&st, 0, sizeof st);
    if (hak_stats(&st, sizeof st) != 0)
        rel_fail(prog, "hak_stats failed: %s", strerror(errno));
    return st;
}

/* Small blocks live according to the library: allocations minus frees. */
static inline int64_t rel_net_blocks(const struct hak_stats *st)
{
    return (int64_t)(st->allocs - st->frees);
}

/* ---- threads ---------------------------------------------------------------- */

static inline void *rel_nop_thread(void *arg) { return arg; }

static inline void *rel_spawn_one(void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, rel_nop_thread, NULL) == 0)
        pthread_join(t, NULL);
    return arg;
}

/* In an override build the C library allocates with hakmem too: a new
 * thread stack gets a DTV (calloc) that stays allocated while glibc keeps
 * the stack in its cache.  Creating n threads, each with a child, before a
 * baseline fills that cache, so later threads reuse cached stacks and the
 * hak_stats balance stays exact. */
static inline void rel_warm_up_threads(int n)
{
    pthread_t t[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, rel_spawn_one, NULL) != 0)
            n = i;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* ---- resident memory --------------------------------------------------------- */

/* Resident set size in bytes, from /proc/self/statm (second field, pages);
 * read with read(2), which does not allocate. */
static inline size_t rel_rss_bytes(void)
{
    char buf[128];
    unsigned long size_pages = 0, rss_pages = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%lu %lu", &size_pages, &rss_pages) != 2)
        return 0;
    return (size_t)rss_pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- environment ------------------------------------------------------------- */

/* Numeric parameter from the environment (REL_* variables: names starting
 * HAKMEM_ would be reported by the library as unknown settings). */
static inline long rel_env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return *end == '\0' ? x : dflt;
}

#endif /* HAKMEM_REL_COMMON_H */
