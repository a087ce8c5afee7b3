/* check_api.c - the single-threaded contracts of the hak_* allocation API:
 * glibc-compatible edge cases, errno values, size classes and internal
 * waste, alignment, calloc zeroing and realloc across every path.
 *
 * Built twice: check_api against libhakmem.so.1 (HK_HARDENED 0) and
 * check_api_hardened against libhakmem-hardened.so.1 (HK_HARDENED 1).
 * The contract is the same; only the tests of the default library's size
 * classes are left out of the hardened run. */
#include "config.h"

#include <pthread.h>

#include "../test_check.h"

#ifndef HK_HARDENED
#error "HK_HARDENED must be defined by tests/unit/local.mk"
#endif

/* ---- version ----------------------------------------------------------- */

START_TEST(test_version)
{
    char want[32];
    ck_assert_uint_eq(hak_version(), HAKMEM_VERSION);
    snprintf(want, sizeof want, "%d.%d.%d", HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR,
             HAKMEM_VERSION_PATCH);
    ck_assert_ptr_nonnull(hak_version_string());
    ck_assert_str_eq(hak_version_string(), want);
    /* the header and the package must not drift apart */
    ck_assert_str_eq(hak_version_string(), PACKAGE_VERSION);
}
END_TEST

/* ---- malloc / free edge cases ------------------------------------------ */

START_TEST(test_malloc_zero_unique)
{
    enum { N = 1000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(test_opaque(0));
        TEST_REQUIRE(p[i] != NULL, "hak_malloc(0) #%d returned NULL", i);
        TEST_REQUIRE(test_aligned(p[i], TEST_MIN_ALIGN), "hak_malloc(0) misaligned %p", p[i]);
    }
    /* unique: no two live zero-size blocks share an address */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            TEST_REQUIRE(p[i] != p[j], "hak_malloc(0) returned %p twice", p[i]);
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_free_null_usable_null)
{
    hak_free(NULL);
    ck_assert_uint_eq(hak_usable_size(NULL), 0);
    hak_free(NULL);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_huge_malloc_enomem)
{
    const size_t huge[] = {
        SIZE_MAX,     SIZE_MAX - 1,     SIZE_MAX - 15,   SIZE_MAX - 4095, SIZE_MAX - (2 * TEST_MiB),
        SIZE_MAX / 2, SIZE_MAX / 2 + 1, (size_t)1 << 62, (size_t)1 << 56,
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        void *p = hak_malloc(test_opaque(huge[i]));
        int err = errno; /* before a check call can change it */
        ck_assert_msg(p == NULL, "hak_malloc(%zu) returned %p", huge[i], p);
        ck_assert_msg(err == ENOMEM, "hak_malloc(%zu): errno %d, want ENOMEM", huge[i], err);
        errno = 0;
        p = hak_calloc(1, test_opaque(huge[i]));
        err = errno;
        ck_assert_msg(p == NULL && err == ENOMEM, "hak_calloc(1, %zu): %p errno %d", huge[i], p,
                      err);
    }
    /* the allocator still works afterwards */
    void *p = hak_malloc(100);
    ck_assert_ptr_nonnull(p);
    hak_free(p);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_calloc_overflow)
{
    const size_t pairs[][2] = {
        {SIZE_MAX / 2, 3},           {3, SIZE_MAX / 2},     {(size_t)1 << 33, (size_t)1 << 33},
        {SIZE_MAX, SIZE_MAX},        {2, SIZE_MAX / 2 + 1}, {SIZE_MAX / 16 + 1, 16},
        {65537, 281479271743489ULL}, /* product is 2^64 + 1: wraps to 1 */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        errno = 0;
        void *p = hak_calloc(test_opaque(pairs[i][0]), test_opaque(pairs[i][1]));
        int err = errno;
        ck_assert_msg(p == NULL, "hak_calloc(%zu, %zu) returned %p", pairs[i][0], pairs[i][1], p);
        ck_assert_msg(err == ENOMEM, "hak_calloc(%zu, %zu): errno %d", pairs[i][0], pairs[i][1],
                      err);
    }
}
END_TEST

START_TEST(test_calloc_zero_count)
{
    void *a = hak_calloc(0, test_opaque(16));
    void *b = hak_calloc(test_opaque(16), 0);
    void *c = hak_calloc(0, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(a, b);
    ck_assert_ptr_ne(b, c);
    ck_assert_ptr_ne(a, c);
    hak_free(a);
    hak_free(b);
    hak_free(c);
}
END_TEST

static void check_zero(const void *p, size_t n, const char *what, size_t size)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        TEST_REQUIRE(b[i] == 0, "%s(%zu): byte %zu is 0x%02x, not 0", what, size, i, b[i]);
}

/* Blocks handed out again after being dirtied must still come back zeroed
 * from calloc: small classes, the largest classes, and the large path. */
START_TEST(test_calloc_zero_after_reuse)
{
    /* clang-format off */
    const size_t sizes[] = {
        1, 16, 17, 100, 128, 129, 1000, 4096, 5000, 65536, 100000,
        256 * TEST_KiB + 1, 1000 * TEST_KiB, TEST_MiB, TEST_MiB + 1, 3 * TEST_MiB + 5,
    };
    /* clang-format on */
    enum { N = 24 };
    void *p[N];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < N; i++) {
                p[i] = hak_malloc(n);
                ck_assert_ptr_nonnull(p[i]);
                memset(p[i], 0xA5, hak_usable_size(p[i]));
            }
            for (int i = 0; i < N; i++)
                hak_free(p[i]);
            for (int i = 0; i < N; i++) {
                /* as n elements of 1 byte and as 1 element of n bytes */
                p[i] = (i & 1) ? hak_calloc(n, 1) : hak_calloc(1, n);
                ck_assert_ptr_nonnull(p[i]);
                ck_assert_msg(test_aligned(p[i], TEST_MIN_ALIGN), "calloc(%zu) misaligned", n);
                check_zero(p[i], n, "hak_calloc", n);
                memset(p[i], 0x5A, n);
            }
            for (int i = 0; i < N; i++)
                hak_free(p[i]);
        }
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* Whole SuperSlabs given back to the cache and handed out again must not be
 * assumed fresh (zero) by calloc. */
