/* check_limit.c - HAKMEM_LIMIT_MB and hak_set_oom_handler (issue 16).
 * The program runs itself again with HAKMEM_LIMIT_MB=64 (the library
 * reads it once, at start-up), then each test fills memory up to the
 * limit and checks one path of a failing allocation: the caches are
 * trimmed first (and that alone may be enough), then the handler is
 * called once and may free memory for one more try; otherwise NULL with
 * ENOMEM.  Also from several threads at once. */
#include "../test_check.h"

#include <pthread.h>

#define LIMIT_MB 64
#define LIMIT ((size_t)LIMIT_MB << 20)
/* A large block maps 1 MiB + 8 KiB (a header page and the rounded body). */
#define LARGE (TEST_MiB + 1)
#define SMALL (64 * TEST_KiB)
/* A small size whose class needs a run of 13 free units: after the fill,
 * no SuperSlab has one, so serving it maps a new SuperSlab (2 MiB). */
#define NEEDS_SUPERSLAB (100 * TEST_KiB)

static struct hak_stats stats_now(void)
{
    struct hak_stats st;
    memset(&st, 0, sizeof st);
    ck_assert_int_eq(hak_stats(&st, sizeof st), 0);
    return st;
}

/* Blocks chained through their first word. */
struct chain {
    void *head;
    size_t n;
};

static void chain_push(struct chain *c, void *b)
{
    *(void **)b = c->head;
    c->head = b;
    c->n++;
}

static void *chain_pop(struct chain *c)
{
    void **b = c->head;
    if (b != NULL) {
        c->head = b[0];
        c->n--;
    }
    return b;
}

static void chain_free(struct chain *c)
{
    void *b;
    while ((b = chain_pop(c)) != NULL)
        hak_free(b);
}

/* Fills memory up to the limit: large blocks until one fails, then small
 * ones in what the SuperSlabs still have.  Less than one large block's
 * mapping stays below the limit. */
static void fill_to_limit(struct chain *large, struct chain *small)
{
    void *b;
    memset(large, 0, sizeof *large);
    memset(small, 0, sizeof *small);
    while ((b = hak_malloc(test_opaque(LARGE))) != NULL) {
        chain_push(large, b);
        /* Not forever when the limit does not hold. */
        ck_assert_uint_le(large->n, 2 * LIMIT_MB);
    }
    ck_assert_int_eq(errno, ENOMEM);
    while ((b = hak_malloc(test_opaque(SMALL))) != NULL)
        chain_push(small, b);
    ck_assert_int_eq(errno, ENOMEM);
    struct hak_stats st = stats_now();
    ck_assert_uint_le(st.bytes_mapped, LIMIT);
    ck_assert_uint_gt(st.bytes_mapped + LARGE + 8 * TEST_KiB, LIMIT);
    ck_assert_uint_ge(large->n, LIMIT_MB / 2);
}

START_TEST(test_limit_seen)
{
    struct hak_stats st = stats_now();
    ck_assert_uint_eq(st.mapped_limit, LIMIT);
    ck_assert_uint_ge(st.version, 2);
    /* Caches are kept to a tenth of a limit. */
    ck_assert_uint_eq(st.cache_limit, LIMIT / 10);
}
END_TEST

/* Never more mapped than the limit, and what passes it fails with
 * ENOMEM, counted, with no handler to call. */
START_TEST(test_limit_caps_mapping)
{
    struct chain large, small;
    struct hak_stats a = stats_now();
    fill_to_limit(&large, &small);
    errno = 0;
    ck_assert_ptr_null(hak_malloc(test_opaque(LARGE)));
    ck_assert_int_eq(errno, ENOMEM);
    struct hak_stats b = stats_now();
    ck_assert_uint_le(b.bytes_mapped_peak, LIMIT);
    ck_assert_uint_eq(b.allocs_failed - a.allocs_failed, 3);
    ck_assert_uint_eq(b.oom_handler_calls, a.oom_handler_calls);
    chain_free(&small);
    chain_free(&large);
    /* Freed memory makes room again. */
    void *p = hak_malloc(test_opaque(8 * TEST_MiB));
    ck_assert_ptr_nonnull(p);
    hak_free(p);
}
END_TEST

