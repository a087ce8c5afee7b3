/* check_glibc_compat.c - glibc's malloc extensions answered by hakmem, and
 * hak_trim(): mallinfo2's figures against known live bytes, mallinfo's
 * saturation, malloc_trim giving a 256 MiB burst back (RSS from
 * /proc/self/statm), malloc_stats and malloc_info output, every mallopt
 * parameter and what M_TRIM_THRESHOLD, M_MMAP_THRESHOLD and M_PERTURB
 * do, C23's sized frees.  White-box (linked with the library's
 * internals), so that every build runs it: the override build calls the
 * glibc names, which it exports; the others, where those stay glibc's,
 * call the compat_* functions behind them.  Each test runs in its own
 * process: mallopt settings and caches start from the defaults. */
#include "config.h"

#include <limits.h>
#include <malloc.h>
#include <unistd.h>

#include "../test_check.h"

#include "glibc_compat.h"

/* mallinfo is deprecated in glibc's header (its int fields wrap). */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* C23's sized frees, which glibc 2.36 does not declare. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Where hakmem's glibc names exist (linked in from the library's
 * override.c and glibc_compat.c) the tests call them; otherwise the
 * compat_* functions behind them, and hak_free for the sized frees. */
#ifdef HAKMEM_OVERRIDE
#define T_mallinfo2 mallinfo2
#define T_mallinfo mallinfo
#define T_malloc_trim malloc_trim
#define T_malloc_stats malloc_stats
#define T_malloc_info malloc_info
#define T_mallopt mallopt
#define T_free_sized free_sized
#define T_free_aligned_sized free_aligned_sized
#else
#define T_mallinfo2 compat_mallinfo2
#define T_mallinfo compat_mallinfo
#define T_malloc_trim compat_malloc_trim
#define T_malloc_stats compat_malloc_stats
#define T_malloc_info compat_malloc_info
#define T_mallopt compat_mallopt
static void T_free_sized(void *ptr, size_t size)
{
    if (test_setting_yes("TEST_DEBUG_GUARDS"))
        compat_check_sized_free(ptr, size, 0, "free_sized");
    hak_free(ptr);
}
static void T_free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    if (test_setting_yes("TEST_DEBUG_GUARDS"))
        compat_check_sized_free(ptr, size, alignment, "free_aligned_sized");
    hak_free(ptr);
}
#endif

/* Debug-guard builds poison freed blocks with 0xdb (instead of
 * M_PERTURB's byte) and check sized frees; read in main. */
static bool debug_guards;

/* ---- mallinfo2, mallinfo ------------------------------------------------ */

/* uordblks is the bytes of live small blocks: n blocks of 100 bytes add
 * between 100 n and their class's 112 n; arena = uordblks + fordblks. */
START_TEST(test_mallinfo2_tracks_live_bytes)
{
    enum { N = 1000 };
    static void *blocks[N];
    struct mallinfo2 before = T_mallinfo2();
    for (int i = 0; i < N; i++)
        blocks[i] = hak_malloc(test_opaque(100));
    struct mallinfo2 live = T_mallinfo2();
    size_t grew = live.uordblks - before.uordblks;
    TEST_REQUIRE(grew >= N * 100 && grew <= N * test_class_size(100),
                 "uordblks grew by %zu for %d blocks of 100 bytes", grew, N);
    TEST_REQUIRE(live.arena == live.uordblks + live.fordblks, "arena %zu != %zu + %zu", live.arena,
                 live.uordblks, live.fordblks);
    TEST_REQUIRE(live.smblks == 0 && live.fsmblks == 0 && live.usmblks == 0,
                 "fast-bin fields are not 0");
    TEST_REQUIRE(live.keepcost <= live.fordblks, "keepcost %zu > fordblks %zu", live.keepcost,
                 live.fordblks);
    for (int i = 0; i < N; i++)
        hak_free(blocks[i]);
    struct mallinfo2 after = T_mallinfo2();
    TEST_REQUIRE(after.uordblks == before.uordblks, "uordblks %zu after the frees, %zu before",
                 after.uordblks, before.uordblks);

    /* A large block is glibc's mmapped chunk: hblks and hblkhd. */
    void *big = hak_malloc(test_opaque(5 * TEST_MiB));
    struct mallinfo2 with_big = T_mallinfo2();
    TEST_REQUIRE(with_big.hblks == after.hblks + 1, "hblks %zu, was %zu", with_big.hblks,
                 after.hblks);
    TEST_REQUIRE(with_big.hblkhd >= after.hblkhd + 5 * TEST_MiB, "hblkhd %zu, was %zu",
                 with_big.hblkhd, after.hblkhd);
    TEST_REQUIRE(with_big.uordblks == after.uordblks, "a large block changed uordblks");
    hak_free(big);
    ck_assert_uint_eq(T_mallinfo2().hblks, after.hblks);
}
END_TEST

