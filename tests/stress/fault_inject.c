/* fault_inject.c - out of memory, injected: a white-box test linked with
 * the library's internals (src/libhakmem-core.la) that makes every OS
 * mapping after the next n fail (os_pages_fail_after), for several n.
 * Then every API must fail cleanly: NULL with errno ENOMEM
 * (hak_posix_memalign: ENOMEM returned, errno untouched), realloc leaves
 * the old block intact, nothing crashes, hak_check() stays 0, a thread
 * that starts while memory is short copes too; after
 * os_pages_fail_after(-1) allocation works again, and once everything is
 * freed hak_stats balances (no block lost). */
#define _GNU_SOURCE
#include "../test_util.h"

#include "os_pages.h"

#include <pthread.h>
#include <sys/mman.h>

#define MAX_BLOCKS (1 << 20)
#define BIG ((size_t)3 << 20) /* above the largest size class: always a mapping */

struct blk {
    void *p;
    size_t size;
    uint64_t tag;
};

/* Bookkeeping from mmap, not malloc: in an override build malloc is
 * hakmem, which is failing on purpose here. */
static struct blk *blocks;
static size_t nblocks;
static uint64_t next_tag = 1;

enum api { API_MALLOC, API_CALLOC, API_REALLOC_NULL, API_ALIGNED, API_MEMALIGN, API_COUNT };
static const size_t sizes[] = {24, 100, 1000, 5000, 40000, 300000, (size_t)2 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static const char *api_name(int api)
{
    static const char *names[] = {"hak_malloc", "hak_calloc", "hak_realloc(NULL)",
                                  "hak_aligned_alloc", "hak_posix_memalign"};
    return names[api];
}

/* One allocation through api; NULL on failure, after checking that the
 * failure was reported as the contract says. */
static void *alloc_via(int api, size_t size)
{
    void *p = NULL;
    errno = 0;
    switch (api) {
    case API_MALLOC: p = hak_malloc(size); break;
    case API_CALLOC: p = hak_calloc(1, size); break;
    case API_REALLOC_NULL: p = hak_realloc(NULL, size); break;
    case API_ALIGNED: p = hak_aligned_alloc(64, size); break;
    default: {
        void *out = &blocks;
        errno = 4321;
        int rc = hak_posix_memalign(&out, 256, size);
        if (rc == 0) {
            if (errno != 4321)
                test_fail("hak_posix_memalign succeeded but changed errno");
            return out;
        }
        if (rc != ENOMEM || errno != 4321 || out != &blocks)
            test_fail("hak_posix_memalign(256, %zu) failed with %d, errno %d, memptr %s", size, rc,
                      errno, out == &blocks ? "untouched" : "CHANGED");
        return NULL;
    }
    }
    if (p == NULL && errno != ENOMEM)
        test_fail("%s(%zu) returned NULL with errno %d, not ENOMEM", api_name(api), size, errno);
    return p;
}

static void keep(void *p, size_t size)
{
    if (nblocks == MAX_BLOCKS)
        test_fail("more than %d blocks: is the injected failure ignored?", MAX_BLOCKS);
    /* stamp only the first and last KiB: 2 MiB blocks stay cheap */
    struct blk *b = &blocks[nblocks++];
    b->p = p;
    b->size = size;
    b->tag = next_tag++;
    test_fill_ends(p, size, 1024, b->tag);
}

static void verify(const struct blk *b, const char *when)
{
    if (test_verify_ends(b->p, b->size, 1024, b->tag) != SIZE_MAX)
        test_fail("%s: block %p of %zu bytes was overwritten", when, b->p, b->size);
}

static void check_heap(const char *when)
{
    if (hak_check() != 0)
        test_fail("hak_check() failed %s", when);
}

static void expect_enomem(void *p, const char *what)
{
    if (p != NULL)
        test_fail("%s succeeded while every mapping fails", what);
    if (errno != ENOMEM)
        test_fail("%s: NULL with errno %d, not ENOMEM", what, errno);
}

/* A thread that starts while memory is short: its first allocations may
 * fail (never crash), and it frees blocks main made (remote frees). */
static void *short_thread(void *arg)
{
    size_t from = (size_t)(uintptr_t)arg, freed = 0;
    for (size_t s = 0; s < NSIZES; s++) {
        void *p = alloc_via(API_MALLOC, sizes[s]);
        if (p != NULL) {
            memset(p, 0x5a, sizes[s] < 4096 ? sizes[s] : 4096);
            hak_free(p);
        }
    }
    for (size_t i = from; i < nblocks && freed < 64; i += 3, freed++) {
        if (blocks[i].p == NULL)
            continue;
        verify(&blocks[i], "remote free under failure");
        hak_free(blocks[i].p);
        blocks[i].p = NULL;
    }
    if (hak_check() != 0)
        test_fail("hak_check() failed in a thread started under failure");
    return NULL;
}

static void run(long n)
{
    struct hak_stats base = test_stats();
    nblocks = 0;
    check_heap("before injection");

    os_pages_fail_after(n);

    /* 1. allocate through every API and size until all of them fail */
    size_t ok = 0, failed = 0;
    for (int round = 0;; round++) {
        size_t round_ok = 0;
        for (int api = 0; api < API_COUNT; api++)
            for (size_t s = 0; s < NSIZES; s++) {
                void *p = alloc_via(api, sizes[s]);
                if (p == NULL) {
                    failed++;
                    continue;
                }
                if (api == API_CALLOC && ((unsigned char *)p)[sizes[s] - 1] != 0)
                    test_fail("hak_calloc(1, %zu) block not zero", sizes[s]);
                keep(p, sizes[s]);
                ok++;
                round_ok++;
            }
        if (round_ok == 0)
            break;
        if (round > MAX_BLOCKS)
            test_fail("allocation never fails after os_pages_fail_after(%ld)", n);
    }
    check_heap("once allocation failed");

    /* 2. each API, once more, with a size that needs a mapping */
    errno = 0;
    expect_enomem(hak_malloc(test_opaque(BIG)), "hak_malloc(3 MiB)");
    errno = 0;
    expect_enomem(hak_calloc(1, test_opaque(BIG)), "hak_calloc(1, 3 MiB)");
    errno = 0;
    expect_enomem(hak_aligned_alloc(4096, test_opaque(BIG)), "hak_aligned_alloc(4096, 3 MiB)");
    errno = 0;
    expect_enomem(hak_realloc(NULL, test_opaque(BIG)), "hak_realloc(NULL, 3 MiB)");
    for (size_t s = 0; s < NSIZES; s++) {
        errno = 0;
        expect_enomem(hak_malloc(sizes[s]), "hak_malloc of a size that failed");
    }
    {
        void *out = &blocks;
        errno = 4321;
        int rc = hak_posix_memalign(&out, 64, test_opaque(BIG));
        if (rc != ENOMEM || errno != 4321 || out != &blocks)
            test_fail("hak_posix_memalign(64, 3 MiB) = %d, errno %d, memptr %s", rc, errno,
                      out == &blocks ? "untouched" : "CHANGED");
    }
    /* realloc that must grow into a new mapping keeps the old block */
    for (size_t i = 0; i < nblocks; i++) {
        struct blk *b = &blocks[i];
        errno = 0;
        void *q = hak_realloc(b->p, b->size + BIG);
        if (q != NULL)
            test_fail("hak_realloc(%zu -> %zu) succeeded while every mapping fails", b->size,
                      b->size + BIG);
        if (errno != ENOMEM)
            test_fail("hak_realloc failed with errno %d, not ENOMEM", errno);
        verify(b, "failed realloc");
        if (i > 40)
            break;
    }
    check_heap("after the failed calls");

    /* 3. a thread born under failure (in an override build the C library
     * may itself fail to create it: then there is nothing to test) */
    pthread_t t;
    if (pthread_create(&t, NULL, short_thread, (void *)(uintptr_t)1) == 0)
        pthread_join(t, NULL);
    check_heap("after the thread started under failure");

    /* 4. free half while still failing; the room it makes is usable */
    for (size_t i = 0; i < nblocks; i += 2)
        if (blocks[i].p != NULL) {
            verify(&blocks[i], "free under failure");
            hak_free(blocks[i].p);
            blocks[i].p = NULL;
        }
    check_heap("after freeing half under failure");

    /* 5. memory is back: every API and size works again */
    os_pages_fail_after(-1);
    for (int api = 0; api < API_COUNT; api++)
        for (size_t s = 0; s < NSIZES; s++) {
            void *p = alloc_via(api, sizes[s]);
            if (p == NULL)
                test_fail("%s(%zu) still fails after os_pages_fail_after(-1)", api_name(api),
                          sizes[s]);
            keep(p, sizes[s]);
        }
    for (size_t i = 0; i < nblocks; i++)
        if (blocks[i].p != NULL) {
            verify(&blocks[i], "final free");
            hak_free(blocks[i].p);
            blocks[i].p = NULL;
        }
    check_heap("after freeing everything");

    struct hak_stats end = test_stats();
    if (test_net_blocks(&end) != test_net_blocks(&base))
        test_fail("n=%ld: %lld small blocks live before, %lld after freeing everything", n,
                  (long long)test_net_blocks(&base), (long long)test_net_blocks(&end));
    if (end.large_live != base.large_live)
        test_fail("n=%ld: %llu large blocks live before, %llu after freeing everything", n,
                  (unsigned long long)base.large_live, (unsigned long long)end.large_live);
    printf("%s: os_pages_fail_after(%ld): %zu allocations succeeded, %zu failed with ENOMEM,"
           " all recovered\n",
           test_prog(), n, ok, failed);
    fflush(stdout);
}

int main(void)
{
    blocks = mmap(NULL, MAX_BLOCKS * sizeof *blocks, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED)
        test_fail("mmap failed");
    /* Warm up the C library (stdio buffer, a thread's TLS) so it does not
     * allocate from hakmem between a baseline and its check. */
    printf("%s: injected mapping failures\n", test_prog());
    fflush(stdout);
    test_warm_up_threads(4);

    static const long ns[] = {0, 1, 2, 3, 5, 8, 13, 40};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        run(ns[i]);
    return 0;
}
