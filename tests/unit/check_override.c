/* check_override.c - the default (override) build, linked normally with
 * -lhakmem: the whole malloc family, the __libc_* aliases and the C
 * library's own internal callers (strdup, asprintf) hand out hakmem
 * blocks, also in fresh threads whose first call is calloc, and plain
 * free()/realloc() reject foreign pointers like hak_free() does.
 * Built and run only when configure left --enable-override on. */
#define _GNU_SOURCE 1
#include "config.h"

#include <malloc.h>
#include <pthread.h>

#include "../test_check.h"

/* glibc's aliases, exported by hakmem too (no public prototypes) */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

static uint64_t class_allocs(size_t block)
{
    struct hak_stats st;
    memset(&st, 0, sizeof st);
    TEST_REQUIRE(hak_stats(&st, sizeof st) == 0, "hak_stats failed");
    for (uint32_t i = 0; i < st.nclasses; i++)
        if (st.classes[i].block_size == block)
            return st.classes[i].allocs;
    ck_abort_msg("no class of %zu bytes", block);
    return 0;
}

/* p is a live hakmem block of at least n bytes: hakmem's size agrees with
 * malloc_usable_size, and the block accepts writes to its end. */
static void check_hakmem_block(void *p, size_t n, const char *what)
{
    ck_assert_msg(p != NULL, "%s returned NULL", what);
    ck_assert_msg(test_aligned(p, TEST_MIN_ALIGN), "%s = %p is not 16-aligned", what, p);
    size_t hu = hak_usable_size(p), mu = malloc_usable_size(p);
    ck_assert_msg(hu >= n, "%s: hak_usable_size %zu < %zu", what, hu, n);
    ck_assert_msg(hu == mu, "%s: hak_usable_size %zu != malloc_usable_size %zu", what, hu, mu);
    memset(p, 0x77, hu);
}

START_TEST(test_malloc_is_hakmem)
{
    /* 1500 bytes is class 1536: a count only hakmem keeps */
    uint64_t before = class_allocs(1536);
    void *p = malloc(test_opaque(1500));
    uint64_t after = class_allocs(1536);
    ck_assert_msg(after - before == 1, "malloc(1500) did not go through hakmem (%lu allocs)",
                  (unsigned long)(after - before));
    check_hakmem_block(p, 1500, "malloc(1500)");
    ck_assert_uint_eq(hak_usable_size(p), 1536);
    free(p);

    p = malloc(test_opaque(100));
    check_hakmem_block(p, 100, "malloc(100)");
    ck_assert_uint_eq(malloc_usable_size(p), 112);
    ck_assert_uint_eq(malloc_usable_size(NULL), 0);
    hak_free(p); /* one heap: either family may free */
    p = hak_malloc(300);
    ck_assert_ptr_nonnull(p);
    free(p);
    p = malloc(test_opaque(5 * TEST_MiB));
    check_hakmem_block(p, 5 * TEST_MiB, "malloc(5 MiB)");
    free(p);
    free(NULL);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_calloc_realloc)
{
    uint64_t before = class_allocs(1536);
    unsigned char *p = calloc(test_opaque(30), 50);
    ck_assert_uint_eq(class_allocs(1536) - before, 1);
    for (int i = 0; i < 1500; i++)
        ck_assert_msg(p[i] == 0, "calloc byte %d not zero", i);
    check_hakmem_block(p, 1500, "calloc(30, 50)");
    p = realloc(p, test_opaque(100000));
    check_hakmem_block(p, 100000, "realloc(100000)");
    p = realloc(p, test_opaque(3 * TEST_MiB));
    check_hakmem_block(p, 3 * TEST_MiB, "realloc(3 MiB)");
    ck_assert_ptr_null(realloc(p, test_opaque(0)));
    p = realloc(NULL, test_opaque(10));
    check_hakmem_block(p, 10, "realloc(NULL, 10)");
    free(p);

    errno = 0;
    p = calloc(test_opaque(SIZE_MAX / 2), 4);
    int err = errno;
    ck_assert_msg(p == NULL && err == ENOMEM, "calloc overflow: %p errno %d", (void *)p, err);
}
END_TEST