/* mallinfo's int fields stop at INT_MAX instead of wrapping. */
START_TEST(test_mallinfo_saturates)
{
    size_t huge = (size_t)INT_MAX + 512 * TEST_MiB; /* mapped, never touched */
    void *p = hak_malloc(test_opaque(huge));
    if (p == NULL)
        return; /* the machine cannot map it: nothing to saturate */
    struct mallinfo2 m2 = T_mallinfo2();
    struct mallinfo m = T_mallinfo();
    hak_free(p);
    ck_assert_uint_ge(m2.hblkhd, huge);
    ck_assert_int_eq(m.hblkhd, INT_MAX);
    ck_assert_int_ge(m.arena, 0);
    ck_assert_int_eq(m.hblks, (int)m2.hblks);
}
END_TEST

/* ---- malloc_trim, hak_trim ---------------------------------------------- */

#define BURST_SMALL 4000 /* bytes per small block: class 4096 */
#define BURST_SMALL_COUNT (128 * TEST_MiB / 4096)
#define BURST_LARGE (8 * TEST_MiB)
#define BURST_LARGE_COUNT 16

/* 256 MiB freed (half small blocks, half large ones, all touched) leaves
 * up to 64 MiB of SuperSlabs and 128 MiB of large mappings cached;
 * malloc_trim(0) returns 1 and RSS falls back near where it started. */
START_TEST(test_malloc_trim_returns_burst)
{
    static void *small[BURST_SMALL_COUNT];
    static void *large[BURST_LARGE_COUNT];
    /* ThreadSanitizer's and AddressSanitizer's shadow memory is RSS too,
     * and stays. */
    const char *sanitizer = test_setting("TEST_SANITIZER");
    if (strstr(sanitizer, "thread") != NULL || strstr(sanitizer, "address") != NULL)
        return;
    T_malloc_trim(0);
    size_t base = test_rss_bytes();
    for (size_t i = 0; i < BURST_SMALL_COUNT; i++) {
        small[i] = hak_malloc(test_opaque(BURST_SMALL));
        TEST_REQUIRE(small[i] != NULL, "small block %zu", i);
        memset(small[i], 1, BURST_SMALL);
    }
    for (size_t i = 0; i < BURST_LARGE_COUNT; i++) {
        large[i] = hak_malloc(test_opaque(BURST_LARGE));
        TEST_REQUIRE(large[i] != NULL, "large block %zu", i);
        memset(large[i], 2, BURST_LARGE);
    }
    size_t full = test_rss_bytes();
    for (size_t i = 0; i < BURST_SMALL_COUNT; i++)
        hak_free(small[i]);
    for (size_t i = 0; i < BURST_LARGE_COUNT; i++)
        hak_free(large[i]);
    size_t freed = test_rss_bytes();
    int released = T_malloc_trim(0);
    size_t trimmed = test_rss_bytes();
    int again = T_malloc_trim(0);

    TEST_REQUIRE(full >= base + 240 * TEST_MiB, "the burst is not resident: %zu MiB, was %zu MiB",
                 full >> 20, base >> 20);
    TEST_REQUIRE(released == 1, "malloc_trim(0) = %d after freeing the burst", released);
    TEST_REQUIRE(again == 0, "malloc_trim(0) = %d with nothing left to give back", again);
    TEST_REQUIRE(trimmed <= base + 32 * TEST_MiB,
                 "RSS %zu MiB after malloc_trim, %zu MiB before the burst", trimmed >> 20,
                 base >> 20);
    /* Most of it was held in the caches until malloc_trim gave it back. */
    TEST_REQUIRE(freed >= trimmed + 128 * TEST_MiB,
                 "malloc_trim gave back only %zu MiB of RSS (%zu MiB after the frees)",
                 (freed - trimmed) >> 20, freed >> 20);
}
END_TEST