/* At the limit, memory the caches hold is given back before the
 * allocation fails: here that alone makes room. */
START_TEST(test_trim_before_failing)
{
    struct chain large, small;
    fill_to_limit(&large, &small);
    for (int i = 0; i < 3; i++)
        hak_free(chain_pop(&large));
    struct hak_stats a = stats_now();
    ck_assert_uint_ge(a.bytes_cached, 3 * TEST_MiB);
    void *p = hak_malloc(test_opaque(NEEDS_SUPERSLAB));
    ck_assert_ptr_nonnull(p);
    struct hak_stats b = stats_now();
    ck_assert_uint_eq(b.allocs_failed, a.allocs_failed);
    ck_assert_uint_lt(b.bytes_cached, 1 * TEST_MiB);
    ck_assert_uint_ge(b.bytes_returned - a.bytes_returned, 3 * TEST_MiB);
    ck_assert_uint_le(b.bytes_mapped_peak, LIMIT);
    hak_free(p);
    chain_free(&small);
    chain_free(&large);
}
END_TEST

/* ---- the handler ------------------------------------------------------ */

struct handler_log {
    int calls;
    size_t size;
    void *arg;
    struct chain *reserve; /* blocks to free, one call at a time */
    int free_count;        /* how many blocks one call frees */
    int answer;            /* what it returns */
    int nested_null;       /* allocations in the handler that failed */
};
static struct handler_log hlog;

static int log_handler(size_t size, void *arg)
{
    struct handler_log *l = arg;
    l->calls++;
    l->size = size;
    l->arg = arg;
    for (int i = 0; i < l->free_count && l->reserve != NULL && l->reserve->n > 0; i++)
        hak_free(chain_pop(l->reserve));
    return l->answer;
}

/* An allocation made by the handler that fails returns NULL at once: the
 * handler is not called again from inside itself. */
static int allocating_handler(size_t size, void *arg)
{
    struct handler_log *l = arg;
    (void)size;
    l->calls++;
    void *p = hak_malloc(test_opaque(4 * LARGE));
    if (p == NULL && errno == ENOMEM)
        l->nested_null++;
    hak_free(p);
    return 0;
}

static void handler_setup(struct chain *large, struct chain *small, struct chain *reserve,
                          int free_count, int answer)
{
    fill_to_limit(large, small);
    memset(reserve, 0, sizeof *reserve);
    /* Two large blocks make room for a SuperSlab once given back. */
    for (int i = 0; i < 3; i++)
        chain_push(reserve, chain_pop(large));
    memset(&hlog, 0, sizeof hlog);
    hlog.reserve = reserve;
    hlog.free_count = free_count;
    hlog.answer = answer;
    hak_set_oom_handler(log_handler, &hlog, NULL);
}

static void handler_teardown(struct chain *large, struct chain *small, struct chain *reserve)
{
    hak_set_oom_handler(NULL, NULL, NULL);
    chain_free(reserve);
    chain_free(small);
    chain_free(large);
}

START_TEST(test_handler_frees_and_retries)
{
    struct chain large, small, reserve;
    handler_setup(&large, &small, &reserve, 3, 1);
    struct hak_stats a = stats_now();
    void *p = hak_malloc(test_opaque(NEEDS_SUPERSLAB));
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(hlog.calls, 1);
    ck_assert_uint_eq(hlog.size, NEEDS_SUPERSLAB);
    ck_assert_ptr_eq(hlog.arg, &hlog);
    struct hak_stats b = stats_now();
    ck_assert_uint_eq(b.oom_handler_calls - a.oom_handler_calls, 1);
    ck_assert_uint_eq(b.allocs_failed, a.allocs_failed);
    hak_free(p);
    handler_teardown(&large, &small, &reserve);
}
END_TEST

START_TEST(test_handler_declines)
{
    struct chain large, small, reserve;
    handler_setup(&large, &small, &reserve, 0, 0);
    struct hak_stats a = stats_now();
    errno = 0;
    ck_assert_ptr_null(hak_malloc(test_opaque(NEEDS_SUPERSLAB)));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(hlog.calls, 1);
    struct hak_stats b = stats_now();
    ck_assert_uint_eq(b.allocs_failed - a.allocs_failed, 1);
    handler_teardown(&large, &small, &reserve);
}
END_TEST

