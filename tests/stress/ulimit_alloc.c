/* ulimit_alloc.c - run by ulimit.sh under a real address-space limit
 * (ulimit -v): allocates blocks of mixed sizes (64 B to 4 MiB) until
 * every size fails, checks that failure is NULL with errno ENOMEM,
 * frees everything, and must then allocate about as much again: memory
 * given back is really given back to the kernel, and nothing is left
 * broken by running out. */
#define _GNU_SOURCE
#include "../test_util.h"

#include <sys/mman.h>

#define MAX_BLOCKS (1 << 18)
static const size_t sizes[] = {64, 256, 1000, 4000, 16000, 100000, 500000, (size_t)4 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

struct blk {
    void *p;
    size_t size;
};
static struct blk *blocks;

/* Allocates until a whole round over the sizes fails; returns the bytes
 * obtained and leaves the blocks in blocks[0..*count). */
static size_t fill(size_t *count, size_t *failures)
{
    size_t n = 0, bytes = 0;
    *failures = 0;
    for (;;) {
        size_t round_ok = 0;
        for (size_t s = 0; s < NSIZES; s++) {
            errno = 0;
            void *p = hak_malloc(sizes[s]);
            if (p == NULL) {
                if (errno != ENOMEM)
                    test_fail("hak_malloc(%zu) returned NULL with errno %d", sizes[s], errno);
                ++*failures;
                continue;
            }
            if (n == MAX_BLOCKS)
                test_fail("over %d blocks and no failure: is the limit set?", MAX_BLOCKS);
            /* touch the first and last bytes: the memory must be real */
            memset(p, 0xa5, 32);
            memset((char *)p + sizes[s] - 32, 0x5a, 32);
            blocks[n++] = (struct blk){p, sizes[s]};
            bytes += sizes[s];
            round_ok++;
        }
        if (round_ok == 0)
            break;
    }
    *count = n;
    return bytes;
}

static void release(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *c = blocks[i].p;
        if (c[0] != 0xa5 || c[blocks[i].size - 1] != 0x5a)
            test_fail("block %p of %zu bytes was overwritten", blocks[i].p, blocks[i].size);
        hak_free(blocks[i].p);
    }
}

int main(void)
{
    blocks = mmap(NULL, MAX_BLOCKS * sizeof *blocks, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED)
        test_fail("mmap of the bookkeeping failed (limit too low?)");
    size_t n1, f1, n2, f2;
    size_t b1 = fill(&n1, &f1);
    release(n1);
    if (hak_check() != 0)
        test_fail("hak_check() failed after the first fill");
    size_t b2 = fill(&n2, &f2);
    release(n2);
    if (hak_check() != 0)
        test_fail("hak_check() failed after the second fill");
    if (b1 < ((size_t)16 << 20))
        test_fail("only %zu bytes before the first failure: limit too low to test", b1);
    /* The second fill gets (nearly) as much: freed memory went back to
     * the kernel; a tenth of slack for the SuperSlab cache and order. */
    if (b2 < b1 - b1 / 10)
        test_fail("first fill %zu bytes in %zu blocks, after freeing all only %zu in %zu", b1, n1,
                  b2, n2);
    void *p = hak_malloc(1000);
    if (p == NULL)
        test_fail("nothing can be allocated after freeing everything");
    hak_free(p);
    printf("%s: %zu MiB in %zu blocks until ENOMEM; after freeing, %zu MiB in %zu blocks\n",
           test_prog(), b1 >> 20, n1, b2 >> 20, n2);
    return 0;
}