/* hak_trim() returns what it gave the kernel: bytes_returned grows by as
 * much; the calling thread's empty current slab goes back too. */
START_TEST(test_hak_trim_counts_bytes)
{
    static struct hak_stats before, after;
    hak_trim();
    void *p = hak_malloc(test_opaque(6 * TEST_MiB));
    void *q = hak_malloc(test_opaque(20000)); /* a slab of 20 KiB blocks, current */
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    memset(p, 1, 6 * TEST_MiB);
    hak_free(p);
    hak_free(q);
    TEST_REQUIRE(hak_stats(&before, sizeof before) == 0, "hak_stats");
    size_t bytes = hak_trim();
    TEST_REQUIRE(hak_stats(&after, sizeof after) == 0, "hak_stats");
    size_t nothing = hak_trim();
    TEST_REQUIRE(bytes >= 6 * TEST_MiB, "hak_trim() = %zu after freeing 6 MiB", bytes);
    TEST_REQUIRE(after.bytes_returned - before.bytes_returned == bytes,
                 "bytes_returned grew by %llu, hak_trim() said %zu",
                 (unsigned long long)(after.bytes_returned - before.bytes_returned), bytes);
    unsigned c = 0;
    while (c < before.nclasses && before.classes[c].block_size != 20480)
        c++;
    TEST_REQUIRE(c < before.nclasses && after.classes[c].slabs + 1 == before.classes[c].slabs,
                 "the empty current slab of 20 KiB blocks stayed (%llu slabs, %llu before)",
                 (unsigned long long)after.classes[c].slabs,
                 (unsigned long long)before.classes[c].slabs);
    ck_assert_uint_eq(nothing, 0);
}
END_TEST

/* ---- malloc_stats, malloc_info ------------------------------------------ */

static void run_malloc_stats(void *arg)
{
    (void)arg;
    void *p = hak_malloc(100);
    T_malloc_stats();
    hak_free(p);
}

/* glibc's labels on stderr, with the figures mallinfo2 gives. */
START_TEST(test_malloc_stats_prints_summary)
{
    struct test_child c;
    test_run_child(run_malloc_stats, NULL, &c);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %#x: %s", c.status,
                  c.err);
    const char *want[] = {"Arena 0:\n",          "system bytes     = ",
                          "in use bytes     = ", "Total (incl. mmap):\n",
                          "mmap regions     = ", "releasable bytes = "};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(c.err, want[i]) != NULL, "no \"%s\" in:\n%s", want[i], c.err);
    unsigned long long in_use = 0;
    const char *line = strstr(c.err, "in use bytes     = ");
    ck_assert(sscanf(line, "in use bytes     = %llu", &in_use) == 1);
    ck_assert_uint_ge(in_use, 112);
}
END_TEST