/* Asking for a retry without freeing anything: one retry, one call, NULL. */
START_TEST(test_handler_retry_fails_once)
{
    struct chain large, small, reserve;
    handler_setup(&large, &small, &reserve, 0, 1);
    errno = 0;
    ck_assert_ptr_null(hak_malloc(test_opaque(NEEDS_SUPERSLAB)));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(hlog.calls, 1);
    handler_teardown(&large, &small, &reserve);
}
END_TEST

START_TEST(test_handler_may_allocate)
{
    struct chain large, small, reserve;
    handler_setup(&large, &small, &reserve, 0, 0);
    hak_set_oom_handler(allocating_handler, &hlog, NULL);
    ck_assert_ptr_null(hak_malloc(test_opaque(NEEDS_SUPERSLAB)));
    ck_assert_int_eq(hlog.calls, 1);
    ck_assert_int_eq(hlog.nested_null, 1);
    handler_teardown(&large, &small, &reserve);
}
END_TEST

/* Every entry point that can map memory goes the same way. */
START_TEST(test_handler_every_entry_point)
{
    struct chain large, small, reserve;
    handler_setup(&large, &small, &reserve, 0, 0);
    char *keep = chain_pop(&large);
    memset(keep + 8, 0x3c, LARGE - 8);
    errno = 0;
    ck_assert_ptr_null(hak_realloc(keep, test_opaque(8 * TEST_MiB)));
    ck_assert_int_eq(errno, ENOMEM);
    for (size_t i = 8; i < LARGE; i += 4099)
        ck_assert_int_eq(keep[i], 0x3c);
    ck_assert_ptr_null(hak_calloc(1, test_opaque(4 * TEST_MiB)));
    ck_assert_ptr_null(hak_aligned_alloc(4 * TEST_MiB, test_opaque(4 * TEST_MiB)));
    void *q = (void *)1;
    ck_assert_int_eq(hak_posix_memalign(&q, 4 * TEST_MiB, test_opaque(4 * TEST_MiB)), ENOMEM);
    ck_assert_ptr_eq(q, (void *)1);
    ck_assert_int_eq(hlog.calls, 4);
    /* And a handler that makes room lets realloc through. */
    hlog.free_count = 3;
    hlog.answer = 1;
    char *grown = hak_realloc(keep, test_opaque(LARGE + 2 * TEST_MiB));
    ck_assert_ptr_nonnull(grown);
    ck_assert_int_eq(hlog.calls, 5);
    for (size_t i = 8; i < LARGE; i += 4099)
        ck_assert_int_eq(grown[i], 0x3c);
    hak_free(grown);
    handler_teardown(&large, &small, &reserve);
}
END_TEST

/* A request no freeing could satisfy fails at once. */
START_TEST(test_impossible_request)
{
    memset(&hlog, 0, sizeof hlog);
    hak_set_oom_handler(log_handler, &hlog, NULL);
    errno = 0;
    ck_assert_ptr_null(hak_malloc(test_opaque(LIMIT + 1)));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_null(hak_malloc(test_opaque(SIZE_MAX / 2)));
    ck_assert_int_eq(hlog.calls, 0);
    hak_set_oom_handler(NULL, NULL, NULL);
}
END_TEST

static int other_handler(size_t size, void *arg)
{
    (void)size;
    (void)arg;
    return 0;
}

START_TEST(test_set_handler_returns_previous)
{
    int a, b;
    void *old = &old;
    ck_assert_ptr_null(hak_set_oom_handler(log_handler, &a, &old));
    ck_assert_ptr_null(old);
    ck_assert_ptr_eq(hak_set_oom_handler(other_handler, &b, &old), log_handler);
    ck_assert_ptr_eq(old, &a);
    ck_assert_ptr_eq(hak_set_oom_handler(NULL, NULL, NULL), other_handler);
    ck_assert_ptr_null(hak_set_oom_handler(NULL, NULL, &old));
    ck_assert_ptr_null(old);
}
END_TEST

/* ---- several threads at the limit at once ----------------------------- */

#define MT_THREADS 4
static pthread_mutex_t mt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chain mt_reserve;
static atomic_int mt_calls, mt_nulls, mt_bad;
static pthread_barrier_t mt_barrier;