START_TEST(test_calloc_zero_cached_superslabs)
{
    enum { N = 96 };
    static void *p[N];
    const size_t sizes[] = {200 * TEST_KiB, 48 * TEST_KiB, 3000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        for (int i = 0; i < N; i++) {
            p[i] = hak_malloc(n);
            ck_assert_ptr_nonnull(p[i]);
            memset(p[i], 0xFF, n);
        }
        for (int i = N - 1; i >= 0; i--)
            hak_free(p[i]);
        for (int i = 0; i < N; i++) {
            p[i] = hak_calloc(n / 8, 8);
            ck_assert_ptr_nonnull(p[i]);
            check_zero(p[i], n, "hak_calloc(n/8,8) n", n);
        }
        for (int i = 0; i < N; i++)
            hak_free(p[i]);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- size classes and waste -------------------------------------------- */

static void check_block(void *p, size_t n, const char *what)
{
    TEST_REQUIRE(p != NULL, "%s(%zu) returned NULL", what, n);
    TEST_REQUIRE(test_aligned(p, TEST_MIN_ALIGN), "%s(%zu) = %p is not 16-aligned", what, n, p);
    size_t u = hak_usable_size(p);
    TEST_REQUIRE(u >= n, "%s(%zu): usable size %zu is smaller", what, n, u);
    TEST_REQUIRE(u <= n + n / 4 + 16, "%s(%zu): usable size %zu wastes more than 25%%+16", what, n,
                 u);
    /* every usable byte is writable: the last one too (a zero-size block
     * may have none: the hardened library's cannot be read or written) */
    memset(p, (int)(n & 0xff), u);
    unsigned char *b = p;
    TEST_REQUIRE(u == 0 || (b[0] == (unsigned char)n && b[u - 1] == (unsigned char)n),
                 "%s(%zu): memory does not hold what was written", what, n);
}

START_TEST(test_every_size_to_64k)
{
    for (size_t n = 0; n <= 65536; n++) {
        void *p = hak_malloc(n);
        check_block(p, n, "hak_malloc");
        hak_free(p);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* The same sweep with every block kept: catches blocks of different sizes
 * handed out over each other, which a malloc/free pair per size cannot. */
START_TEST(test_every_size_live)
{
    enum { MAXN = 8192 };
    static void *p[MAXN + 1];
    for (size_t n = 0; n <= MAXN; n++) {
        p[n] = hak_malloc(n);
        TEST_REQUIRE(p[n] != NULL, "hak_malloc(%zu) returned NULL", n);
        test_fill(p[n], n, n);
    }
    for (size_t n = 0; n <= MAXN; n++) {
        size_t bad = test_verify(p[n], n, n);
        TEST_REQUIRE(bad == SIZE_MAX, "block of %zu at %p: byte %zu overwritten", n, p[n], bad);
    }
    for (size_t n = 0; n <= MAXN; n += 2)
        hak_free(p[n]);
    for (size_t n = 1; n <= MAXN; n += 2) {
        size_t bad = test_verify(p[n], n, n);
        TEST_REQUIRE(bad == SIZE_MAX, "block of %zu at %p: byte %zu changed by freeing others", n,
                     p[n], bad);
        hak_free(p[n]);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* The usable size is exactly the class the specification gives. */
START_TEST(test_usable_is_class_size)
{
    uint64_t cls[HAK_STATS_MAX_CLASSES];
    unsigned nc = test_class_table(cls, HAK_STATS_MAX_CLASSES);
    ck_assert_uint_eq(nc, 60);
    ck_assert_uint_eq(cls[nc - 1], TEST_MAX_SMALL);
    size_t prev = 0;
    for (unsigned k = 0; k < nc; k++) {
        size_t c = cls[k];
        const size_t probes[] = {prev + 1, (prev + c) / 2 + 1, c - 1, c};
        for (unsigned j = 0; j < 4; j++) {
            size_t n = probes[j];
            if (n <= prev || n > c)
                continue;
            void *q = hak_malloc(n);
            ck_assert_ptr_nonnull(q);
            ck_assert_msg(hak_usable_size(q) == c,
                          "hak_malloc(%zu): usable %zu, class should be %zu", n, hak_usable_size(q),
                          c);
            hak_free(q);
        }
        prev = c;
    }
}
END_TEST

START_TEST(test_large_blocks)
{
    const size_t sizes[] = {
        TEST_MiB + 1,     TEST_MiB + 4096,    3 * TEST_MiB / 2, 2 * TEST_MiB,
        2 * TEST_MiB + 1, 3 * TEST_MiB + 123, 17 * TEST_MiB,    64 * TEST_MiB + 7,
    };
    void *p[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p[i] = hak_malloc(sizes[i]);
        check_block(p[i], sizes[i], "hak_malloc");
        test_fill(p[i], sizes[i], i);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t bad = test_verify(p[i], sizes[i], i);
        ck_assert_msg(bad == SIZE_MAX, "large block %zu: byte %zu changed", sizes[i], bad);
        hak_free(p[i]);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

struct span {
    uintptr_t lo, hi;
    size_t idx;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Many live blocks of mixed sizes: their usable ranges never overlap and
 * each keeps its own contents. */
START_TEST(test_live_blocks_disjoint)
{
    enum { N = 40000 };
    static void *p[N];
    static size_t sz[N];
    static struct span sp[N];
    uint64_t rng = test_seed(42);
    for (size_t i = 0; i < N; i++) {
        uint64_t r = test_rand(&rng);
        size_t n;
        switch (r % 16) {
        case 0: n = (size_t)(r >> 8) % 65536; break;
        case 1: n = (size_t)(r >> 8) % (TEST_MiB + 1); break;
        default: n = (size_t)(r >> 8) % 512; break;
        }
        if (i % 5000 == 0)
            n = TEST_MiB + (size_t)(r >> 8) % TEST_MiB; /* a few large ones */
        p[i] = hak_malloc(n);
        TEST_REQUIRE(p[i] != NULL, "hak_malloc(%zu) NULL", n);
        TEST_REQUIRE(test_aligned(p[i], TEST_MIN_ALIGN), "misaligned %p", p[i]);
        sz[i] = n;
        size_t fill = n < 64 ? n : 64; /* head and tail are enough here */
        test_fill(p[i], fill, i);
        if (n >= 128)
            test_fill((char *)p[i] + n - 64, 64, ~(uint64_t)i);
        sp[i].lo = (uintptr_t)p[i];
        sp[i].hi = sp[i].lo + hak_usable_size(p[i]);
        sp[i].idx = i;
    }
    qsort(sp, N, sizeof sp[0], span_cmp);
    for (size_t i = 1; i < N; i++)
        TEST_REQUIRE(sp[i].lo >= sp[i - 1].hi,
                     "blocks overlap: [%#lx,%#lx) size %zu and [%#lx,%#lx) size %zu",
                     (unsigned long)sp[i - 1].lo, (unsigned long)sp[i - 1].hi, sz[sp[i - 1].idx],
                     (unsigned long)sp[i].lo, (unsigned long)sp[i].hi, sz[sp[i].idx]);
    for (size_t i = 0; i < N; i++) {
        size_t n = sz[i], fill = n < 64 ? n : 64;
        TEST_REQUIRE(test_verify(p[i], fill, i) == SIZE_MAX, "block %zu head changed", i);
        if (n >= 128)
            TEST_REQUIRE(test_verify((char *)p[i] + n - 64, 64, ~(uint64_t)i) == SIZE_MAX,
                         "block %zu tail changed", i);
    }
    ck_assert_int_eq(hak_check(), 0);
    /* free in a scrambled order */
    for (size_t i = 0; i < N; i++)
        hak_free(p[sp[i].idx]);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- realloc ----------------------------------------------------------- */

START_TEST(test_realloc_null_is_malloc)
{
    void *p = hak_realloc(NULL, 100);
    check_block(p, 100, "hak_realloc(NULL)");
    hak_free(p);
    p = hak_realloc(NULL, 0);
    ck_assert_ptr_nonnull(p);
    hak_free(p);
    p = hak_realloc(NULL, 5 * TEST_MiB);
    check_block(p, 5 * TEST_MiB, "hak_realloc(NULL)");
    hak_free(p);
}
END_TEST

START_TEST(test_realloc_zero_frees)
{
    const size_t sizes[] = {1, 100, 5000, 300 * TEST_KiB, 2 * TEST_MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = hak_malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        void *q = hak_realloc(p, test_opaque(0));
        ck_assert_msg(q == NULL, "hak_realloc(p of %zu, 0) returned %p, want NULL (glibc)",
                      sizes[i], q);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_realloc_failure_keeps_block)
{
    const size_t sizes[] = {100, 70000, 3 * TEST_MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = hak_malloc(n);
        ck_assert_ptr_nonnull(p);
        test_fill(p, n, 7 + i);
        errno = 0;
        void *q = hak_realloc(p, test_opaque(SIZE_MAX / 2));
        int err = errno;
        ck_assert_msg(q == NULL && err == ENOMEM, "realloc to SIZE_MAX/2: %p errno %d", q, err);
        errno = 0;
        q = hak_realloc(p, test_opaque(SIZE_MAX - 8));
        err = errno;
        ck_assert_msg(q == NULL && err == ENOMEM, "realloc to SIZE_MAX-8: %p errno %d", q, err);
        ck_assert_msg(test_verify(p, n, 7 + i) == SIZE_MAX,
                      "failed realloc changed the block of %zu", n);
        ck_assert_uint_ge(hak_usable_size(p), n);
        hak_free(p);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* Grows one block through every class boundary and into the large path,
 * then shrinks it back, checking the surviving prefix every step. */
START_TEST(test_realloc_ladder)
{
    uint64_t cls[HAK_STATS_MAX_CLASSES];
    unsigned nc = test_class_table(cls, HAK_STATS_MAX_CLASSES);
    size_t steps[3 * HAK_STATS_MAX_CLASSES + 16];
    unsigned ns = 0;
    for (unsigned k = 0; k < nc; k++) {
        steps[ns++] = cls[k] - 1;
        steps[ns++] = cls[k];
        steps[ns++] = cls[k] + 1;
    }
    steps[ns++] = 3 * TEST_MiB / 2;
    steps[ns++] = 2 * TEST_MiB + 77;
    steps[ns++] = 5 * TEST_MiB;
    steps[ns++] = 9 * TEST_MiB + 4095;

    char *p = hak_realloc(NULL, 1);
    ck_assert_ptr_nonnull(p);
    p[0] = (char)test_byte(99, 0);
    size_t have = 1;
    for (unsigned i = 0; i < ns; i++) {
        size_t n = steps[i];
        p = hak_realloc(p, n);
        TEST_REQUIRE(p != NULL, "realloc up to %zu failed", n);
        TEST_REQUIRE(test_aligned(p, TEST_MIN_ALIGN), "realloc to %zu misaligned", n);
        TEST_REQUIRE(hak_usable_size(p) >= n, "realloc to %zu: usable %zu", n, hak_usable_size(p));
        size_t bad = test_verify(p, have, 99);
        TEST_REQUIRE(bad == SIZE_MAX, "growing %zu -> %zu lost byte %zu", have, n, bad);
        for (size_t j = have; j < n; j++)
            p[j] = (char)test_byte(99, j);
        have = n;
    }
    for (int i = (int)ns - 2; i >= 0; i--) {
        size_t n = steps[i];
        p = hak_realloc(p, n);
        TEST_REQUIRE(p != NULL, "realloc down to %zu failed", n);
        TEST_REQUIRE(test_aligned(p, TEST_MIN_ALIGN), "realloc to %zu misaligned", n);
        TEST_REQUIRE(hak_usable_size(p) >= n, "realloc to %zu: usable %zu", n, hak_usable_size(p));
        size_t bad = test_verify(p, n, 99);
        TEST_REQUIRE(bad == SIZE_MAX, "shrinking to %zu lost byte %zu", n, bad);
    }
    hak_free(p);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* Large blocks grow (mremap) and shrink while other large blocks sit around
 * them, so the mapping cannot always grow in place. */
START_TEST(test_realloc_large_mremap)
{
    void *fence[4];
    for (int i = 0; i < 4; i++) {
        fence[i] = hak_malloc(2 * TEST_MiB);
        ck_assert_ptr_nonnull(fence[i]);
        test_fill(fence[i], 2 * TEST_MiB, 1000 + (uint64_t)i);
    }
    size_t have = 2 * TEST_MiB;
    char *p = hak_malloc(have);
    ck_assert_ptr_nonnull(p);
    test_fill(p, have, 5);
    for (size_t n = 3 * TEST_MiB + 100; n <= 48 * TEST_MiB; n = n * 3 / 2 + 4097) {
        char *q = hak_realloc(p, n);
        ck_assert_msg(q != NULL, "realloc large %zu -> %zu failed", have, n);
        ck_assert_msg(test_aligned(q, TEST_MIN_ALIGN), "realloc large misaligned");
        ck_assert_uint_ge(hak_usable_size(q), n);
        size_t bad = test_verify(q, have, 5);
        ck_assert_msg(bad == SIZE_MAX, "large growth %zu -> %zu lost byte %zu", have, n, bad);
        for (size_t j = have; j < n; j++)
            q[j] = (char)test_byte(5, j);
        p = q;
        have = n;
    }
    /* shrink inside the large path, then back to a size class */
    const size_t down[] = {20 * TEST_MiB, 1100 * TEST_KiB, TEST_MiB, 1000, 17};
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++) {
        p = hak_realloc(p, down[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_ge(hak_usable_size(p), down[i]);
        size_t bad = test_verify(p, down[i], 5);
        ck_assert_msg(bad == SIZE_MAX, "large shrink to %zu lost byte %zu", down[i], bad);
    }
    hak_free(p);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(test_verify(fence[i], 2 * TEST_MiB, 1000 + (uint64_t)i) == SIZE_MAX,
                      "a neighbouring large block was damaged by realloc");
        hak_free(fence[i]);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* Same-size and in-class realloc keep the contents too. */
START_TEST(test_realloc_same_size)
{
    const size_t sizes[] = {0, 1, 48, 1000, 70000, TEST_MiB, 4 * TEST_MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *p = hak_malloc(n);
        ck_assert_ptr_nonnull(p);
        test_fill(p, n, i);
        for (int r = n == 0; r < 4; r++) { /* realloc(p, 0) would free p */
            p = hak_realloc(p, n + (size_t)r);
            ck_assert_ptr_nonnull(p);
            ck_assert_msg(test_verify(p, n, i) == SIZE_MAX, "realloc %zu -> %zu changed data", n,
                          n + (size_t)r);
        }
        hak_free(p);
    }
}
END_TEST

/* Small blocks: realloc keeps the block while the new size fits its class
 * and over 3/8 of it stays in use (halving a block keeps it), and moves
 * to the smaller class when it shrinks to a quarter. */
START_TEST(test_realloc_in_place_policy)
{
    uint64_t cls[HAK_STATS_MAX_CLASSES];
    unsigned nc = test_class_table(cls, HAK_STATS_MAX_CLASSES);
    for (unsigned k = 0; k < nc; k++) {
        size_t u = cls[k];
        if (u <= 64)
            continue; /* tiny blocks never move when they shrink */
        char *p = hak_malloc(u - 1);
        ck_assert_ptr_nonnull(p);
        TEST_REQUIRE(hak_usable_size(p) == u, "malloc(%zu): usable %zu, want %zu", u - 1,
                     hak_usable_size(p), u);
        test_fill(p, u - 1, k);
        char *q = hak_realloc(p, u);
        TEST_REQUIRE(q == p, "realloc %zu -> %zu (same class) moved the block", u - 1, u);
        q = hak_realloc(p, u / 2);
        TEST_REQUIRE(q == p, "realloc %zu -> %zu (half) moved the block", u, u / 2);
        TEST_REQUIRE(hak_usable_size(q) == u, "block kept by realloc to %zu: usable %zu", u / 2,
                     hak_usable_size(q));
        q = hak_realloc(p, u / 4);
        TEST_REQUIRE(q != NULL && q != p, "realloc %zu -> %zu (a quarter) kept the block", u,
                     u / 4);
        TEST_REQUIRE(hak_usable_size(q) == test_class_size(u / 4),
                     "realloc to %zu: usable %zu, want %zu", u / 4, hak_usable_size(q),
                     test_class_size(u / 4));
        size_t bad = test_verify(q, u / 4, k);
        TEST_REQUIRE(bad == SIZE_MAX, "realloc %zu -> %zu lost byte %zu", u, u / 4, bad);
        hak_free(q);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* A large block whose mapping the program split (by changing the
 * attributes of part of it) grows from 4 to 16 MiB, where it is or, with
 * the pages after it taken, by a copy (mremap cannot move several
 * mappings and resize them at once); it keeps its contents, shrinks, and
 * is freed.  Large blocks allocated afterwards, which may reuse its
 * mapping, are writable throughout. */
START_TEST(test_realloc_split_mapping)
{
    const enum test_split k = (enum test_split)(_i / 2);
    const int blocked = _i % 2;
    const size_t n = 4 * TEST_MiB, grown = 16 * TEST_MiB;
    char *p = hak_malloc(n);
    ck_assert_ptr_nonnull(p);
    test_fill(p, n, 40 + (uint64_t)_i);
    int err = test_split_mapping(p + TEST_MiB, TEST_MiB, k);
    if (err != 0) {
        fprintf(stderr, "%s refused (%s): that split is not tested\n", test_split_name[k],
                strerror(err));
        hak_free(p);
        return;
    }
    void *blocker = blocked ? test_block_after(p + hak_usable_size(p)) : NULL;
    errno = 4242;
    char *q = hak_realloc(p, test_opaque(grown));
    err = errno;
    ck_assert_msg(q != NULL, "after %s, realloc 4 -> 16 MiB%s failed (errno %d)",
                  test_split_name[k], blocked ? " with the pages after it taken" : "", err);
    ck_assert_msg(err == 4242, "after %s, realloc 4 -> 16 MiB set errno to %d", test_split_name[k],
                  err);
    size_t bad = test_verify(q, n, 40 + (uint64_t)_i);
    ck_assert_msg(bad == SIZE_MAX, "after %s, realloc 4 -> 16 MiB lost byte %zu",
                  test_split_name[k], bad);
    ck_assert_uint_ge(hak_usable_size(q), grown);
    memset(q + n, 0x5a, grown - n); /* a part made read-only may have stayed */
    if (blocker != NULL) {
        ck_assert_msg(test_page_mapped(blocker), "the page after the block was unmapped");
        munmap(blocker, 4096);
    }
    const size_t down[] = {2 * TEST_MiB, 100 * TEST_KiB};
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++) {
        q = hak_realloc(q, down[i]);
        ck_assert_msg(q != NULL, "after %s, realloc down to %zu failed", test_split_name[k],
                      down[i]);
        bad = test_verify(q, down[i] < n ? down[i] : n, 40 + (uint64_t)_i);
        ck_assert_msg(bad == SIZE_MAX, "after %s, realloc down to %zu lost byte %zu",
                      test_split_name[k], down[i], bad);
    }
    hak_free(q);
    const size_t again[] = {2 * TEST_MiB, 4 * TEST_MiB, grown, 40 * TEST_MiB};
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        char *r = hak_malloc(again[i]);
        ck_assert_ptr_nonnull(r);
        memset(r, 0x6b, hak_usable_size(r));
        hak_free(r);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* Runs fn in a child whose address space is capped at what it uses now,
 * so that no new mapping can be had; fn reports failure on stderr and
 * exits non-zero. */
static void run_without_memory(void (*fn)(void *), void *arg)
{
    struct test_child ch;
    test_run_child(fn, arg, &ch);
    ck_assert_msg(WIFEXITED(ch.status) && WEXITSTATUS(ch.status) == 0,
                  "child failed (status %#x): %s", (unsigned)ch.status, ch.err);
}

static void cap_address_space(void)
{
    size_t mapped = test_address_space_bytes();
    if (mapped == 0) {
        fprintf(stderr, "cannot read /proc/self/statm\n");
        _exit(1);
    }
    struct rlimit rl = {mapped, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        fprintf(stderr, "setrlimit: %s\n", strerror(errno));
        _exit(1);
    }
}

/* Allocates blocks of n bytes until none can be had; returns them chained
 * through their first word, for free_chain. */
static void *exhaust(size_t n)
{
    void *chain = NULL, *b;
    while ((b = hak_malloc(n)) != NULL) {
        *(void **)b = chain;
        chain = b;
    }
    return chain;
}

static void free_chain(void *chain)
{
    while (chain != NULL) {
        void *next = *(void **)chain;
        hak_free(chain);
        chain = next;
    }
}

#define CHILD_FAIL(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        _exit(1);                                                                                  \
    } while (0)

static int oom_handler_calls;

static int count_oom_handler_calls(size_t size, void *arg)
{
    (void)size;
    (void)arg;
    oom_handler_calls++;
    return 0;
}

/* The child: a block of from bytes shrinks to to bytes, a size realloc
 * moves to a smaller block, when no such block can be had: glibc keeps
 * the block and errno, and so does hakmem, without calling the
 * out-of-memory handler (nothing fails). */
static void shrink_without_memory(void *arg)
{
    const size_t *sizes = arg, from = sizes[0], to = sizes[1];
    char *p = hak_malloc(from);
    if (p == NULL)
        CHILD_FAIL("hak_malloc(%zu) failed\n", from);
    test_fill(p, from, 77);
    cap_address_space();
    void *held = exhaust(to);
    hak_set_oom_handler(count_oom_handler_calls, NULL, NULL);
    oom_handler_calls = 0;
    errno = 4242;
    char *q = hak_realloc(p, test_opaque(to));
    int err = errno;
    if (oom_handler_calls != 0)
        CHILD_FAIL("realloc %zu -> %zu without memory called the out-of-memory handler\n", from,
                   to);
    if (q != p)
        CHILD_FAIL("realloc %zu -> %zu without memory returned %p, not the block %p (errno %d)\n",
                   from, to, (void *)q, (void *)p, err);
    if (err != 4242)
        CHILD_FAIL("realloc %zu -> %zu without memory set errno to %d\n", from, to, err);
    if (hak_usable_size(q) < to || test_verify(q, to, 77) != SIZE_MAX)
        CHILD_FAIL("realloc %zu -> %zu without memory damaged the block\n", from, to);
    /* growing back needs memory when the block shrank in place */
    errno = 0;
    char *r = hak_realloc(q, test_opaque(from + 256 * TEST_MiB));
    if (r != NULL || errno != ENOMEM)
        CHILD_FAIL("realloc growth without memory: %p errno %d\n", (void *)r, errno);
    hak_free(q);
    free_chain(held);
    if (hak_check() != 0)
        CHILD_FAIL("hak_check failed\n");
}

START_TEST(test_realloc_shrink_without_memory)
{
    /* a small block below 3/8 of its size; a large block to a size class */
    static const size_t cases[][2] = {{256 * TEST_KiB, 1000},
                                      {200 * TEST_KiB, 100},
                                      {4 * TEST_MiB, 500 * TEST_KiB},
                                      {3 * TEST_MiB, 24}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_without_memory(shrink_without_memory, (void *)cases[i]);
}
END_TEST

/* Successful calls leave errno as it was, as glibc's do; errno is set only
 * by a call that fails.  Every path: small and large, a large realloc in
 * place, moved (the pages after it taken: the in-place attempt fails
 * first), copied (its mapping split), shrunk in place and to a small
 * block, blocks from the cache of large mappings, a thread's first call. */
static void *first_call_keeps_errno(void *arg)
{
    (void)arg;
    void *p;
    TEST_KEEPS_ERRNO(p = hak_malloc(100));
    TEST_KEEPS_ERRNO(hak_free(p));
    TEST_KEEPS_ERRNO(p = hak_calloc(10, 300000));
    TEST_KEEPS_ERRNO(hak_free(p));
    return NULL;
}

START_TEST(test_success_keeps_errno)
{
    const size_t sizes[] = {0, 24, 1000, 70000, TEST_MiB, 3 * TEST_MiB};
    void *p, *q;
    int rc;
    size_t u;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = test_opaque(sizes[i]);
        TEST_KEEPS_ERRNO(p = hak_malloc(n));
        ck_assert_ptr_nonnull(p);
        TEST_KEEPS_ERRNO(u = hak_usable_size(p));
        ck_assert_uint_ge(u, n);
        TEST_KEEPS_ERRNO(hak_free(p));
        TEST_KEEPS_ERRNO(p = hak_calloc(n, 1));
        ck_assert_ptr_nonnull(p);
        TEST_KEEPS_ERRNO(hak_free(p));
        TEST_KEEPS_ERRNO(p = hak_aligned_alloc(4096, n));
        ck_assert_ptr_nonnull(p);
        TEST_KEEPS_ERRNO(hak_free(p));
        TEST_KEEPS_ERRNO(p = hak_aligned_alloc(4 * TEST_MiB, n));
        ck_assert_ptr_nonnull(p);
        TEST_KEEPS_ERRNO(hak_free(p));
        TEST_KEEPS_ERRNO(rc = hak_posix_memalign(&p, 64, n));
        ck_assert_int_eq(rc, 0);
        TEST_KEEPS_ERRNO(hak_free(p));
    }
    TEST_KEEPS_ERRNO(hak_free(NULL));

    /* realloc along every path */
    TEST_KEEPS_ERRNO(p = hak_realloc(NULL, 100));
    TEST_KEEPS_ERRNO(p = hak_realloc(p, 5000));
    TEST_KEEPS_ERRNO(p = hak_realloc(p, 100));
    TEST_KEEPS_ERRNO(p = hak_realloc(p, 2 * TEST_MiB));
    TEST_KEEPS_ERRNO(p = hak_realloc(p, 2 * TEST_MiB + 100000));
    void *blocker = test_block_after((char *)p + hak_usable_size(p));
    TEST_KEEPS_ERRNO(q = hak_realloc(p, 9 * TEST_MiB)); /* moved */
    ck_assert_ptr_nonnull(q);
    if (blocker != NULL)
        munmap(blocker, 4096);
    ck_assert_int_eq(test_split_mapping((char *)q + TEST_MiB, TEST_MiB, TEST_SPLIT_DONTDUMP), 0);
    blocker = test_block_after((char *)q + hak_usable_size(q));
    TEST_KEEPS_ERRNO(p = hak_realloc(q, 20 * TEST_MiB)); /* copied */
    ck_assert_ptr_nonnull(p);
    if (blocker != NULL)
        munmap(blocker, 4096);
    TEST_KEEPS_ERRNO(p = hak_realloc(p, 5 * TEST_MiB));
    TEST_KEEPS_ERRNO(p = hak_realloc(p, 1000));
    TEST_KEEPS_ERRNO(p = hak_realloc(p, 0));

    /* the cache of freed large mappings: reused whole, and assembled */
    void *big[3];
    for (int i = 0; i < 3; i++)
        TEST_KEEPS_ERRNO(big[i] = hak_malloc((size_t)(3 + i) * TEST_MiB));
    for (int i = 0; i < 3; i++)
        TEST_KEEPS_ERRNO(hak_free(big[i]));
    TEST_KEEPS_ERRNO(p = hak_malloc(4 * TEST_MiB));
    TEST_KEEPS_ERRNO(q = hak_malloc(6 * TEST_MiB));
    TEST_KEEPS_ERRNO(hak_free(p));
    TEST_KEEPS_ERRNO(hak_free(q));

    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, first_call_keeps_errno, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);

    struct hak_stats st;
    TEST_KEEPS_ERRNO(rc = hak_stats(&st, sizeof st));
    TEST_KEEPS_ERRNO(rc = hak_check());
    TEST_KEEPS_ERRNO(u = hak_trim());
    TEST_KEEPS_ERRNO(u = hak_version());
    TEST_ASSERT_ERRNO_KEPT();
}
END_TEST

/* ---- alignment --------------------------------------------------------- */

static void aligned_sizes(size_t a, size_t *out, unsigned *n)
{
    unsigned k = 0;
    out[k++] = 1;
    out[k++] = 8;
    out[k++] = 100;
    out[k++] = a;
    out[k++] = a + 1;
    if (a > 1) {
        out[k++] = a / 2;
        out[k++] = a - 1;
        out[k++] = a + a / 2;
    }
    out[k++] = 3 * a + 5;
    out[k++] = TEST_MiB + 1;
    *n = k;
}

static void check_aligned_block(void *p, size_t a, size_t n, const char *what)
{
    size_t want = a < TEST_MIN_ALIGN ? TEST_MIN_ALIGN : a;
    ck_assert_msg(p != NULL, "%s(%zu, %zu) returned NULL", what, a, n);
    ck_assert_msg(test_aligned(p, want), "%s(%zu, %zu) = %p not aligned to %zu", what, a, n, p,
                  want);
    size_t u = hak_usable_size(p);
    ck_assert_msg(u >= n, "%s(%zu, %zu): usable %zu", what, a, n, u);
    memset(p, 0x3C, u);
}

START_TEST(test_aligned_alloc_all_powers)
{
    for (size_t a = 1; a <= 32 * TEST_MiB; a *= 2) {
        size_t sizes[16];
        unsigned ns;
        aligned_sizes(a, sizes, &ns);
        void *keep[16];
        for (unsigned i = 0; i < ns; i++) {
            keep[i] = hak_aligned_alloc(a, sizes[i]);
            check_aligned_block(keep[i], a, sizes[i], "hak_aligned_alloc");
            test_fill(keep[i], sizes[i] < 256 ? sizes[i] : 256, a + i);
        }
        for (unsigned i = 0; i < ns; i++) {
            size_t n = sizes[i] < 256 ? sizes[i] : 256;
            ck_assert_msg(test_verify(keep[i], n, a + i) == SIZE_MAX,
                          "aligned block (%zu, %zu) overwritten", a, sizes[i]);
            hak_free(keep[i]);
        }
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_posix_memalign_all_powers)
{
    for (size_t a = sizeof(void *); a <= 32 * TEST_MiB; a *= 2) {
        size_t sizes[16];
        unsigned ns;
        aligned_sizes(a, sizes, &ns);
        for (unsigned i = 0; i < ns; i++) {
            void *p = NULL;
            errno = 4242;
            int rc = hak_posix_memalign(&p, a, sizes[i]);
            int err = errno;
            ck_assert_msg(rc == 0, "hak_posix_memalign(%zu, %zu) = %d", a, sizes[i], rc);
            ck_assert_int_eq(err, 4242);
            check_aligned_block(p, a, sizes[i], "hak_posix_memalign");
            hak_free(p);
        }
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* Many strongly aligned blocks alive at once stay disjoint. */
START_TEST(test_aligned_many_live)
{
    enum { N = 40 };
    const size_t aligns[] = {64, 4096, 65536, 2 * TEST_MiB};
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        size_t a = aligns[k];
        void *p[N];
        for (int i = 0; i < N; i++) {
            size_t n = 1 + (size_t)i * 997;
            p[i] = hak_aligned_alloc(a, n);
            check_aligned_block(p[i], a, n, "hak_aligned_alloc");
            test_fill(p[i], n, (uint64_t)(k * N + (size_t)i));
        }
        for (int i = 0; i < N; i++) {
            size_t n = 1 + (size_t)i * 997;
            ck_assert_msg(test_verify(p[i], n, (uint64_t)(k * N + (size_t)i)) == SIZE_MAX,
                          "aligned(%zu) block %d overwritten", a, i);
        }
        for (int i = 0; i < N; i++)
            hak_free(p[i]);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

START_TEST(test_aligned_realloc_keeps_data)
{
    void *p = hak_aligned_alloc(4096, 3000);
    ck_assert_ptr_nonnull(p);
    test_fill(p, 3000, 11);
    p = hak_realloc(p, 9000);
    ck_assert_ptr_nonnull(p);
    ck_assert(test_aligned(p, TEST_MIN_ALIGN));
    ck_assert_msg(test_verify(p, 3000, 11) == SIZE_MAX, "realloc of aligned block lost data");
    p = hak_realloc(p, 10);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(test_verify(p, 10, 11) == SIZE_MAX, "realloc of aligned block lost data");
    hak_free(p);
}
END_TEST

START_TEST(test_posix_memalign_einval)
{
    const size_t bad[] = {
        0, 1, 2, 4, 3, 12, 24, 48, sizeof(void *) + 1, 3 * TEST_MiB, 4097, SIZE_MAX, SIZE_MAX / 2,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = NULL;
        errno = 4242;
        int rc = hak_posix_memalign(&p, test_opaque(bad[i]), 64);
        int err = errno;
        ck_assert_msg(rc == EINVAL, "hak_posix_memalign(alignment %zu) = %d, want EINVAL", bad[i],
                      rc);
        ck_assert_msg(err == 4242, "hak_posix_memalign(alignment %zu) changed errno to %d", bad[i],
                      err);
    }
}
END_TEST

START_TEST(test_posix_memalign_enomem)
{
    const size_t a[] = {8, 64, 4096, 2 * TEST_MiB};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        void *p = NULL;
        errno = 4242;
        int rc = hak_posix_memalign(&p, a[i], test_opaque(SIZE_MAX / 2));
        int err = errno;
        ck_assert_msg(rc == ENOMEM, "hak_posix_memalign(%zu, SIZE_MAX/2) = %d", a[i], rc);
        ck_assert_int_eq(err, 4242);
        errno = 4242;
        rc = hak_posix_memalign(&p, a[i], test_opaque(SIZE_MAX - 4));
        err = errno;
        ck_assert_msg(rc == ENOMEM, "hak_posix_memalign(%zu, SIZE_MAX-4) = %d", a[i], rc);
        ck_assert_int_eq(err, 4242);
    }
}
END_TEST

START_TEST(test_aligned_alloc_einval)
{
    const size_t bad[] = {0, 3, 24, 48, 100, 3 * TEST_MiB, SIZE_MAX, SIZE_MAX / 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = hak_aligned_alloc(test_opaque(bad[i]), 64);
        int err = errno;
        ck_assert_msg(p == NULL, "hak_aligned_alloc(%zu, 64) returned %p", bad[i], p);
        ck_assert_msg(err == EINVAL, "hak_aligned_alloc(%zu, 64): errno %d, want EINVAL", bad[i],
                      err);
    }
    errno = 0;
    void *p = hak_aligned_alloc(64, test_opaque(SIZE_MAX / 2));
    int err = errno;
    ck_assert_msg(p == NULL && err == ENOMEM, "hak_aligned_alloc(64, SIZE_MAX/2): %p %d", p, err);
    errno = 0;
    p = hak_aligned_alloc(4096, test_opaque(SIZE_MAX - 100));
    err = errno;
    ck_assert_msg(p == NULL && err == ENOMEM, "hak_aligned_alloc(4096, SIZE_MAX-100): %p %d", p,
                  err);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create(HK_HARDENED ? "api (hardened)" : "api");

    TCase *tc = tcase_create("basic");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_malloc_zero_unique);
    tcase_add_test(tc, test_free_null_usable_null);
    tcase_add_test(tc, test_huge_malloc_enomem);
    tcase_add_test(tc, test_calloc_overflow);
    tcase_add_test(tc, test_calloc_zero_count);
    tcase_add_test(tc, test_calloc_zero_after_reuse);
    tcase_add_test(tc, test_calloc_zero_cached_superslabs);
    suite_add_tcase(s, tc);

    tc = tcase_create("sizes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_size_to_64k);
    tcase_add_test(tc, test_every_size_live);
    /* The hardened library's usable size is the size asked for, not the
     * class's (hakmem(7)): this tests the default library's classes. */
    if (!HK_HARDENED)
        tcase_add_test(tc, test_usable_is_class_size);
    tcase_add_test(tc, test_large_blocks);
    tcase_add_test(tc, test_live_blocks_disjoint);
    suite_add_tcase(s, tc);

    tc = tcase_create("realloc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_realloc_null_is_malloc);
    tcase_add_test(tc, test_realloc_zero_frees);
    tcase_add_test(tc, test_realloc_failure_keeps_block);
    tcase_add_test(tc, test_realloc_ladder);
    tcase_add_test(tc, test_realloc_large_mremap);
    tcase_add_test(tc, test_realloc_same_size);
    /* The hardened library's usable size is the size asked for: the
     * policy's usable-size steps are the default library's classes. */
    if (!HK_HARDENED)
        tcase_add_test(tc, test_realloc_in_place_policy);
    tcase_add_loop_test(tc, test_realloc_split_mapping, 0, 2 * TEST_SPLITS);
    tcase_add_test(tc, test_realloc_shrink_without_memory);
    tcase_add_test(tc, test_success_keeps_errno);
    suite_add_tcase(s, tc);

    tc = tcase_create("align");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_aligned_alloc_all_powers);
    tcase_add_test(tc, test_posix_memalign_all_powers);
    tcase_add_test(tc, test_aligned_many_live);
    tcase_add_test(tc, test_aligned_realloc_keeps_data);
    tcase_add_test(tc, test_posix_memalign_einval);
    tcase_add_test(tc, test_posix_memalign_enomem);
    tcase_add_test(tc, test_aligned_alloc_einval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(api_suite()); }
