/* check_large_cache.c - white-box test of the large-block cache, linked
 * with the library's internals: a request larger than every cached mapping
 * is assembled from them by moving their pages, each landing at its place
 * in the new block, whether the kernel moves the whole range in one
 * mremap or (os_pages_split_moves, as older kernels do across mappings)
 * page by page. */
#include "config.h"

#include "hak_test.h"

#include "os_pages.h"

#include <sys/mman.h>

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

/* Three freed blocks, 6, 5 and 4 MiB: the cache holds their mappings, a
 * header page each before the block.  14 MiB fits none, so the largest
 * two and then the 4 MiB one (no cut: it is not twice what is missing)
 * are moved side by side: 6 MiB of 'A', the second header page, 5 MiB
 * of 'B', the third header page, 4 MiB of 'C'. */
static void assemble_and_check(void)
{
    static const size_t mib[3] = {6, 5, 4};
    static const unsigned char tag[3] = {'A', 'B', 'C'};
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = hak_malloc(mib[i] * HK_MiB);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], tag[i], mib[i] * HK_MiB);
    }
    for (int i = 0; i < 3; i++)
        hak_free(p[i]);

    unsigned char *q = hak_malloc(14 * HK_MiB);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(hak_usable_size(q), 15 * HK_MiB + 2 * PAGE);
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(all_bytes(q + off, mib[i] * HK_MiB, tag[i]),
                      "piece %d (%zu MiB of '%c') not resident at offset %zu", i, mib[i],
                      tag[i], off);
        off += mib[i] * HK_MiB + PAGE;
    }
    /* An ordinary block from now on: usable to the end, and freed. */
    memset(q, 0x11, hak_usable_size(q));
    hak_free(q);
    ck_assert_int_eq(hak_check(), 0);
}

START_TEST(test_assemble_whole_moves)
{
    assemble_and_check();
}
END_TEST

START_TEST(test_assemble_page_by_page)
{
    os_pages_split_moves(true);
    assemble_and_check();
    os_pages_split_moves(false);
}
END_TEST

/* An assembled block that is freed, cached and assembled again spans
 * several mappings: growing it in place or moving it by mremap then
 * fails on older kernels, and realloc must still keep every byte. */
START_TEST(test_assembled_block_realloc)
{
    os_pages_split_moves(true);
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = hak_malloc((size_t)(3 + i) * HK_MiB);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], 0x22, (size_t)(3 + i) * HK_MiB);
    }
    for (int i = 0; i < 3; i++)
        hak_free(p[i]);
    size_t n = 11 * HK_MiB;
    char *q = hak_malloc(n);
    ck_assert_ptr_nonnull(q);
    os_pages_split_moves(false);
    hk_fill(q, n, 9);
    const size_t sizes[] = {50 * HK_MiB, 7 * HK_MiB + 3, 2 * HK_MiB, 100};
    size_t have = n;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *r = hak_realloc(q, sizes[i]);
        ck_assert_msg(r != NULL, "realloc %zu -> %zu failed", have, sizes[i]);
        size_t keep = have < sizes[i] ? have : sizes[i];
        size_t bad = hk_verify(r, keep, 9);
        ck_assert_msg(bad == SIZE_MAX, "realloc %zu -> %zu lost byte %zu", have, sizes[i], bad);
        for (size_t j = keep; j < sizes[i]; j++)
            r[j] = (char)hk_byte(9, j);
        q = r;
        have = sizes[i];
    }
    hak_free(q);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("large_cache");
    TCase *tc = tcase_create("assemble");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_assemble_whole_moves);
    tcase_add_test(tc, test_assemble_page_by_page);
    tcase_add_test(tc, test_assembled_block_realloc);
    suite_add_tcase(s, tc);
    return hk_run_suite(s);
}
