/* check_stats.c - hak_stats() and its printers: the struct-size
 * compatibility rule, the class table, exact counter deltas for known
 * allocations in known threads (remote frees, thread heaps, large blocks),
 * and text/JSON output that is non-empty, parseable and allocation-free. */
#include "config.h"

#include <pthread.h>

#include "../test_check.h"

/* In the override build check's own passing assertions allocate (they
 * record their location through malloc), so between two snapshots whose
 * difference is judged only TEST_REQUIRE is used, which is silent on success. */
static void snap(struct hak_stats *st)
{
    memset(st, 0, sizeof *st);
    int rc = hak_stats(st, sizeof *st);
    TEST_REQUIRE(rc == 0, "hak_stats failed: %d errno %d", rc, errno);
    TEST_REQUIRE(st->size == sizeof *st, "hak_stats filled %lu bytes, not %zu",
                 (unsigned long)st->size, sizeof *st);
}

/* Index of the class whose blocks are exactly `size` bytes, or -1. */
static int class_index(const struct hak_stats *st, uint64_t size)
{
    for (uint32_t i = 0; i < st->nclasses && i < HAK_STATS_MAX_CLASSES; i++)
        if (st->classes[i].block_size == size)
            return (int)i;
    return -1;
}

/* ---- the compatibility rule --------------------------------------------- */

union stats_buf {
    struct hak_stats st;
    unsigned char b[sizeof(struct hak_stats) + 256];
};

START_TEST(test_stats_bad_args)
{
    union stats_buf u;
    errno = 0;
    int rc = hak_stats(NULL, sizeof(struct hak_stats));
    int err = errno; /* before any check call can change it */
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err, EINVAL);
    const size_t small[] = {0, 1, 8, 15};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        memset(&u, 0xCB, sizeof u);
        errno = 0;
        rc = hak_stats(&u.st, small[i]);
        err = errno;
        ck_assert_msg(rc == -1 && err == EINVAL, "hak_stats(st, %zu) = %d errno %d, want -1 EINVAL",
                      small[i], rc, err);
        for (size_t j = 0; j < sizeof u.b; j++)
            TEST_REQUIRE(u.b[j] == 0xCB, "hak_stats(st, %zu) wrote byte %zu", small[i], j);
    }
}
END_TEST

/* An old caller's smaller struct: only `size` bytes are written. */
START_TEST(test_stats_small_struct)
{
    const size_t sizes[] = {16, 24, 64, 100, offsetof(struct hak_stats, locks)};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        union stats_buf u;
        memset(&u, 0xCB, sizeof u);
        ck_assert_int_eq(hak_stats(&u.st, n), 0);
        ck_assert_msg(u.st.size == n, "hak_stats(st, %zu): size field says %lu", n,
                      (unsigned long)u.st.size);
        ck_assert_uint_eq(u.st.version, HAK_STATS_VERSION);
        for (size_t j = n; j < sizeof u.b; j++)
            TEST_REQUIRE(u.b[j] == 0xCB, "hak_stats(st, %zu) wrote past it, at byte %zu", n, j);
    }
    /* with 64 bytes the first counters are there too */
    union stats_buf u;
    memset(&u, 0xCB, sizeof u);
    void *p = hak_malloc(100);
    ck_assert_int_eq(hak_stats(&u.st, 64), 0);
    ck_assert_uint_eq(u.st.size, 64);
    ck_assert_uint_eq(u.st.nclasses, 60);
    ck_assert_uint_ge(u.st.bytes_in_use, 112);
    ck_assert_uint_ge(u.st.bytes_requested, 100);
    hak_free(p);
}
END_TEST

/* A newer caller's larger struct: the library fills what it knows and the
 * rest stays zero. */
START_TEST(test_stats_large_struct)
{
    union stats_buf u;
    memset(&u, 0, sizeof u);
    ck_assert_int_eq(hak_stats(&u.st, sizeof u.b), 0);
    ck_assert_msg(u.st.size == sizeof(struct hak_stats),
                  "a larger buffer: size should be sizeof(struct hak_stats) = %zu, is %lu",
                  sizeof(struct hak_stats), (unsigned long)u.st.size);
    for (size_t j = sizeof(struct hak_stats); j < sizeof u.b; j++)
        TEST_REQUIRE(u.b[j] == 0, "byte %zu past the known struct is not zero", j);
}
END_TEST

