/* abi_1_0_0.c - a program built against hakmem 1.0.0's header (the copy
 * in tests/unit/hakmem-1.0.0/, the only hakmem.h on its include path) runs
 * with the library just built: every 1.0 function works, and hak_stats()
 * fills exactly the 1.0.0 struct, nothing past it.  Exits 0, or 1 with a
 * line per problem. */
#include <hakmem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if HAKMEM_VERSION != 0x010000
#error "not hakmem 1.0.0's header"
#endif
_Static_assert(sizeof(struct hak_stats) == 2480, "not hakmem 1.0.0's struct hak_stats");

static int problems;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        problems++;
    }
}

int main(void)
{
    /* The struct, then bytes the library must not touch. */
    static union {
        struct hak_stats st;
        unsigned char bytes[sizeof(struct hak_stats) + 4096];
    } u;

    void *p = hak_malloc(100);
    void *q = hak_calloc(10, 10);
    void *a = hak_aligned_alloc(4096, 100);
    void *m = NULL;
    check(p != NULL && q != NULL && a != NULL, "allocation");
    check(hak_posix_memalign(&m, 64, 200) == 0 && m != NULL, "hak_posix_memalign");
    check(hak_usable_size(p) >= 100, "hak_usable_size");
    p = hak_realloc(p, 1000);
    check(p != NULL, "hak_realloc");
    check(hak_version() >= HAKMEM_VERSION, "the library is older than its 1.0.0 header");
    check(hak_version_string() != NULL && hak_version_string()[0] == '1', "hak_version_string");
    check(hak_check() == 0, "hak_check");

    memset(&u, 0xcb, sizeof u);
    check(hak_stats(&u.st, sizeof u.st) == 0, "hak_stats");
    check(u.st.size == sizeof u.st, "hak_stats did not fill exactly the 1.0.0 struct");
    for (size_t i = sizeof u.st; i < sizeof u.bytes; i++)
        if (u.bytes[i] != 0xcb) {
            printf("FAIL: hak_stats wrote past the 1.0.0 struct, at byte %zu\n", i);
            problems++;
            break;
        }
    check(u.st.version >= 1, "stats version");
    check(u.st.nclasses == 60 && u.st.classes[0].block_size == 16 &&
              u.st.classes[59].block_size == 1048576,
          "the class table");
    check(u.st.allocs >= 5 && u.st.bytes_in_use >= 100, "the counters");
    check(u.st.nlocks >= 1 && u.st.nlocks <= HAK_STATS_MAX_LOCKS && u.st.locks[0].name[0] != 0,
          "the lock table");

    FILE *null = fopen("/dev/null", "w");
    check(null != NULL && hak_stats_print(null) == 0 && hak_stats_print_json(null) == 0,
          "hak_stats_print");
    if (null != NULL)
        fclose(null);
    hak_free(p);
    hak_free(q);
    hak_free(a);
    hak_free(m);
    if (problems == 0)
        printf("hakmem %s runs a program built against 1.0.0's header; hak_stats filled %llu "
               "bytes\n",
               hak_version_string(), (unsigned long long)u.st.size);
    return problems ? EXIT_FAILURE : EXIT_SUCCESS;
}