/* Neither malloc_stats nor malloc_info to a file allocates. */
START_TEST(test_summaries_do_not_allocate)
{
    struct hak_stats before, after;
    FILE *fp = tmpfile();
    ck_assert_ptr_nonnull(fp);
    fputs("start\n", fp); /* its buffer, allocated now */
    int saved = dup(STDERR_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    ck_assert_int_ge(devnull, 0);
    TEST_REQUIRE(hak_stats(&before, sizeof before) == 0, "hak_stats");
    dup2(devnull, STDERR_FILENO);
    T_malloc_stats();
    dup2(saved, STDERR_FILENO);
    int rc = T_malloc_info(0, fp);
    TEST_REQUIRE(hak_stats(&after, sizeof after) == 0, "hak_stats");
    close(devnull);
    close(saved);
    fclose(fp);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(after.allocs, before.allocs);
}
END_TEST

START_TEST(test_malloc_info_einval)
{
    FILE *fp = tmpfile();
    ck_assert_ptr_nonnull(fp);
    errno = 0;
    int rc = T_malloc_info(1, fp);
    int err = errno;
    ck_assert_int_eq(rc, EINVAL);
    ck_assert_int_eq(err, EINVAL);
    ck_assert_int_eq(T_malloc_info(-1, fp), EINVAL);
    ck_assert_int_eq(T_malloc_info(0, NULL), EINVAL);
    fseek(fp, 0, SEEK_END);
    ck_assert_int_eq(ftell(fp), 0); /* nothing written */
    fclose(fp);
}
END_TEST

/* One document: glibc's root and elements, a size element per class in
 * use with hakmem's in_use and slabs.  (tests/preload/glibc-compat.sh
 * parses it as XML.) */
START_TEST(test_malloc_info_document)
{
    static char text[64 * 1024];
    void *p[10];
    for (int i = 0; i < 10; i++)
        p[i] = hak_malloc(100);
    FILE *fp = tmpfile();
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(T_malloc_info(0, fp), 0);
    rewind(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    for (int i = 0; i < 10; i++)
        hak_free(p[i]);
    ck_assert_msg(strncmp(text, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", 43) == 0,
                  "%s", text);
    ck_assert_msg(n > 11 && strcmp(text + n - 10, "</malloc>\n") == 0, "%s", text);
    ck_assert_msg(strstr(text, "<size from=\"97\" to=\"112\" ") != NULL, "%s", text);
    const char *cls = strstr(text, "<size from=\"97\" to=\"112\" ");
    unsigned long long in_use = 0;
    const char *attr = strstr(cls, "in_use=\"");
    ck_assert_ptr_nonnull(attr);
    ck_assert(sscanf(attr, "in_use=\"%llu\"", &in_use) == 1);
    ck_assert_uint_ge(in_use, 10);
    const char *elements[] = {"<total type=\"fast\"",
                              "<total type=\"rest\"",
                              "<total type=\"mmap\"",
                              "<system type=\"current\"",
                              "<system type=\"max\"",
                              "<aspace type=\"total\"",
                              "<aspace type=\"mprotect\"",
                              "</heap>",
                              "<hakmem version=\"" PACKAGE_VERSION "\""};
    for (size_t i = 0; i < sizeof elements / sizeof elements[0]; i++)
        ck_assert_msg(strstr(text, elements[i]) != NULL, "no %s in:\n%s", elements[i], text);
}
END_TEST

/* ---- mallopt ------------------------------------------------------------ */

/* 1 for every parameter glibc 2.36 defines, 0 where glibc refuses the
 * value (M_MXFAST above 160) and for any other parameter. */
START_TEST(test_mallopt_parameters)
{
    static const int known[] = {M_MXFAST,         M_NLBLKS,  M_GRAIN,          M_KEEP,
                                M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX,
                                M_CHECK_ACTION,   M_PERTURB, M_ARENA_TEST,     M_ARENA_MAX};
    static const int values[] = {0, 1, 64};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++)
            ck_assert_msg(T_mallopt(known[i], values[j]) == 1, "mallopt(%d, %d) != 1", known[i],
                          values[j]);
    ck_assert_int_eq(T_mallopt(M_MXFAST, 160), 1);
    ck_assert_int_eq(T_mallopt(M_MXFAST, 161), 0);
    ck_assert_int_eq(T_mallopt(M_MXFAST, -1), 0);
    ck_assert_int_eq(T_mallopt(M_TRIM_THRESHOLD, -1), 1);
    ck_assert_int_eq(T_mallopt(M_MMAP_THRESHOLD, INT_MAX), 1);
    static const int unknown[] = {0, 5, 9, -9, -100, 100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        ck_assert_msg(T_mallopt(unknown[i], 1) == 0, "mallopt(%d, 1) != 0", unknown[i]);
}
END_TEST

/* Frees 8 MiB of 4 KiB blocks; returns keepcost after. */
static size_t keepcost_after_small_burst(void)
{
    static void *b[2048];
    for (int i = 0; i < 2048; i++) {
        b[i] = hak_malloc(test_opaque(4096));
        TEST_REQUIRE(b[i] != NULL, "block %d", i);
        memset(b[i], 3, 4096);
    }
    for (int i = 0; i < 2048; i++)
        hak_free(b[i]);
    return T_mallinfo2().keepcost;
}

/* M_TRIM_THRESHOLD is the free SuperSlab memory kept: by default freed
 * slabs stay for reuse, with 0 they go back to the kernel at once. */
START_TEST(test_mallopt_trim_threshold)
{
    T_malloc_trim(0);
    size_t kept = keepcost_after_small_burst();
    TEST_REQUIRE(kept >= 4 * TEST_MiB, "keepcost %zu after freeing 8 MiB (default threshold)",
                 kept);
    T_malloc_trim(0);
    ck_assert_int_eq(T_mallopt(M_TRIM_THRESHOLD, 0), 1);
    kept = keepcost_after_small_burst();
    TEST_REQUIRE(kept == 0, "keepcost %zu after freeing 8 MiB with M_TRIM_THRESHOLD 0", kept);
    ck_assert_int_eq(T_mallopt(M_TRIM_THRESHOLD, 64 << 20), 1);
    kept = keepcost_after_small_burst();
    TEST_REQUIRE(kept >= 4 * TEST_MiB, "keepcost %zu with M_TRIM_THRESHOLD back at 64 MiB", kept);
}
END_TEST

static size_t keepcost_after_large(size_t size)
{
    T_malloc_trim(0);
    void *p = hak_malloc(test_opaque(size));
    TEST_REQUIRE(p != NULL, "malloc(%zu)", size);
    hak_free(p);
    return T_mallinfo2().keepcost;
}

/* M_MMAP_THRESHOLD: a freed large block of at least that many bytes is
 * unmapped at once; smaller ones are still cached. */
START_TEST(test_mallopt_mmap_threshold)
{
    size_t kept = keepcost_after_large(8 * TEST_MiB);
    TEST_REQUIRE(kept >= 8 * TEST_MiB, "8 MiB block not cached by default (keepcost %zu)", kept);
    ck_assert_int_eq(T_mallopt(M_MMAP_THRESHOLD, 4 << 20), 1);
    kept = keepcost_after_large(8 * TEST_MiB);
    TEST_REQUIRE(kept == 0, "8 MiB block cached with M_MMAP_THRESHOLD 4 MiB (keepcost %zu)", kept);
    kept = keepcost_after_large(2 * TEST_MiB);
    TEST_REQUIRE(kept >= 2 * TEST_MiB,
                 "2 MiB block not cached with M_MMAP_THRESHOLD 4 MiB (keepcost %zu)", kept);
    ck_assert_int_eq(T_mallopt(M_MMAP_THRESHOLD, -1), 1); /* as glibc: huge, all cached */
    kept = keepcost_after_large(8 * TEST_MiB);
    TEST_REQUIRE(kept >= 8 * TEST_MiB,
                 "8 MiB block not cached with M_MMAP_THRESHOLD -1 (keepcost %zu)", kept);
}
END_TEST

static bool bytes_are(const void *p, size_t from, size_t to, unsigned char v)
{
    const volatile unsigned char *b = test_opaque_ptr((void *)p);
    for (size_t i = from; i < to; i++)
        if (b[i] != v)
            return false;
    return true;
}

/* M_PERTURB 0x5a: new blocks hold 0xa5 over the size asked for, freed
 * small ones 0x5a past their 16-byte link (debug-guard builds poison
 * them with their own byte, 0xdb, and check it), calloc's are zero. */
START_TEST(test_mallopt_perturb_fills)
{
    ck_assert_int_eq(T_mallopt(M_PERTURB, 0x5a), 1);
    char *p = hak_malloc(test_opaque(100));
    TEST_REQUIRE(bytes_are(p, 0, 100, 0xa5), "malloc(100) not filled with 0xa5");
    char *z = hak_calloc(10, 10);
    TEST_REQUIRE(bytes_are(z, 0, 100, 0), "calloc not zero while perturbing");
    char *big = hak_malloc(test_opaque(3 * TEST_MiB));
    TEST_REQUIRE(bytes_are(big, 0, 3 * TEST_MiB, 0xa5), "large block not filled");
    char *mid = hak_aligned_alloc(4096, test_opaque(5000));
    TEST_REQUIRE(bytes_are(mid, 0, 5000, 0xa5), "aligned block not filled");
    memset(p, 0x11, 100);
    p = hak_realloc(p, 3000);
    /* realloc copies the old block whole: its 112 bytes. */
    TEST_REQUIRE(bytes_are(p, 0, 100, 0x11) && bytes_are(p, 112, 3000, 0xa5),
                 "realloc: old bytes kept, new ones filled");
    char *q = hak_malloc(test_opaque(100));
    hak_free(q);
    TEST_REQUIRE(bytes_are(q, 16, 112, debug_guards ? 0xdb : 0x5a), "freed block not filled");
    hak_free(p);
    hak_free(z);
    hak_free(big);
    hak_free(mid);

    /* A value of 256 is byte 0: off, as in glibc. */
    ck_assert_int_eq(T_mallopt(M_PERTURB, 0x100), 1);
    q = hak_malloc(test_opaque(100));
    memset(q, 0x11, 100);
    hak_free(q);
    if (!debug_guards)
        TEST_REQUIRE(bytes_are(q, 16, 100, 0x11), "freed block filled with M_PERTURB off");
}
END_TEST

/* ---- M_PERTURB and other threads ---------------------------------------- */

struct perturb_thread {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int step;
    bool first_filled, fast_filled, slow_filled, after_filled;
};

static void perturb_wait(struct perturb_thread *t, int step)
{
    pthread_mutex_lock(&t->lock);
    while (t->step < step)
        pthread_cond_wait(&t->cond, &t->lock);
    pthread_mutex_unlock(&t->lock);
}

static void perturb_step(struct perturb_thread *t, int step)
{
    pthread_mutex_lock(&t->lock);
    t->step = step;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

/* A thread that was allocating before mallopt: a block from its current
 * slab's free list is not filled (the fast path tests nothing); its next
 * allocation that misses the fast path is, and so is every later one. */
static void *perturb_existing(void *arg)
{
    struct perturb_thread *t = arg;
    void *a = hak_malloc(test_opaque(48)); /* carves a page of 48-byte blocks */
    t->first_filled = bytes_are(a, 0, 48, 0xa5);
    perturb_step(t, 1);
    perturb_wait(t, 2); /* mallopt(M_PERTURB) */
    void *b = hak_malloc(test_opaque(48));
    t->fast_filled = bytes_are(b, 16, 48, 0xa5);
    void *c = hak_malloc(test_opaque(200)); /* a class it never used: slow path */
    t->slow_filled = bytes_are(c, 0, 200, 0xa5);
    void *d = hak_malloc(test_opaque(48));
    t->after_filled = bytes_are(d, 0, 48, 0xa5);
    hak_free(a);
    hak_free(b);
    hak_free(c);
    hak_free(d);
    return NULL;
}

/* A thread started while perturbing fills from its first block; blocks it
 * frees that the main thread allocated are filled too. */
static void *perturb_new(void *arg)
{
    void **blocks = arg;
    void *p = hak_malloc(test_opaque(64));
    bool filled = bytes_are(p, 0, 64, 0xa5);
    hak_free(p);
    for (int i = 0; i < 64; i++)
        hak_free(blocks[i]);
    return filled ? p : NULL;
}

START_TEST(test_mallopt_perturb_threads)
{
    struct perturb_thread t = {
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, false, false, false};
    pthread_t tid;
    ck_assert_int_eq(pthread_create(&tid, NULL, perturb_existing, &t), 0);
    perturb_wait(&t, 1);
    ck_assert_int_eq(T_mallopt(M_PERTURB, 0x5a), 1);
    perturb_step(&t, 2);
    ck_assert_int_eq(pthread_join(tid, NULL), 0);
    ck_assert(!t.first_filled);
    ck_assert_msg(!t.fast_filled, "a block from the fast path was filled");
    ck_assert_msg(t.slow_filled, "the slow path did not start perturbing");
    ck_assert_msg(t.after_filled, "the thread stopped perturbing");

    static void *blocks[64];
    for (int i = 0; i < 64; i++) {
        blocks[i] = hak_malloc(test_opaque(64));
        memset(blocks[i], 0x11, 64);
    }
    void *filled = NULL;
    /* No ck_assert until the blocks are read: in the override build a
     * passing one allocates, and could take one of them back. */
    TEST_REQUIRE(pthread_create(&tid, NULL, perturb_new, blocks) == 0, "pthread_create");
    TEST_REQUIRE(pthread_join(tid, &filled) == 0, "pthread_join");
    for (int i = 0; i < 64; i++)
        TEST_REQUIRE(debug_guards || bytes_are(blocks[i], 16, 64, 0x5a),
                     "block %d freed by another thread not filled", i);
    ck_assert_msg(filled != NULL, "a new thread's first block was not filled");
    ck_assert_int_eq(hak_check(), 0);
    ck_assert_int_eq(T_mallopt(M_PERTURB, 0), 1);
}
END_TEST

/* Several threads allocate, free each other's blocks and trim while the
 * main thread turns M_PERTURB on and off: every block holds what its
 * owner wrote, and the heap stays consistent (ThreadSanitizer builds
 * check the switching for races). */
#define CHURN_THREADS 4
#define CHURN_ROUNDS 400
#define CHURN_SLOTS 64

static void *churn_slots[CHURN_THREADS][CHURN_SLOTS];

static void *perturb_churn(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t seed = test_seed(id);
    for (int round = 0; round < CHURN_ROUNDS && !test_thread_failed(); round++) {
        for (int i = 0; i < CHURN_SLOTS; i++) {
            size_t size = 32 + (size_t)(test_rand(&seed) % 3000); /* test_stamp: 32 at least */
            void *p = hak_malloc(size);
            if (p == NULL) {
                test_thread_fail("thread %u: malloc(%zu) failed", id, size);
                return NULL;
            }
            test_stamp(p, size, ((uint64_t)id << 32) | (unsigned)i);
            /* Free a neighbour's block (if any): a remote free. */
            void **slot = &churn_slots[(id + 1) % CHURN_THREADS][i];
            void *other = __atomic_exchange_n(slot, NULL, __ATOMIC_ACQ_REL);
            if (other != NULL)
                hak_free(other);
            if (!test_stamp_ok(p, size, ((uint64_t)id << 32) | (unsigned)i)) {
                test_thread_fail("thread %u: block %p overwritten", id, p);
                return NULL;
            }
            void *old = __atomic_exchange_n(&churn_slots[id][i], p, __ATOMIC_ACQ_REL);
            if (old != NULL)
                hak_free(old);
        }
        if (round % 50 == 0)
            hak_trim();
    }
    return NULL;
}

START_TEST(test_mallopt_perturb_switching)
{
    pthread_t tid[CHURN_THREADS];
    for (unsigned i = 0; i < CHURN_THREADS; i++)
        ck_assert_int_eq(pthread_create(&tid[i], NULL, perturb_churn, (void *)(uintptr_t)i), 0);
    for (int i = 0; i < 200; i++) {
        T_mallopt(M_PERTURB, i % 2 ? 0 : 0x5a);
        usleep(500);
    }
    for (unsigned i = 0; i < CHURN_THREADS; i++)
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
    TEST_ASSERT_NO_THREAD_ERROR();
    for (unsigned i = 0; i < CHURN_THREADS; i++)
        for (int j = 0; j < CHURN_SLOTS; j++)
            hak_free(churn_slots[i][j]);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- free_sized, free_aligned_sized ------------------------------------- */

/* The sizes a block may be freed with: what it was allocated with, any
 * size realloc kept it for, NULL with any size. */
START_TEST(test_free_sized_valid)
{
    for (size_t size = 0; size <= 3 * TEST_MiB; size = size * 2 + 1) {
        void *p = hak_malloc(test_opaque(size));
        ck_assert_ptr_nonnull(p);
        T_free_sized(p, size);
    }
    void *p = hak_malloc(test_opaque(1000));
    p = hak_realloc(p, 500); /* kept: over 3/8 of its 1024 bytes */
    T_free_sized(p, 500);
    p = hak_calloc(10, 100);
    T_free_sized(p, 1000);
    T_free_sized(NULL, 12345);
    for (size_t align = 16; align <= 4 * TEST_MiB; align *= 4) {
        void *a = hak_aligned_alloc(align, test_opaque(3 * align));
        ck_assert_ptr_nonnull(a);
        T_free_aligned_sized(a, align, 3 * align);
        a = hak_aligned_alloc(align, test_opaque(1));
        T_free_aligned_sized(a, align, 1);
    }
    T_free_aligned_sized(NULL, 64, 1);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

struct bad_sized_free {
    size_t alloc, alignment;      /* hak_malloc(alloc), or hak_aligned_alloc */
    size_t size, freed_alignment; /* free_sized, or free_aligned_sized */
};

static void run_bad_sized_free(void *arg)
{
    const struct bad_sized_free *b = arg;
    if (b->alignment == 0) {
        T_free_sized(hak_malloc(b->alloc), b->size);
        return;
    }
    /* A block not aligned to freed_alignment, if that is a power of two:
     * of two neighbours, one is not aligned to twice their alignment. */
    void *p = hak_aligned_alloc(b->alignment, b->alloc);
    if ((uintptr_t)p % b->freed_alignment == 0)
        p = hak_aligned_alloc(b->alignment, b->alloc);
    T_free_aligned_sized(p, b->freed_alignment, b->size);
}

/* A size (or alignment) that cannot be the block's: debug-guard builds
 * report it and abort; other builds free the block, as free() would. */
START_TEST(test_free_sized_wrong_size)
{
    static const struct bad_sized_free cases[] = {
        {100, 0, 113, 0},                   /* larger than the block */
        {1000, 0, 100, 0},                  /* not a size that gets a 1 KiB block */
        {5 * TEST_MiB, 0, 1000, 0},         /* a small size for a large block */
        {5 * TEST_MiB, 0, 6 * TEST_MiB, 0}, /* larger than the block */
        {64, 64, 64, 128},                  /* aligned to 64, freed as aligned to 128 */
        {100, 4096, 100, 8192},             /* aligned to 4096, freed as aligned to 8192 */
        {100, 64, 100, 48},                 /* not a power of two */
        {100, 64, 200, 64},                 /* larger than the block */
    };
    test_no_core_dumps();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct test_child c;
        test_run_child(run_bad_sized_free, (void *)&cases[i], &c);
        if (debug_guards) {
            ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
                          "case %zu: status %#x, stderr: %s", i, c.status, c.err);
            const char *fn =
                cases[i].alignment ? "hakmem: free_aligned_sized(): " : "hakmem: free_sized(): ";
            ck_assert_msg(strncmp(c.err, fn, strlen(fn)) == 0 && test_count_lines(c.err) == 1,
                          "case %zu: %s", i, c.err);
        } else {
            ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
                          "case %zu: status %#x, stderr: %s", i, c.status, c.err);
            ck_assert_msg(c.len == 0, "case %zu: %s", i, c.err);
        }
    }
}
END_TEST

int main(int argc, char **argv)
{
    (void)argc;
    /* What malloc_trim and the thresholds give back must still be cached
     * when they look: run again without the purge thread, which returns
     * memory idle for a second (the library reads the setting at
     * start-up). */
    if (getenv("HAKMEM_BACKGROUND") == NULL) {
        setenv("HAKMEM_BACKGROUND", "0", 1);
        execv("/proc/self/exe", argv);
        perror("check_glibc_compat: execv /proc/self/exe");
        return TEST_EXIT_HARD;
    }
    debug_guards = test_setting_yes("TEST_DEBUG_GUARDS");
#ifdef HAKMEM_OVERRIDE
    if (!test_setting_yes("TEST_OVERRIDE"))
#else
    if (test_setting_yes("TEST_OVERRIDE"))
#endif
        return TEST_EXIT_HARD; /* tests/test-env.sh of another build */
    Suite *s = suite_create("glibc_compat");
    TCase *tc = tcase_create("info");
    tcase_add_test(tc, test_mallinfo2_tracks_live_bytes);
    tcase_add_test(tc, test_mallinfo_saturates);
    tcase_add_test(tc, test_malloc_stats_prints_summary);
    tcase_add_test(tc, test_summaries_do_not_allocate);
    tcase_add_test(tc, test_malloc_info_einval);
    tcase_add_test(tc, test_malloc_info_document);
    suite_add_tcase(s, tc);

    tc = tcase_create("trim");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malloc_trim_returns_burst);
    tcase_add_test(tc, test_hak_trim_counts_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("mallopt");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mallopt_parameters);
    tcase_add_test(tc, test_mallopt_trim_threshold);
    tcase_add_test(tc, test_mallopt_mmap_threshold);
    tcase_add_test(tc, test_mallopt_perturb_fills);
    tcase_add_test(tc, test_mallopt_perturb_threads);
    tcase_add_test(tc, test_mallopt_perturb_switching);
    suite_add_tcase(s, tc);

    tc = tcase_create("sized");
    tcase_add_test(tc, test_free_sized_valid);
    tcase_add_test(tc, test_free_sized_wrong_size);
    suite_add_tcase(s, tc);
    return test_run_suite_forked(s); /* default settings and empty caches per test */
}
