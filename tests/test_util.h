/* test_util.h - what every test program shares: exit codes and failure,
 * sizes the compiler cannot see, the PRNG, fill patterns that make a
 * block handed out twice visible, the size-class table of the
 * specification, statistics and RSS readings.  Plain C with no
 * test framework, so the stress and fuzz programs build in every build,
 * sanitizers included; the check programs include test_check.h, which
 * adds the check framework's part.  Everything is static, so each program
 * takes what it uses.  Names: test_ and TEST_ (hak_ is the library's
 * public prefix). */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"

/* TEST_TSAN: built with ThreadSanitizer (gcc and clang spell it apart);
 * such runs are 5-20 times slower, so tests shorten their default form. */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

/* Exit codes of automake's test harness besides 0 and 1. */
#define TEST_EXIT_SKIP 77 /* this build or machine cannot run the test */
#define TEST_EXIT_HARD 99 /* the test itself could not run as meant */

#define TEST_KiB ((size_t)1024)
#define TEST_MiB (1024 * TEST_KiB)
#define TEST_MIN_ALIGN ((size_t)16)
/* Largest block served from size classes; anything above is mapped alone. */
#define TEST_MAX_SMALL TEST_MiB

/* A size the compiler cannot see, so calls with absurd sizes are neither
 * warned about (-Walloc-size-larger-than) nor folded away. */
static inline size_t test_opaque(size_t n)
{
    volatile size_t v = n;
    return v;
}

static inline void *test_opaque_ptr(void *p)
{
    void *volatile v = p;
    return v;
}

static inline int test_aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* ---- the PRNG (xorshift64*), deterministic ------------------------------- */

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

/* ---- time (only to bound how long a loop runs, never judged) ------------- */

static inline double test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- failure, in the programs without a test framework -------------------- */

extern char *program_invocation_short_name; /* glibc's, also in <errno.h> */

/* The program's name, as it was started: the stress programs built in
 * several variants (tests/stress/local.mk) say which one they are. */
static inline const char *test_prog(void) { return program_invocation_short_name; }

/* The first failure of any thread is printed and ends the process at
 * once: once a block was handed out twice nothing after it can be
 * trusted, and the other threads may be stuck on a corrupted heap.
 * (The check programs record a worker's failure instead, test_check.h.) */
__attribute__((format(printf, 1, 2), noreturn, unused)) static void test_fail(const char *fmt,
                                                                             ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* write(2), not stdio: stdio may allocate, and the heap is suspect. */
    char out[600];
    int n = snprintf(out, sizeof out, "%s: FAIL: %s\n", test_prog(), line);
    if (n > 0)
        (void)!write(2, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
    _exit(1);
}

/* ---- fill patterns ---------------------------------------------------------- */

/* Word k of a block filled with `tag`: word 0 is the tag (xor a constant,
 * so that tag 0 is no zero word), the others mix tag and k.  Byte i of
 * the block is byte i % 8 of word i / 8 (least significant first), also
 * in a range filled from an odd offset: a block filled to n bytes and
 * then byte by byte further verifies as one.  Two holders of one block
 * (different tags) overwrite each other's pattern, a free-list link
 * written into a live block shows up, and word 0 of a block says who
 * else filled it (test_filled_tag). */
#define TEST_TAG_KEY 0x6861b6d5a3c8f1e7ULL

static inline uint64_t test_word(uint64_t tag, size_t k)
{
    if (k == 0)
        return tag ^ TEST_TAG_KEY;
    uint64_t x = tag ^ (k * 0x9E3779B97F4A7C15ULL);
    return x ^ (x >> 31);
}

static inline unsigned char test_byte(uint64_t tag, size_t i)
{
    return (unsigned char)(test_word(tag, i / 8) >> (8 * (i % 8)));
}

/* A word as its 8 bytes lie in memory in the pattern. */
static inline uint64_t test_word_bytes(uint64_t w)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

/* Fills bytes [from, to) of the block at p. */
static inline void test_fill_range(void *p, size_t from, size_t to, uint64_t tag)
{
    unsigned char *b = p;
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        b[i] = test_byte(tag, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = test_word_bytes(test_word(tag, i / 8));
        memcpy(b + i, &w, 8);
    }
    for (; i < to; i++)
        b[i] = test_byte(tag, i);
}

/* Offset of the first wrong byte in [from, to), or SIZE_MAX. */
static inline size_t test_verify_range(const void *p, size_t from, size_t to, uint64_t tag)
{
    const unsigned char *b = p;
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        if (b[i] != test_byte(tag, i))
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != test_word_bytes(test_word(tag, i / 8)))
            break; /* the byte loop below finds which */
    }
    for (; i < to; i++)
        if (b[i] != test_byte(tag, i))
            return i;
    return SIZE_MAX;
}

static inline void test_fill(void *p, size_t n, uint64_t tag) { test_fill_range(p, 0, n, tag); }

/* Offset of the first wrong byte, or SIZE_MAX when all n bytes match. */
static inline size_t test_verify(const void *p, size_t n, uint64_t tag)
{
    return test_verify_range(p, 0, n, tag);
}

/* The tag that filled the block at p, by its first 8 bytes (for reports:
 * who else wrote the block). */
