/* check_large_cache.c - white-box test of the large-block cache, linked
 * with the library's internals: a request larger than every cached mapping
 * is assembled from them by moving their pages, each landing at its place
 * in the new block (on kernels that move several mappings at once), or
 * the largest is grown (os_pages_single_mapping_moves: as on older
 * kernels); an assembled block grows, shrinks and is freed like any other.
 * Each test runs in its own process, so each starts with an empty cache. */
#include "config.h"

#include "../test_check.h"

#include "os_pages.h"

#define PAGE ((size_t)4096)

/* True when [p, p+n) is resident and every byte is v. */
static bool all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    unsigned char vec[1];
    for (size_t off = 0; off < n; off += PAGE) {
        if (mincore((void *)(p + off), PAGE, vec) != 0 || !(vec[0] & 1))
            return false;
    }
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* p as the compiler cannot trace it to hak_malloc's size argument: the
 * usable size past it is the library's to promise, and _FORTIFY_SOURCE
 * would stop a memset there. */
static unsigned char *whole_block(void *p)
{
    void *volatile v = p;
    return v;
}

static uint64_t bytes_mapped(void)
{
    struct hak_stats st;
    ck_assert_int_eq(hak_stats(&st, sizeof st), 0);
    return st.bytes_mapped;
}

static const size_t piece_mib[3] = {6, 5, 4};
static const unsigned char piece_tag[3] = {'A', 'B', 'C'};

/* Three freed blocks, 6, 5 and 4 MiB: the cache holds their mappings, a
 * header page each before the block. */
static void cache_three_pieces(void)
{
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = hak_malloc(piece_mib[i] * TEST_MiB);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], piece_tag[i], piece_mib[i] * TEST_MiB);
    }
    for (int i = 0; i < 3; i++)
        hak_free(p[i]);
}

/* 14 MiB fits none of the three, so the largest two and then the 4 MiB
 * one (no cut: it is not twice what is missing) are moved side by side:
 * 6 MiB of 'A', the second header page, 5 MiB of 'B', the third header
 * page, 4 MiB of 'C', all still resident, and nothing new mapped. */
START_TEST(test_assemble_moves_pages)
{
    if (!os_moves_across_mappings()) {
        fprintf(stderr, "kernel moves one mapping per mremap: assembly not used\n");
        return;
    }
    cache_three_pieces();
    uint64_t before = bytes_mapped();
    unsigned char *q = whole_block(hak_malloc(14 * TEST_MiB));
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_le(bytes_mapped(), before);
    ck_assert_uint_eq(hak_usable_size(q), 15 * TEST_MiB + 2 * PAGE);
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(all_bytes(q + off, piece_mib[i] * TEST_MiB, piece_tag[i]),
                      "piece %d (%zu MiB of '%c') not resident at offset %zu", i, piece_mib[i],
                      piece_tag[i], off);
        off += piece_mib[i] * TEST_MiB + PAGE;
    }
    memset(q, 0x11, hak_usable_size(q));
    hak_free(q);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* A kernel that moves one mapping at a time: the largest piece is grown
 * (its pages move, the rest of the block is fresh); the others stay. */
