/* settings_child.c - run by settings.sh in a directory holding a
 * test-root/ tree (a settings file, /proc/self/cgroup and mountinfo, a
 * cgroup hierarchy), linked with the library variant that reads its files
 * there (tests/unit/local.mk).  Uses only the hak_* API and writes
 * nothing to stderr itself, so all stderr output is hakmem's.
 *   settings_child show       prints the limits and budgets the library saw
 *   settings_child soft-mark  with memory.high 64 MiB: memory the caches
 *                             hold is given back before the mapped total
 *                             passes 90% of it, and allocations still
 *                             succeed past it */
#define _GNU_SOURCE
#include "../test_util.h"

static void show(void)
{
    struct hak_stats st = test_stats();
    printf("cgroup_limit=%llu cgroup_soft_limit=%llu mapped_limit=%llu cache_limit=%llu\n",
           (unsigned long long)st.cgroup_limit, (unsigned long long)st.cgroup_soft_limit,
           (unsigned long long)st.mapped_limit, (unsigned long long)st.cache_limit);
}

#define LARGE (((size_t)1 << 20) + 1) /* maps 1 MiB + 8 KiB */
#define MARK ((uint64_t)64 << 20) * 9 / 10

static int soft_mark(void)
{
    void *large = NULL, *small = NULL;
    /* Large blocks to some 6 MiB below the mark. */
    while (test_stats().bytes_mapped + ((uint64_t)6 << 20) < MARK) {
        void **b = hak_malloc(test_opaque(LARGE));
        if (b == NULL)
            test_fail("hak_malloc failed below the soft mark");
        b[0] = large;
        large = b;
    }
    /* Three of them freed: the large-block cache keeps them (its budget is
     * a tenth of 64 MiB). */
    for (int i = 0; i < 3; i++) {
        void **b = large;
        large = b[0];
        hak_free(b);
    }
    struct hak_stats before = test_stats();
    if (before.bytes_cached < ((uint64_t)3 << 20))
        test_fail("only %llu bytes cached after freeing 3 large blocks",
                  (unsigned long long)before.bytes_cached);
    /* Small blocks past the mark: they cannot use the cached large
     * blocks, and new SuperSlabs are mapped for them. */
    struct hak_stats now = before;
    while (now.bytes_mapped < MARK + ((uint64_t)4 << 20)) {
        void **b = hak_malloc(test_opaque(60000));
        if (b == NULL)
            test_fail("hak_malloc failed past the soft mark (it is no limit)");
        b[0] = small;
        small = b;
        now = test_stats();
        if (now.bytes_mapped > MARK && now.bytes_cached != 0)
            test_fail("%llu bytes mapped, past the soft mark %llu, with %llu still cached",
                      (unsigned long long)now.bytes_mapped, (unsigned long long)MARK,
                      (unsigned long long)now.bytes_cached);
    }
    printf("soft mark %llu: mapped %llu -> %llu, cached %llu -> %llu, returned +%llu, "
           "failed %llu\n",
           (unsigned long long)MARK, (unsigned long long)before.bytes_mapped,
           (unsigned long long)now.bytes_mapped, (unsigned long long)before.bytes_cached,
           (unsigned long long)now.bytes_cached,
           (unsigned long long)(now.bytes_returned - before.bytes_returned),
           (unsigned long long)now.allocs_failed);
    if (now.allocs_failed != 0)
        test_fail("%llu allocations failed", (unsigned long long)now.allocs_failed);
    while (small != NULL) {
        void **b = small;
        small = b[0];
        hak_free(b);
    }
    while (large != NULL) {
        void **b = large;
        large = b[0];
        hak_free(b);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "show";
    if (strcmp(mode, "show") == 0) {
        void *p = hak_malloc(100); /* set up in any build */
        hak_free(p);
        show();
        return 0;
    }
    if (strcmp(mode, "soft-mark") == 0)
        return soft_mark();
    printf("usage: %s show|soft-mark\n", test_prog());
    return TEST_EXIT_HARD;
}