START_TEST(test_reallocarray)
{
    void *p = reallocarray(NULL, test_opaque(10), 30);
    check_hakmem_block(p, 300, "reallocarray(NULL, 10, 30)");
    test_fill(p, 300, 3);
    void *q = reallocarray(p, test_opaque(100), 30);
    check_hakmem_block(q, 3000, "reallocarray(p, 100, 30)");
    /* check_hakmem_block overwrote it; refill and test overflow */
    test_fill(q, 3000, 4);
    errno = 0;
    void *r = reallocarray(q, test_opaque(SIZE_MAX / 4), 8);
    int err = errno;
    ck_assert_msg(r == NULL && err == ENOMEM, "reallocarray overflow: %p errno %d", r, err);
    ck_assert_msg(test_verify(q, 3000, 4) == SIZE_MAX, "failed reallocarray changed the block");
    free(q);
}
END_TEST

START_TEST(test_aligned_family)
{
    void *p = NULL;
    ck_assert_int_eq(posix_memalign(&p, 4096, test_opaque(100)), 0);
    check_hakmem_block(p, 100, "posix_memalign(4096, 100)");
    ck_assert(test_aligned(p, 4096));
    free(p);
    errno = 1234;
    int rc = posix_memalign(&p, test_opaque(24), 100);
    int err = errno;
    ck_assert_int_eq(rc, EINVAL);
    ck_assert_int_eq(err, 1234);

    p = aligned_alloc(256, test_opaque(512));
    check_hakmem_block(p, 512, "aligned_alloc(256, 512)");
    ck_assert(test_aligned(p, 256));
    free(p);
    errno = 0;
    p = aligned_alloc(test_opaque(3), 64);
    err = errno;
    ck_assert_msg(p == NULL && err == EINVAL, "aligned_alloc(3): %p errno %d", p, err);

    p = memalign(test_opaque(1024), 100);
    check_hakmem_block(p, 100, "memalign(1024, 100)");
    ck_assert(test_aligned(p, 1024));
    free(p);

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    p = valloc(test_opaque(100));
    check_hakmem_block(p, 100, "valloc(100)");
    ck_assert(test_aligned(p, page));
    free(p);
    p = pvalloc(test_opaque(100));
    check_hakmem_block(p, page, "pvalloc(100)"); /* rounded up to a page */
    ck_assert(test_aligned(p, page));
    free(p);
    p = memalign(2 * TEST_MiB, test_opaque(3 * TEST_MiB));
    check_hakmem_block(p, 3 * TEST_MiB, "memalign(2 MiB, 3 MiB)");
    ck_assert(test_aligned(p, 2 * TEST_MiB));
    free(p);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_libc_aliases)
{
    uint64_t before = class_allocs(1536);
    void *p = __libc_malloc(test_opaque(1500));
    ck_assert_uint_eq(class_allocs(1536) - before, 1);
    check_hakmem_block(p, 1500, "__libc_malloc(1500)");
    p = __libc_realloc(p, test_opaque(20000));
    check_hakmem_block(p, 20000, "__libc_realloc(20000)");
    __libc_free(p);
    unsigned char *c = __libc_calloc(test_opaque(10), 10);
    check_hakmem_block(c, 100, "__libc_calloc");
    free(c);
    c = __libc_calloc(test_opaque(10), 10);
    for (int i = 0; i < 100; i++)
        ck_assert(c[i] == 0);
    hak_free(c);
    p = __libc_memalign(512, test_opaque(100));
    check_hakmem_block(p, 100, "__libc_memalign(512, 100)");
    ck_assert(test_aligned(p, 512));
    __libc_free(p);

    /* glibc's valloc and pvalloc under their internal names: hakmem's
     * blocks, which free() accepts */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    p = __libc_valloc(test_opaque(100));
    check_hakmem_block(p, 100, "__libc_valloc(100)");
    ck_assert(test_aligned(p, page));
    free(p);
    p = __libc_pvalloc(test_opaque(100));
    check_hakmem_block(p, page, "__libc_pvalloc(100)");
    ck_assert(test_aligned(p, page));
    free(p);
    p = __libc_valloc(test_opaque(3 * TEST_MiB));
    check_hakmem_block(p, 3 * TEST_MiB, "__libc_valloc(3 MiB)");
    __libc_free(p);
}
END_TEST