/* Frees one block of the shared reserve per call while there are any. */
static int mt_handler(size_t size, void *arg)
{
    (void)arg;
    atomic_fetch_add(&mt_calls, 1);
    if (size != LARGE)
        atomic_fetch_add(&mt_bad, 1);
    pthread_mutex_lock(&mt_lock);
    void *b = chain_pop(&mt_reserve);
    pthread_mutex_unlock(&mt_lock);
    hak_free(b);
    return b != NULL;
}

static void *mt_worker(void *arg)
{
    struct chain mine = {NULL, 0};
    uintptr_t tag = (uintptr_t)arg;
    pthread_barrier_wait(&mt_barrier);
    for (int nulls = 0; nulls < 3;) {
        char *b = hak_malloc(test_opaque(LARGE));
        if (b == NULL) {
            if (errno != ENOMEM)
                atomic_fetch_add(&mt_bad, 1);
            atomic_fetch_add(&mt_nulls, 1);
            nulls++;
            continue;
        }
        memset(b + 8, (int)tag, 4096);
        chain_push(&mine, b);
    }
    for (char *b = mine.head; b != NULL; b = *(char **)b)
        for (int i = 8; i < 4096; i++)
            if (b[i] != (char)tag) {
                atomic_fetch_add(&mt_bad, 1);
                break;
            }
    chain_free(&mine);
    return NULL;
}

START_TEST(test_handler_threads)
{
    pthread_t t[MT_THREADS];
    memset(&mt_reserve, 0, sizeof mt_reserve);
    for (int i = 0; i < 8; i++)
        chain_push(&mt_reserve, hak_malloc(test_opaque(LARGE)));
    struct hak_stats a = stats_now();
    hak_set_oom_handler(mt_handler, NULL, NULL);
    pthread_barrier_init(&mt_barrier, NULL, MT_THREADS);
    for (uintptr_t i = 0; i < MT_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, mt_worker, (void *)(i + 1)), 0);
    for (int i = 0; i < MT_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&mt_barrier);
    hak_set_oom_handler(NULL, NULL, NULL);
    struct hak_stats b = stats_now();
    ck_assert_int_eq(atomic_load(&mt_bad), 0);
    /* Every NULL came after one call of the handler, which found nothing
     * left to free or whose retry lost the room to another thread. */
    ck_assert_int_eq(atomic_load(&mt_nulls), MT_THREADS * 3);
    ck_assert_uint_eq(b.allocs_failed - a.allocs_failed, (uint64_t)atomic_load(&mt_nulls));
    ck_assert_uint_eq(b.oom_handler_calls - a.oom_handler_calls, (uint64_t)atomic_load(&mt_calls));
    ck_assert_int_ge(atomic_load(&mt_calls), atomic_load(&mt_nulls));
    ck_assert_uint_eq(mt_reserve.n, 0);
    ck_assert_uint_le(b.bytes_mapped_peak, LIMIT);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

static Suite *limit_suite(void)
{
    Suite *s = suite_create("limit");
    TCase *tc = tcase_create("limit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_limit_seen);
    tcase_add_test(tc, test_limit_caps_mapping);
    tcase_add_test(tc, test_trim_before_failing);
    suite_add_tcase(s, tc);
    tc = tcase_create("handler");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_handler_frees_and_retries);
    tcase_add_test(tc, test_handler_declines);
    tcase_add_test(tc, test_handler_retry_fails_once);
    tcase_add_test(tc, test_handler_may_allocate);
    tcase_add_test(tc, test_handler_every_entry_point);
    tcase_add_test(tc, test_impossible_request);
    tcase_add_test(tc, test_set_handler_returns_previous);
    tcase_add_test(tc, test_handler_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    /* The limit is read once, at start-up: run again with it set. */
    if (getenv("HAKMEM_LIMIT_MB") == NULL) {
        setenv("HAKMEM_LIMIT_MB", "64", 1);
        execv("/proc/self/exe", argv);
        perror("check_limit: execv /proc/self/exe");
        return 99;
    }
    /* Each test in a process of its own: they fill memory to the limit. */
    return test_run_suite_forked(limit_suite());
}