START_TEST(test_stats_class_table)
{
    struct hak_stats st;
    uint64_t want[HAK_STATS_MAX_CLASSES];
    unsigned nc = test_class_table(want, HAK_STATS_MAX_CLASSES);
    snap(&st);
    ck_assert_uint_eq(st.version, HAK_STATS_VERSION);
    ck_assert_uint_eq(st.nclasses, nc);
    for (unsigned i = 0; i < nc; i++)
        ck_assert_msg(st.classes[i].block_size == want[i], "class %u: block size %lu, want %lu", i,
                      (unsigned long)st.classes[i].block_size, (unsigned long)want[i]);
    for (unsigned i = nc; i < HAK_STATS_MAX_CLASSES; i++)
        ck_assert_msg(st.classes[i].block_size == 0 && st.classes[i].allocs == 0,
                      "unused class entry %u is not zero", i);
    ck_assert_uint_le(st.nlocks, HAK_STATS_MAX_LOCKS);
    for (unsigned i = 0; i < st.nlocks; i++) {
        ck_assert_msg(memchr(st.locks[i].name, '\0', sizeof st.locks[i].name) != NULL,
                      "lock %u name not NUL-terminated", i);
        ck_assert_msg(st.locks[i].name[0] != '\0', "lock %u has no name", i);
        ck_assert_uint_le(st.locks[i].contended, st.locks[i].acquisitions);
    }
}
END_TEST

/* ---- counters ----------------------------------------------------------- */

/* Single-threaded: nothing else allocates between the snapshots, so the
 * deltas are exact. */
START_TEST(test_stats_counts_local)
{
    enum { N = 1000, F = 400 };
    static void *p[N];
    struct hak_stats a, b, c, d;
    void *warm = hak_malloc(1500); /* the thread heap exists before `a` */
    hak_free(warm);

    snap(&a);
    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(1500);
        TEST_REQUIRE(p[i] != NULL, "hak_malloc(1500) NULL");
    }
    snap(&b);
    for (int i = 0; i < F; i++)
        hak_free(p[i]);
    snap(&c);
    for (int i = F; i < N; i++)
        hak_free(p[i]);
    snap(&d);

    int k = class_index(&a, 1536);
    ck_assert_int_ge(k, 0);
    /* after N allocations */
    ck_assert_uint_eq(b.classes[k].allocs - a.classes[k].allocs, N);
    ck_assert_uint_eq(b.allocs - a.allocs, N);
    ck_assert_uint_eq(b.frees - a.frees, 0);
    ck_assert_uint_eq(b.bytes_requested - a.bytes_requested, (uint64_t)N * 1500);
    ck_assert_uint_eq(b.bytes_in_use - a.bytes_in_use, (uint64_t)N * 1536);
    ck_assert_uint_ge(b.classes[k].slabs, 1);
    ck_assert_uint_ge(b.superslabs_live, 1);
    ck_assert_uint_ge(b.bytes_mapped, b.bytes_in_use);
    ck_assert_uint_ge(b.bytes_mapped_peak, b.bytes_mapped);
    ck_assert_uint_ge(b.threads_live, 1);
    /* after F frees */
    ck_assert_uint_eq(c.classes[k].frees - b.classes[k].frees, F);
    ck_assert_uint_eq(c.frees - b.frees, F);
    ck_assert_uint_eq(c.allocs - b.allocs, 0);
    ck_assert_uint_eq(b.bytes_in_use - c.bytes_in_use, (uint64_t)F * 1536);
    ck_assert_uint_eq(c.remote_frees, a.remote_frees); /* all frees were local */
    /* after all frees */
    ck_assert_uint_eq(d.bytes_in_use, a.bytes_in_use);
    ck_assert_uint_eq(d.classes[k].frees - a.classes[k].frees, N);
    ck_assert_uint_ge(d.bytes_in_use_peak, d.bytes_in_use);
    ck_assert_uint_ge(d.allocs, d.frees);
}
END_TEST

START_TEST(test_stats_counts_large)
{
    struct hak_stats a, b, c;
    void *p[3];
    snap(&a);
    for (int i = 0; i < 3; i++) {
        p[i] = hak_malloc(2 * TEST_MiB + 1);
        TEST_REQUIRE(p[i] != NULL, "hak_malloc(2 MiB + 1) NULL");
    }
    snap(&b);
    for (int i = 0; i < 3; i++)
        hak_free(p[i]);
    snap(&c);

    ck_assert_uint_eq(b.large_live - a.large_live, 3);
    ck_assert_uint_ge(b.large_bytes - a.large_bytes, 3 * (2 * TEST_MiB + 1));
    ck_assert_uint_eq(b.allocs - a.allocs, 3);
    ck_assert_uint_ge(b.bytes_in_use - a.bytes_in_use, 3 * (2 * TEST_MiB + 1));
    ck_assert_uint_ge(b.bytes_mapped - a.bytes_mapped, 3 * (2 * TEST_MiB + 1));
    ck_assert_uint_eq(c.large_live, a.large_live);
    ck_assert_uint_eq(c.large_bytes, a.large_bytes);
    ck_assert_uint_eq(c.frees - b.frees, 3);
    ck_assert_uint_eq(c.bytes_in_use, a.bytes_in_use);
}
END_TEST