/* The aligned allocators at their edges answer as glibc 2.36 does (its
 * answers, from a program run without hakmem, are the table): an
 * alignment above the largest power of two is EINVAL, any other is
 * rounded up to a power of two; what cannot be allocated is ENOMEM.
 * aligned_alloc alone is stricter, as glibc 2.38 and C17: an alignment
 * that is not a power of two is EINVAL. */
enum { OK = 0 };
static const struct {
    int fn; /* 0 memalign, 1 aligned_alloc, 2 valloc, 3 pvalloc, 4 posix_memalign */
    size_t alignment, size;
    int want; /* OK, or the errno (posix_memalign: the result) */
} aligned_edges[] = {
    {0, SIZE_MAX, 1, EINVAL},
    {0, SIZE_MAX / 2 + 2, 1, EINVAL},
    {0, SIZE_MAX, SIZE_MAX, EINVAL},
    {0, SIZE_MAX / 2 + 1, 1, ENOMEM},
    {0, SIZE_MAX / 2, 1, ENOMEM},
    {0, ((size_t)1 << 62) + 1, 1, ENOMEM},
    {0, (size_t)1 << 50, 1, ENOMEM},
    {0, (size_t)1 << 40, 1, ENOMEM},
    {0, 0, 100, OK},
    {0, 1, 100, OK},
    {0, 3, 100, OK},
    {0, 24, 100, OK},
    {0, 100, 100, OK},
    {0, 3 * 1024 * 1024, 100, OK},
    {0, 0, SIZE_MAX, ENOMEM},
    {0, 8, SIZE_MAX, ENOMEM},
    {0, 64, SIZE_MAX, ENOMEM},
    {0, 64, SIZE_MAX - 100, ENOMEM},
    {0, 64, SIZE_MAX / 2, ENOMEM},
    {0, 4096, SIZE_MAX - 4096, ENOMEM},
    {1, SIZE_MAX, 1, EINVAL},
    {1, SIZE_MAX / 2 + 1, 1, ENOMEM},
    {1, 64, SIZE_MAX, ENOMEM},
    {1, 0, 100, EINVAL},  /* glibc 2.36: a block; 2.38: EINVAL */
    {1, 24, 100, EINVAL}, /* likewise */
    {2, 0, SIZE_MAX, ENOMEM},
    {2, 0, SIZE_MAX - 4096, ENOMEM},
    {2, 0, SIZE_MAX / 2, ENOMEM},
    {2, 0, 0, OK},
    {3, 0, SIZE_MAX, ENOMEM},
    {3, 0, SIZE_MAX - 4096, ENOMEM},
    {3, 0, SIZE_MAX - 3 * 4096, ENOMEM},
    {3, 0, SIZE_MAX / 2, ENOMEM},
    {3, 0, 0, OK},
    {4, 0, 100, EINVAL},
    {4, 1, 100, EINVAL},
    {4, 4, 100, EINVAL},
    {4, 24, 100, EINVAL},
    {4, SIZE_MAX, 100, EINVAL},
    {4, 8, 100, OK},
    {4, SIZE_MAX / 2 + 1, 100, ENOMEM},
    {4, (size_t)1 << 62, 100, ENOMEM},
    {4, 64, SIZE_MAX, ENOMEM},
    {4, 64, SIZE_MAX / 2, ENOMEM},
};

/* memalign and aligned_alloc called through pointers: their prototypes
 * promise the compiler a block aligned as asked (alloc_align), which
 * UBSan checks, and an alignment that is not a power of two cannot keep
 * that promise; the table passes such alignments on purpose. */
static void *(*volatile memalign_fn)(size_t, size_t) = memalign;
static void *(*volatile aligned_alloc_fn)(size_t, size_t) = aligned_alloc;

START_TEST(test_aligned_edges_as_glibc)
{
    static const char *const names[] = {"memalign", "aligned_alloc", "valloc", "pvalloc",
                                        "posix_memalign"};
    for (size_t i = 0; i < sizeof aligned_edges / sizeof aligned_edges[0]; i++) {
        size_t a = test_opaque(aligned_edges[i].alignment), n = test_opaque(aligned_edges[i].size);
        int want = aligned_edges[i].want, got;
        void *p = NULL;
        errno = 4242;
        switch (aligned_edges[i].fn) {
        case 0: p = memalign_fn(a, n); break;
        case 1: p = aligned_alloc_fn(a, n); break;
        case 2: p = valloc(n); break;
        case 3: p = pvalloc(n); break;
        default: got = posix_memalign(&p, a, n); break;
        }
        int err = errno;
        if (aligned_edges[i].fn != 4)
            got = p != NULL ? OK : err;
        ck_assert_msg(got == want, "%s(%zu, %zu): %s, want %s (as glibc)",
                      names[aligned_edges[i].fn], a, n, got == OK ? "a block" : strerror(got),
                      want == OK ? "a block" : strerror(want));
        ck_assert_msg(p == NULL || err == 4242, "%s(%zu, %zu) succeeded but changed errno to %d",
                      names[aligned_edges[i].fn], a, n, err);
        free(p);
    }
}
END_TEST

