/* hak_test.h - small helpers shared by the check programs in tests/:
 * fill patterns, a PRNG, the size-class table of the specification, error
 * recording from worker threads and running code in a child with stderr
 * captured.  Everything is static inline so each program takes what it uses. */
#ifndef HAK_TEST_H
#define HAK_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "hakmem.h"
#include "test_rand.h"

#define HK_KiB ((size_t)1024)
#define HK_MiB (1024 * HK_KiB)
#define HK_MIN_ALIGN ((size_t)16)
/* Largest block served from size classes; anything above is mapped alone. */
#define HK_MAX_SMALL HK_MiB

/* A size the compiler cannot see, so calls with absurd sizes are neither
 * warned about (-Walloc-size-larger-than) nor folded away. */
static inline size_t hk_opaque(size_t n)
{
    volatile size_t v = n;
    return v;
}

static inline void *hk_opaque_ptr(void *p)
{
    void *volatile v = p;
    return v;
}

/* check records every passing ck_assert (a write to its pipe), far too slow
 * for loops over millions of cases: fail only when the condition is false. */
#define HK_REQUIRE(cond, ...)                    \
    do {                                         \
        if (!(cond))                             \
            ck_abort_msg(__VA_ARGS__);           \
    } while (0)

static inline int hk_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* ---- fill patterns ----------------------------------------------------- */

/* Byte i of a block stamped with `tag` is a function of both, so a block
 * handed out twice, or overlapping another, shows up as a wrong byte. */
static inline unsigned char hk_byte(uint64_t tag, size_t i)
{
    uint64_t x = tag ^ (i * 0x9E3779B97F4A7C15ULL);
    return (unsigned char)(x ^ (x >> 29) ^ (x >> 47) ^ (i >> 8));
}

static inline void hk_fill(void *p, size_t n, uint64_t tag)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = hk_byte(tag, i);
}

/* Index of the first wrong byte, or SIZE_MAX when all n bytes match. */
static inline size_t hk_verify(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != hk_byte(tag, i))
            return i;
    return SIZE_MAX;
}

/* A header that threaded tests write at the start of every block (blocks
 * are at least 32 bytes there): who stamped it, and a checksum. */
struct hk_stamp {
    uint64_t magic;
    uint64_t tag;
    uint64_t size;
    uint64_t check;
};
#define HK_STAMP_MAGIC 0x68616b6d656d2121ULL

static inline void hk_stamp(void *p, size_t size, uint64_t tag)
{
    struct hk_stamp *s = p;
    s->magic = HK_STAMP_MAGIC;
    s->tag = tag;
    s->size = size;
    s->check = tag ^ size ^ HK_STAMP_MAGIC;
    /* the tail too: the last 8 bytes catch a neighbour overlapping the end */
    if (size >= sizeof *s + 8) {
        uint64_t t = ~tag;
        memcpy((char *)p + size - 8, &t, 8);
    }
}

static inline int hk_stamp_ok(const void *p, size_t size, uint64_t tag)
{
    const struct hk_stamp *s = p;
    if (s->magic != HK_STAMP_MAGIC || s->tag != tag || s->size != size ||
        s->check != (tag ^ size ^ HK_STAMP_MAGIC))
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
static inline size_t hk_class_size(size_t n)
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
static inline unsigned hk_class_table(uint64_t *out, unsigned max)
{
    unsigned k = 0;
    for (size_t s = 16; s <= 128 && k < max; s += 16)
        out[k++] = s;
    for (size_t p = 128; p < HK_MAX_SMALL; p *= 2)
        for (unsigned j = 1; j <= 4 && k < max; j++)
            out[k++] = p + j * (p / 4);
    return k;
}

/* ---- errors from worker threads ---------------------------------------- */

/* check's assertions are not meant for other threads: workers record the
 * first problem here and stop; the test thread asserts on it after join. */
static atomic_int hk_err_set;
static char hk_err_msg[512];

__attribute__((format(printf, 1, 2), unused))
static void hk_thread_fail(const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&hk_err_set, &expected, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hk_err_msg, sizeof hk_err_msg, fmt, ap);
    va_end(ap);
    atomic_store(&hk_err_set, 2);
}

static inline int hk_failed(void)
{
    return atomic_load_explicit(&hk_err_set, memory_order_relaxed) != 0;
}

#define HK_ASSERT_NO_THREAD_ERROR() \
    ck_assert_msg(atomic_load(&hk_err_set) == 0, "worker thread: %s", hk_err_msg)

/* ---- time (only to bound how long a stress loop runs, never judged) ---- */

static inline double hk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- run a function in a child, capturing its stderr ------------------- */

struct hk_child {
    int status;      /* from waitpid */
    char err[4096];  /* what it wrote to stderr, NUL-terminated */
    size_t len;
};

/* Forks; the child runs fn(arg) with stderr on a pipe and then _exit(0)s
 * (fn is expected not to return when it should abort).  The parent reads
 * the pipe to EOF, so a chatty child cannot block, then reaps it. */
static inline void hk_run_child(void (*fn)(void *), void *arg, struct hk_child *out)
{
    int fds[2];
    memset(out, 0, sizeof *out);
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        signal(SIGABRT, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    for (;;) {
        char tmp[512];
        ssize_t r = read(fds[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t room = sizeof out->err - 1 - out->len;
        size_t take = (size_t)r < room ? (size_t)r : room;
        memcpy(out->err + out->len, tmp, take);
        out->len += take;
    }
    out->err[out->len] = '\0';
    close(fds[0]);
    while (waitpid(pid, &out->status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
}

/* Number of '\n'-terminated lines (plus an unterminated last one). */
static inline unsigned hk_count_lines(const char *s)
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

/* The aborts provoked on purpose should not leave core files behind. */
static inline void hk_no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
}

/* Standard main: one suite, CK_ENV verbosity, non-zero exit on failure. */
static inline int hk_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The same, each test in its own process whatever CK_FORK says: for
 * tests that need the allocator's process-wide state fresh. */
static inline int hk_run_suite_forked(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* HAK_TEST_H */