static inline uint64_t test_filled_tag(const void *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return test_word_bytes(w) ^ TEST_TAG_KEY;
}

/* Large blocks are filled only at their ends: the first and the last
 * `span` bytes (the whole block up to 2 * span), at the offsets of a
 * whole fill, so a realloc keeps a prefix that still verifies. */
static inline void test_fill_ends(void *p, size_t n, size_t span, uint64_t tag)
{
    size_t head = n < span ? n : span;
    test_fill_range(p, 0, head, tag);
    test_fill_range(p, n - head > span ? n - span : head, n, tag);
}

static inline size_t test_verify_ends(const void *p, size_t n, size_t span, uint64_t tag)
{
    size_t head = n < span ? n : span;
    size_t bad = test_verify_range(p, 0, head, tag);
    return bad != SIZE_MAX ? bad : test_verify_range(p, n - head > span ? n - span : head, n, tag);
}

/* A header that threaded tests write at the start of every block (blocks
 * are at least 32 bytes there): who stamped it, and a checksum; cheaper
 * than a fill, and a consumer reads from it who produced the block. */
struct test_stamp {
    uint64_t magic;
    uint64_t tag;
    uint64_t size;
    uint64_t check;
};
#define TEST_STAMP_MAGIC 0x68616b6d656d2121ULL

static inline void test_stamp(void *p, size_t size, uint64_t tag)
{
    struct test_stamp *s = p;
    s->magic = TEST_STAMP_MAGIC;
    s->tag = tag;
    s->size = size;
    s->check = tag ^ size ^ TEST_STAMP_MAGIC;
    /* the tail too: the last 8 bytes catch a neighbour overlapping the end */
    if (size >= sizeof *s + 8) {
        uint64_t t = ~tag;
        memcpy((char *)p + size - 8, &t, 8);
    }
}

static inline int test_stamp_ok(const void *p, size_t size, uint64_t tag)
{
    const struct test_stamp *s = p;
    if (s->magic != TEST_STAMP_MAGIC || s->tag != tag || s->size != size ||
        s->check != (tag ^ size ^ TEST_STAMP_MAGIC))
        return 0;
    if (size >= sizeof *s + 8) {
        uint64_t t;
        memcpy(&t, (const char *)p + size - 8, 8);
        if (t != ~tag)
            return 0;
    }
    return 1;
}

/* ---- the size classes of the specification ----------------------------- */

/* 16..128 in steps of 16, then 4 classes per power of two up to 1 MiB. */
static inline size_t test_class_size(size_t n)
{
    if (n <= 128)
        return n == 0 ? 16 : (n + 15) & ~(size_t)15;
    size_t p = 128;
    while (p * 2 < n)
        p *= 2;
    /* p < n <= 2p: classes p+p/4, p+p/2, p+3p/4, 2p */
    size_t q = p / 4;
    return p + ((n - p + q - 1) / q) * q;
}

/* Fills out[] with the class sizes in order; returns how many (60). */
static inline unsigned test_class_table(uint64_t *out, unsigned max)
{
    unsigned k = 0;
    for (size_t s = 16; s <= 128 && k < max; s += 16)
        out[k++] = s;
    for (size_t p = 128; p < TEST_MAX_SMALL; p *= 2)
        for (unsigned j = 1; j <= 4 && k < max; j++)
            out[k++] = p + j * (p / 4);
    return k;
}

/* ---- statistics ------------------------------------------------------------ */

static inline struct hak_stats test_stats(void)
{
    struct hak_stats st;
    memset(&st, 0, sizeof st);
    if (hak_stats(&st, sizeof st) != 0)
        test_fail("hak_stats failed: %s", strerror(errno));
    return st;
}

/* Small blocks live according to the library: allocations minus frees. */
static inline int64_t test_net_blocks(const struct hak_stats *st)
{
    return (int64_t)(st->allocs - st->frees);
}

/* ---- threads ---------------------------------------------------------------- */

static inline void *test_nop_thread(void *arg) { return arg; }

static inline void *test_spawn_one(void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, test_nop_thread, NULL) == 0)
        pthread_join(t, NULL);
    return arg;
}

/* In an override build the C library allocates with hakmem too: a new
 * thread stack gets a DTV (calloc) that stays allocated while glibc keeps
 * the stack in its cache.  Creating n threads, each with a child, before a
 * baseline fills that cache, so later threads reuse cached stacks and the
 * hak_stats balance stays exact. */
static inline void test_warm_up_threads(int n)
{
    pthread_t t[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, test_spawn_one, NULL) != 0)
            n = i;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* ---- the process ------------------------------------------------------------ */

/* Resident set size in bytes, from /proc/self/statm (second field, pages);
 * read with read(2), which does not allocate. */
static inline size_t test_rss_bytes(void)
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

/* The aborts provoked on purpose should not leave core files behind. */
static inline void test_no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
}

/* Number of '\n'-terminated lines (plus an unterminated last one). */
static inline unsigned test_count_lines(const char *s)
{
    unsigned n = 0;
    const char *p = s;
    for (; *p; p++)
        if (*p == '\n')
            n++;
    if (p != s && p[-1] != '\n')
        n++;
    return n;
}

#endif /* TEST_UTIL_H */