/* realloc(p, 0) frees p (glibc semantics) */
START_TEST(test_stats_realloc_zero_frees)
{
    struct hak_stats a, b, c;
    void *warm = hak_malloc(100);
    hak_free(warm);
    snap(&a);
    void *p = hak_malloc(100);
    TEST_REQUIRE(p != NULL, "hak_malloc(100) NULL");
    snap(&b);
    void *q = hak_realloc(p, test_opaque(0));
    snap(&c);
    ck_assert_ptr_null(q);
    ck_assert_uint_eq(b.bytes_in_use - a.bytes_in_use, 112);
    ck_assert_uint_eq(c.frees - b.frees, 1);
    ck_assert_uint_eq(c.bytes_in_use, a.bytes_in_use);
}
END_TEST

/* ---- remote frees and thread heaps -------------------------------------- */

/* Few enough blocks that each owner keeps all its slabs (4 full ones of
 * 292 blocks, heap.c): a slab it parked would be taken over by this
 * thread's first free into it, and the rest of those frees be local. */
enum { RT_THREADS = 3, RT_BLOCKS = 1000 };
static void *rt_blocks[RT_THREADS][RT_BLOCKS];
static pthread_barrier_t rt_allocated, rt_freed;

static void *rt_owner(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < RT_BLOCKS; i++) {
        rt_blocks[id][i] = hak_malloc(200);
        if (!rt_blocks[id][i])
            test_thread_fail("hak_malloc(200) NULL");
    }
    pthread_barrier_wait(&rt_allocated);
    /* stay alive while the test thread frees our blocks remotely */
    pthread_barrier_wait(&rt_freed);
    return NULL;
}

START_TEST(test_stats_remote_and_threads)
{
    struct hak_stats a, during, after;
    pthread_t t[RT_THREADS];
    void *warm = hak_malloc(200);
    hak_free(warm);
    int rc1 = pthread_barrier_init(&rt_allocated, NULL, RT_THREADS + 1);
    int rc2 = pthread_barrier_init(&rt_freed, NULL, RT_THREADS + 1);
    ck_assert(rc1 == 0 && rc2 == 0);
    snap(&a);
    for (uintptr_t i = 0; i < RT_THREADS; i++)
        TEST_REQUIRE(pthread_create(&t[i], NULL, rt_owner, (void *)i) == 0, "pthread_create");
    pthread_barrier_wait(&rt_allocated);
    TEST_REQUIRE(!test_thread_failed(), "owner thread: %s", test_thread_err);
    snap(&during);
    for (unsigned id = 0; id < RT_THREADS; id++)
        for (unsigned i = 0; i < RT_BLOCKS; i++)
            hak_free(rt_blocks[id][i]);
    pthread_barrier_wait(&rt_freed);
    for (int i = 0; i < RT_THREADS; i++)
        pthread_join(t[i], NULL);
    snap(&after);

    int k = class_index(&a, 224);
    ck_assert_int_ge(k, 0);
    const uint64_t n = (uint64_t)RT_THREADS * RT_BLOCKS;
    ck_assert_uint_ge(during.threads_live, a.threads_live + RT_THREADS);
    ck_assert_uint_ge(after.remote_frees - a.remote_frees, n);
    /* creating threads may allocate a little (TLS, in the override build)
     * but not thousands of 224-byte blocks */
    ck_assert_uint_ge(after.classes[k].allocs - a.classes[k].allocs, n);
    ck_assert_uint_le(after.classes[k].allocs - a.classes[k].allocs, n + 64);
    ck_assert_uint_ge(after.classes[k].frees - a.classes[k].frees, n);
    ck_assert_uint_ge(after.threads_exited - a.threads_exited, RT_THREADS);
    ck_assert_uint_le(after.threads_live + RT_THREADS, during.threads_live);
    ck_assert_uint_ge(after.superslabs_live, 1);
    /* all of it came back: what is in use is about what was in use before */
    ck_assert_uint_le(after.bytes_in_use, a.bytes_in_use + 64 * 1024);
    ck_assert_uint_ge(after.allocs, after.frees);
    pthread_barrier_destroy(&rt_allocated);
    pthread_barrier_destroy(&rt_freed);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* hak_stats and the printers while other threads allocate: no crash, no
 * deadlock, and the heap stays consistent. */
static atomic_int cs_stop;

static void *cs_worker(void *arg)
{
    uint64_t rng = test_seed((uint64_t)(uintptr_t)arg);
    void *held[128] = {0};
    while (!atomic_load_explicit(&cs_stop, memory_order_relaxed)) {
        unsigned k = (unsigned)(test_rand(&rng) & 127);
        hak_free(held[k]);
        held[k] = hak_malloc((size_t)(test_rand(&rng) % 3000));
    }
    for (unsigned k = 0; k < 128; k++)
        hak_free(held[k]);
    return NULL;
}

START_TEST(test_stats_concurrent)
{
    pthread_t t[2];
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    for (uintptr_t i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, cs_worker, (void *)i), 0);
    for (int i = 0; i < 300; i++) {
        struct hak_stats st;
        snap(&st);
        ck_assert_uint_le(st.nclasses, HAK_STATS_MAX_CLASSES);
        if (i % 10 == 0) {
            ck_assert_int_eq(hak_stats_print(devnull), 0);
            ck_assert_int_eq(hak_stats_print_json(devnull), 0);
        }
    }
    atomic_store(&cs_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    fclose(devnull);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- printers ------------------------------------------------------------ */

static long print_to_tmpfile(int (*print)(FILE *), char *head, size_t headsz)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(print(f), 0);
    ck_assert_int_eq(fflush(f), 0);
    long len = ftell(f);
    rewind(f);
    size_t got = fread(head, 1, headsz - 1, f);
    head[got] = '\0';
    fclose(f);
    return len;
}

START_TEST(test_stats_print_text)
{
    char head[4096];
    void *p = hak_malloc(100);
    long len = print_to_tmpfile(hak_stats_print, head, sizeof head);
    ck_assert_msg(len > 0, "hak_stats_print wrote nothing");
    ck_assert_msg(test_count_lines(head) >= 2, "hak_stats_print: not a table:\n%s", head);
    ck_assert_msg(head[0] != '{', "hak_stats_print printed JSON, not a table");
    hak_free(p);
}
END_TEST

static int have_python3(void) { return system("python3 -c pass >/dev/null 2>&1") == 0; }

START_TEST(test_stats_print_json)
{
    char head[4096];
    void *p = hak_malloc(100);
    long len = print_to_tmpfile(hak_stats_print_json, head, sizeof head);
    ck_assert_msg(len > 0, "hak_stats_print_json wrote nothing");
    size_t i = strspn(head, " \t\n");
    ck_assert_msg(head[i] == '{', "JSON does not start with an object: %.80s", head);

    if (!have_python3()) {
        fprintf(stderr, "python3 not found: JSON syntax not checked\n");
        hak_free(p);
        return;
    }
    /* the whole document must be exactly one JSON object */
    FILE *py = popen("python3 -c 'import json,sys; d=json.load(sys.stdin); "
                     "sys.exit(0 if isinstance(d, dict) and len(d) > 0 else 3)'",
                     "w");
    ck_assert_ptr_nonnull(py);
    ck_assert_int_eq(hak_stats_print_json(py), 0);
    int st = pclose(py);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "python3 json.load rejected hak_stats_print_json output (status %#x)",
                  (unsigned)st);
    hak_free(p);
}
END_TEST

