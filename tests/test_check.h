/* test_check.h - the part of the test helpers that needs the check
 * framework, for the check programs of tests/unit: a cheap assertion for
 * loops, failures recorded by worker threads, running code in a child
 * with its stderr captured, and the standard main.  Everything else is
 * in test_util.h, included here. */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>

#include "test_util.h"

/* check records every passing ck_assert (a write to its pipe), far too slow
 * for loops over millions of cases: fail only when the condition is false. */
#define TEST_REQUIRE(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

/* ---- errors from worker threads ---------------------------------------- */

/* check's assertions are not meant for other threads: workers record the
 * first problem here and stop; the test thread asserts on it after join. */
static atomic_int test_thread_err_set;
static char test_thread_err[512];

__attribute__((format(printf, 1, 2), unused)) static void test_thread_fail(const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&test_thread_err_set, &expected, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(test_thread_err, sizeof test_thread_err, fmt, ap);
    va_end(ap);
    atomic_store(&test_thread_err_set, 2);
}

static inline int test_thread_failed(void)
{
    return atomic_load_explicit(&test_thread_err_set, memory_order_relaxed) != 0;
}

#define TEST_ASSERT_NO_THREAD_ERROR()                                                              \
    ck_assert_msg(atomic_load(&test_thread_err_set) == 0, "worker thread: %s", test_thread_err)

/* ---- errno after successful calls -------------------------------------- */

/* Runs call (an assignment or a statement) with errno set to 4242 and
 * reports on stderr when it changes it; TEST_ASSERT_ERRNO_KEPT fails the
 * test if any did.  Usable from other threads too. */
static atomic_int test_errno_changes __attribute__((unused));

#define TEST_KEEPS_ERRNO(call)                                                                     \
    do {                                                                                           \
        errno = 4242;                                                                              \
        call;                                                                                      \
        int test_err_ = errno;                                                                     \
        if (test_err_ != 4242) {                                                                   \
            fprintf(stderr, "%s:%d: %s changed errno to %d\n", __FILE__, __LINE__, #call,          \
                    test_err_);                                                                    \
            atomic_fetch_add(&test_errno_changes, 1);                                              \
        }                                                                                          \
    } while (0)

#define TEST_ASSERT_ERRNO_KEPT()                                                                   \
    ck_assert_msg(atomic_load(&test_errno_changes) == 0,                                           \
                  "%d successful calls changed errno (see above)",                                 \
                  atomic_load(&test_errno_changes))

/* ---- mappings ------------------------------------------------------------ */

/* Maps a PROT_NONE page at addr, so that a mapping ending there cannot
 * grow in place: the page, or NULL when addr was already taken (which
 * blocks the growth just as well). */
static inline void *test_block_after(void *addr)
{
    void *m = mmap(addr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == addr)
        return m;
    ck_assert_msg(m == MAP_FAILED && errno == EEXIST, "cannot place a page at %p", addr);
    return NULL;
}

/* ---- run a function in a child, capturing its stderr ------------------- */

struct test_child {
    int status;     /* from waitpid */
    char err[4096]; /* what it wrote to stderr, NUL-terminated */
    size_t len;
};

/* Forks; the child runs fn(arg) with stderr on a pipe and then _exit(0)s
 * (fn is expected not to return when it should abort).  The parent reads
 * the pipe to EOF, so a chatty child cannot block, then reaps it. */
static inline void test_run_child(void (*fn)(void *), void *arg, struct test_child *out)
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

/* ---- main ------------------------------------------------------------------ */

/* Standard main: one suite, CK_ENV verbosity, non-zero exit on failure. */
static inline int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The same, each test in its own process whatever CK_FORK says: for
 * tests that need the allocator's process-wide state fresh. */
static inline int test_run_suite_forked(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* TEST_CHECK_H */