/* C23's sized frees (no prototypes in this C library's headers) */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Successful calls of the malloc family leave errno as it was (see
 * check_api's test_success_keeps_errno for the paths). */
START_TEST(test_success_keeps_errno)
{
    const size_t sizes[] = {0, 100, 70000, 3 * TEST_MiB};
    void *p, *q;
    size_t u;
    int rc;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = test_opaque(sizes[i]);
        TEST_KEEPS_ERRNO(p = malloc(n));
        TEST_KEEPS_ERRNO(u = malloc_usable_size(p));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = calloc(1, n));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = aligned_alloc(256, n));
        TEST_KEEPS_ERRNO(free_aligned_sized(p, 256, n));
        TEST_KEEPS_ERRNO(p = malloc(n));
        TEST_KEEPS_ERRNO(free_sized(p, n));
        TEST_KEEPS_ERRNO(rc = posix_memalign(&p, 4096, n));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = memalign(64, n));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = valloc(n));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = pvalloc(n));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = __libc_malloc(n));
        TEST_KEEPS_ERRNO(p = __libc_realloc(p, n + 10));
        TEST_KEEPS_ERRNO(__libc_free(p));
        TEST_KEEPS_ERRNO(p = __libc_calloc(n, 1));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = __libc_memalign(64, n));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = __libc_valloc(n));
        TEST_KEEPS_ERRNO(free(p));
        TEST_KEEPS_ERRNO(p = __libc_pvalloc(n));
        TEST_KEEPS_ERRNO(free(p));
    }
    (void)u;
    (void)rc;
    TEST_KEEPS_ERRNO(p = reallocarray(NULL, 10, 10));
    TEST_KEEPS_ERRNO(p = reallocarray(p, 1000, 3 * 1024));
    void *blocker = test_block_after((char *)p + malloc_usable_size(p));
    TEST_KEEPS_ERRNO(q = realloc(p, 12 * TEST_MiB)); /* the in-place attempt fails */
    ck_assert_ptr_nonnull(q);
    if (blocker != NULL)
        munmap(blocker, 4096);
    TEST_KEEPS_ERRNO(q = realloc(q, 100));
    TEST_KEEPS_ERRNO(q = realloc(q, 0));
    TEST_KEEPS_ERRNO(free(NULL));
    TEST_ASSERT_ERRNO_KEPT();
}
END_TEST

/* The C library's own allocations (through its PLT) land in hakmem. */
START_TEST(test_libc_internal_callers)
{
    char *s = strdup("hakmem handles strdup");
    check_hakmem_block(s, 22, "strdup");
    free(s);
    char *a = NULL;
    ck_assert_int_gt(asprintf(&a, "%0*d", 1400, 7), 0);
    check_hakmem_block(a, 1401, "asprintf");
    hak_free(a);
    FILE *f = open_memstream(&a, &(size_t){0});
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 10000; i++)
        fputs("0123456789", f);
    fclose(f);
    check_hakmem_block(a, 100001, "open_memstream buffer");
    free(a);
}
END_TEST

/* ---- threads: the first call of a new thread ----------------------------- */

static const char *const thread_errors[] = {
    "calloc returned NULL", "calloc memory not zero",       "calloc block is not hakmem's",
    "malloc returned NULL", "malloc block is not hakmem's",
};

static void *first_calloc(void *arg)
{
    (void)arg;
    /* the classic trap: calloc before anything else in a new thread, while
     * the thread's heap does not exist yet (and dlsym/TLS setup may itself
     * call calloc) */
    unsigned char *p = calloc(test_opaque(64), 16);
    if (!p)
        return (void *)thread_errors[0];
    for (int i = 0; i < 1024; i++)
        if (p[i])
            return (void *)thread_errors[1];
    if (hak_usable_size(p) != malloc_usable_size(p) || hak_usable_size(p) < 1024)
        return (void *)thread_errors[2];
    return p; /* freed by the test thread */
}