START_TEST(test_single_mapping_kernel_grows_largest)
{
    os_pages_single_mapping_moves(true);
    cache_three_pieces();
    uint64_t before = bytes_mapped();
    unsigned char *q = hak_malloc(14 * TEST_MiB);
    ck_assert_ptr_nonnull(q);
    uint64_t grown = bytes_mapped() - before;
    ck_assert_msg(grown >= 8 * TEST_MiB - PAGE && grown <= 8 * TEST_MiB + PAGE,
                  "growing the 6 MiB piece to 14 MiB mapped %llu bytes", (unsigned long long)grown);
    ck_assert_msg(all_bytes(q, 6 * TEST_MiB, 'A'), "the grown piece's pages did not move along");
    memset(q, 0x22, 14 * TEST_MiB);
    hak_free(q);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* An assembled block cannot be moved and resized by one mremap: when the
 * pages after it are taken, realloc copies it, and keeps every byte. */
START_TEST(test_assembled_block_realloc)
{
    if (!os_moves_across_mappings())
        return;
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = hak_malloc((size_t)(3 + i) * TEST_MiB);
        ck_assert_ptr_nonnull(p[i]);
    }
    for (int i = 0; i < 3; i++)
        hak_free(p[i]);
    size_t n = 11 * TEST_MiB;
    char *q = hak_malloc(n);
    ck_assert_ptr_nonnull(q);
    test_fill(q, n, 9);
    /* Take the page right after the block's mapping, so it cannot grow
     * where it is. */
    char *end = q + hak_usable_size(q);
    void *blocker =
        mmap(end, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ck_assert_msg(blocker == end || (blocker == MAP_FAILED && errno == EEXIST),
                  "could not place a mapping after the block");
    const size_t sizes[] = {50 * TEST_MiB, 7 * TEST_MiB + 3, 2 * TEST_MiB, 100};
    size_t have = n;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *r = hak_realloc(q, sizes[i]);
        ck_assert_msg(r != NULL, "realloc %zu -> %zu failed", have, sizes[i]);
        ck_assert_uint_ge(hak_usable_size(r), sizes[i]);
        size_t keep = have < sizes[i] ? have : sizes[i];
        size_t bad = test_verify(r, keep, 9);
        ck_assert_msg(bad == SIZE_MAX, "realloc %zu -> %zu lost byte %zu", have, sizes[i], bad);
        for (size_t j = keep; j < sizes[i]; j++)
            r[j] = (char)test_byte(9, j);
        q = r;
        have = sizes[i];
    }
    hak_free(q);
    if (blocker == end)
        munmap(blocker, PAGE);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- moves that fail: the target may not be ours any more ------------- */

/* The page the failing-move hook mapped at the target the kernel had
 * unmapped, as another thread could have, and filled with 0x99. */
static unsigned char *taken_page;

static void take_target(void *target, size_t size)
{
    (void)size;
    void *m = mmap(target, PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ck_assert_msg(m == target, "cannot map a page at the unmapped target %p", target);
    memset(m, 0x99, PAGE);
    taken_page = m;
}

/* The page is still there, as its owner left it. */
static void check_taken_page(void)
{
    ck_assert_msg(taken_page != NULL, "no move was made to fail");
    ck_assert_msg(all_bytes(taken_page, PAGE, 0x99),
                  "hakmem unmapped or changed the target of a failed move at %p, which another "
                  "thread may have mapped since",
                  (void *)taken_page);
    munmap(taken_page, PAGE);
}

/* A large block that cannot grow in place is moved; when the move fails
 * (after the kernel unmapped the target, as before 6.17), realloc copies
 * the block and leaves the target alone. */
START_TEST(test_failed_move_realloc)
{
    const size_t n = 4 * TEST_MiB, grown = 16 * TEST_MiB;
    char *p = hak_malloc(n);
    ck_assert_ptr_nonnull(p);
    test_fill(p, n, 21);
    void *blocker = test_block_after(p + hak_usable_size(p));
    os_pages_fail_move_after(0, take_target);
    errno = 4242;
    char *q = hak_realloc(p, grown);
    int err = errno;
    ck_assert_msg(q != NULL, "realloc 4 -> 16 MiB failed after a failed move (errno %d)", err);
    ck_assert_int_eq(err, 4242);
    check_taken_page();
    size_t bad = test_verify(q, n, 21);
    ck_assert_msg(bad == SIZE_MAX, "realloc after a failed move lost byte %zu", bad);
    memset(whole_block(q), 0x31, hak_usable_size(q));
    hak_free(q);
    if (blocker != NULL)
        munmap(blocker, PAGE);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* A kernel that moves one mapping at a time: the largest cached mapping,
 * which cannot grow where it is, is moved to be grown; when the move
 * fails the allocation is served by a fresh mapping, and the target is
 * left alone. */
START_TEST(test_failed_move_cache_grow)
{
    os_pages_single_mapping_moves(true);
    void *p[3], *blocker = NULL;
    for (int i = 0; i < 3; i++) {
        p[i] = hak_malloc(piece_mib[i] * TEST_MiB);
        ck_assert_ptr_nonnull(p[i]);
    }
    blocker = test_block_after((char *)p[0] + hak_usable_size(p[0]));
    for (int i = 0; i < 3; i++)
        hak_free(p[i]);
    os_pages_fail_move_after(0, take_target);
    unsigned char *q = whole_block(hak_malloc(14 * TEST_MiB));
    ck_assert_ptr_nonnull(q);
    check_taken_page();
    memset(q, 0x32, hak_usable_size(q));
    hak_free(q);
    if (blocker != NULL)
        munmap(blocker, PAGE);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* Assembly (kernels that move several mappings at once) whose _i-th move
 * fails: the allocation is served by a fresh mapping; the failed move's
 * target is left alone, the rest of the new mapping unmapped. */
START_TEST(test_failed_move_assemble)
{
    if (!os_moves_across_mappings())
        return;
    cache_three_pieces();
    size_t before = test_address_space_bytes();
    os_pages_fail_move_after(_i, take_target);
    unsigned char *q = whole_block(hak_malloc(14 * TEST_MiB));
    ck_assert_ptr_nonnull(q);
    check_taken_page();
    memset(q, 0x33, hak_usable_size(q));
    hak_free(q);
    ck_assert_int_eq(hak_check(), 0);
    /* The piece whose move failed stays mapped (given up); the rest of
     * the assembly was unmapped, the other pieces with it, and the cache
     * holds the new block: the address space grew by about the failed
     * piece, less 1 MiB (a leaked assembly would add 8-10 MiB). */
    long grew = (long)test_address_space_bytes() - (long)before;
    long most = (long)(piece_mib[_i] * TEST_MiB + 4 * PAGE);
    ck_assert_msg(grew <= most, "the address space grew by %ld bytes, want at most %ld", grew,
                  most);
}
END_TEST

/* ---- mappings the program split before freeing them -------------------- */

/* A freed block whose mapping the program split (split _i / 4) serves a
 * later allocation (mode _i % 4): as it is, assembled with a fresh
 * part, grown in place or by a copy-free move (a kernel that moves one
 * mapping at a time), or not at all when it cannot grow; in every case
 * the allocation succeeds and the block is writable throughout, also
 * where the program had made the pages read-only. */
START_TEST(test_split_cached_mapping)
{
    const enum test_split k = (enum test_split)(_i / 4);
    const int mode = _i % 4;
    const size_t n = 6 * TEST_MiB;
    if (mode == 1 && !os_moves_across_mappings())
        return;
    if (mode >= 2)
        os_pages_single_mapping_moves(true);
    unsigned char *p = whole_block(hak_malloc(n));
    ck_assert_ptr_nonnull(p);
    memset(p, 'S', n);
    int err = test_split_mapping(p + TEST_MiB, 2 * TEST_MiB, k);
    if (err != 0) {
        fprintf(stderr, "%s refused (%s): that split is not tested\n", test_split_name[k],
                strerror(err));
        hak_free(p);
        return;
    }
    void *blocker = mode == 3 ? test_block_after(p + hak_usable_size(p)) : NULL;
    hak_free(p);
    size_t want = mode == 0 ? n : 14 * TEST_MiB;
    unsigned char *q = whole_block(hak_malloc(want));
    ck_assert_msg(q != NULL, "after %s and free, malloc(%zu) failed", test_split_name[k], want);
    if (mode == 0)
        ck_assert_msg(q == p, "the cached mapping was not reused");
    memset(q, 0x34, hak_usable_size(q));
    hak_free(q);
    if (blocker != NULL) {
        ck_assert_msg(test_page_mapped(blocker), "the page after the mapping was unmapped");
        munmap(blocker, PAGE);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- errno ------------------------------------------------------------- */

/* An allocation refused at the soft mark (the caches hold memory) is
 * tried again once they are emptied, and succeeds: errno stays as it
 * was, as after any call that succeeds. */
START_TEST(test_retry_keeps_errno)
{
    void *cached = hak_malloc(4 * TEST_MiB);
    ck_assert_ptr_nonnull(cached);
    hak_free(cached);
    ck_assert_uint_gt(os_cached_bytes(), 0);
    os_set_limits(0, os_mapped_bytes() + TEST_MiB);
    errno = 4242;
    /* aligned to a chunk: a fresh mapping, past the mark */
    void *p = hak_aligned_alloc(4 * TEST_MiB, 3 * TEST_MiB);
    int err = errno;
    os_set_limits(0, 0);
    ck_assert_msg(p != NULL, "the retry after the caches were emptied failed (errno %d)", err);
    ck_assert_uint_eq(os_cached_bytes(), 0);
    ck_assert_msg(err == 4242, "the allocation that succeeded on its retry set errno to %d", err);
    hak_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("large_cache");
    TCase *tc = tcase_create("assemble");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_assemble_moves_pages);
    tcase_add_test(tc, test_single_mapping_kernel_grows_largest);
    tcase_add_test(tc, test_assembled_block_realloc);
    suite_add_tcase(s, tc);
    tc = tcase_create("failed_moves");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_failed_move_realloc);
    tcase_add_test(tc, test_failed_move_cache_grow);
    tcase_add_loop_test(tc, test_failed_move_assemble, 0, 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("split");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_split_cached_mapping, 0, 4 * TEST_SPLITS);
    suite_add_tcase(s, tc);
    tc = tcase_create("errno");
    tcase_add_test(tc, test_retry_keeps_errno);
    suite_add_tcase(s, tc);
    return test_run_suite_forked(s); /* an empty cache per test */
}