/* "Never allocates": with stdio's buffer supplied by us, printing must not
 * change the calling thread's allocation count. */
START_TEST(test_stats_print_no_alloc)
{
    static char buf[1 << 16];
    struct hak_stats a, b;
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(setvbuf(f, buf, _IOFBF, sizeof buf), 0);
    snap(&a);
    int r1 = hak_stats_print(f);
    int r2 = hak_stats_print_json(f);
    snap(&b);
    ck_assert_int_eq(r1, 0);
    ck_assert_int_eq(r2, 0);
    ck_assert_msg(b.allocs == a.allocs, "printing statistics allocated %lu blocks",
                  (unsigned long)(b.allocs - a.allocs));
    fclose(f);
}
END_TEST

START_TEST(test_stats_print_error)
{
    FILE *ro = fopen("/dev/null", "r");
    ck_assert_ptr_nonnull(ro);
    ck_assert_int_eq(hak_stats_print(ro), -1);
    ck_assert_int_eq(hak_stats_print_json(ro), -1);
    fclose(ro);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");

    TCase *tc = tcase_create("struct");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_stats_bad_args);
    tcase_add_test(tc, test_stats_small_struct);
    tcase_add_test(tc, test_stats_large_struct);
    tcase_add_test(tc, test_stats_class_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("counters");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stats_counts_local);
    tcase_add_test(tc, test_stats_counts_large);
    tcase_add_test(tc, test_stats_realloc_zero_frees);
    tcase_add_test(tc, test_stats_remote_and_threads);
    tcase_add_test(tc, test_stats_concurrent);
    suite_add_tcase(s, tc);

    tc = tcase_create("print");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_stats_print_text);
    tcase_add_test(tc, test_stats_print_json);
    tcase_add_test(tc, test_stats_print_no_alloc);
    tcase_add_test(tc, test_stats_print_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(stats_suite()); }