static void *first_malloc(void *arg)
{
    (void)arg;
    void *p = malloc(test_opaque(100));
    if (!p)
        return (void *)thread_errors[3];
    memset(p, 1, 100);
    if (hak_usable_size(p) != 112)
        return (void *)thread_errors[4];
    return p;
}

static void *first_free(void *arg)
{
    free(arg); /* a remote free as the very first call */
    return NULL;
}

START_TEST(test_threads_first_call)
{
    for (int round = 0; round < 50; round++) {
        pthread_t t;
        void *ret = NULL;
        ck_assert_int_eq(pthread_create(&t, NULL, round & 1 ? first_malloc : first_calloc, NULL),
                         0);
        ck_assert_int_eq(pthread_join(t, &ret), 0);
        ck_assert_ptr_nonnull(ret);
        for (size_t i = 0; i < sizeof thread_errors / sizeof thread_errors[0]; i++)
            ck_assert_msg(ret != (void *)thread_errors[i], "thread %d: %s", round,
                          thread_errors[i]);
        void *q = malloc(200);
        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(pthread_create(&t, NULL, first_free, q), 0);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        free(ret);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- plain free()/realloc() refuse foreign pointers ---------------------- */

static char global_buf[128];

static void free_stack(void *arg)
{
    (void)arg;
    char buf[64];
    memset(buf, 0, sizeof buf);
    fprintf(stderr, "ptr=%p\n", test_opaque_ptr(buf + 16));
    fflush(stderr);
    free(test_opaque_ptr(buf + 16));
}

static void realloc_global(void *arg)
{
    (void)arg;
    fprintf(stderr, "ptr=%p\n", test_opaque_ptr(global_buf + 16));
    fflush(stderr);
    void *r = realloc(test_opaque_ptr(global_buf + 16), 100);
    (void)r;
}

static void check_invalid(void (*fn)(void *), const char *expect)
{
    struct test_child ch;
    test_run_child(fn, NULL, &ch);
    ck_assert_msg(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGABRT,
                  "no abort (status %#x): %s", (unsigned)ch.status, ch.err);
    unsigned long long want = 0;
    const char *pl = strstr(ch.err, "ptr=");
    ck_assert_msg(pl && sscanf(pl, "ptr=%llx", &want) == 1, "no ptr= line: %s", ch.err);
    const char *m = strstr(ch.err, expect);
    ck_assert_msg(m != NULL, "stderr lacks \"%s\": %s", expect, ch.err);
    ck_assert_msg(strtoull(m + strlen(expect), NULL, 16) == want,
                  "message names another address than 0x%llx: %s", want, ch.err);
}

START_TEST(test_free_stack_aborts)
{
    check_invalid(free_stack, "hakmem: free(): invalid pointer 0x");
}
END_TEST

START_TEST(test_realloc_global_aborts)
{
    check_invalid(realloc_global, "hakmem: realloc(): invalid pointer 0x");
}
END_TEST

START_TEST(test_free_interior_raises)
{
    char *p = malloc(test_opaque(64));
    ck_assert_ptr_nonnull(p);
    free(test_opaque_ptr(p + 8));
    ck_abort_msg("free(p + 8) returned");
}
END_TEST

static Suite *override_suite(void)
{
    Suite *s = suite_create("override");
    TCase *tc = tcase_create("family");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malloc_is_hakmem);
    tcase_add_test(tc, test_calloc_realloc);
    tcase_add_test(tc, test_reallocarray);
    tcase_add_test(tc, test_aligned_family);
    tcase_add_test(tc, test_libc_aliases);
    tcase_add_test(tc, test_aligned_edges_as_glibc);
    tcase_add_test(tc, test_success_keeps_errno);
    tcase_add_test(tc, test_libc_internal_callers);
    tcase_add_test(tc, test_threads_first_call);
    suite_add_tcase(s, tc);

    tc = tcase_create("invalid");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_free_stack_aborts);
    tcase_add_test(tc, test_realloc_global_aborts);
    tcase_add_test_raise_signal(tc, test_free_interior_raises, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    test_no_core_dumps();
    return test_run_suite(override_suite());
}
