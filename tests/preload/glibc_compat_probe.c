/* glibc_compat_probe.c - the same calls to the C library's malloc
 * extensions, whichever malloc answers them, and what they did, one line
 * each: glibc-compat.sh (next to it) runs it with glibc's malloc and with
 * hakmem preloaded.  Lines starting "same" must read the same in both
 * runs; "differs" lines are where hakmem answers otherwise by design
 * (hakmem(7)), checked against what it promises.  Built against the C
 * library only.
 *
 * usage: glibc_compat_probe INFO.xml STATS.txt
 *   writes malloc_info's document to INFO.xml, malloc_stats's to STATS.txt */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

static const char *yes(bool b) { return b ? "yes" : "no"; }

/* p as the compiler cannot see where it came from (reads of a freed
 * block, a size it must not fold). */
static unsigned char *opaque(void *p)
{
    void *volatile v = p;
    return v;
}

static size_t opaque_size(size_t n)
{
    volatile size_t v = n;
    return v;
}

static bool all_bytes(const void *p, size_t from, size_t to, unsigned char v)
{
    const volatile unsigned char *b = opaque((void *)p);
    for (size_t i = from; i < to; i++)
        if (b[i] != v)
            return false;
    return true;
}

static void probe_mallinfo(void)
{
    enum { N = 1000 };
    static void *blocks[N];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < N; i++)
        blocks[i] = malloc(opaque_size(1000));
    struct mallinfo2 live = mallinfo2();
    size_t grew = live.uordblks - before.uordblks;
    printf("same mallinfo2: uordblks grew by 1000000 to 1100000 for 1000 blocks of 1000 bytes: "
           "%s\n",
           yes(grew >= N * 1000 && grew <= N * 1100));
    printf("same mallinfo2: arena = uordblks + fordblks: %s\n",
           yes(live.arena == live.uordblks + live.fordblks));
    printf("same mallinfo2: keepcost <= fordblks: %s\n", yes(live.keepcost <= live.fordblks));
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    struct mallinfo2 after = mallinfo2();
    printf("same mallinfo2: uordblks back within 16 KiB after the frees: %s\n",
           yes(after.uordblks <= before.uordblks + 16384));

    void *big = malloc(opaque_size(64 * MiB));
    struct mallinfo2 with_big = mallinfo2();
    printf("same mallinfo2: a 64 MiB block adds 1 to hblks: %s\n",
           yes(with_big.hblks == after.hblks + 1));
    printf("same mallinfo2: a 64 MiB block adds 64 MiB or more to hblkhd: %s\n",
           yes(with_big.hblkhd >= after.hblkhd + 64 * MiB));
    printf("same mallinfo2: a 64 MiB block leaves uordblks: %s\n",
           yes(with_big.uordblks == after.uordblks));
    free(big);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
    struct mallinfo2 now = mallinfo2();
    printf("same mallinfo: the fields of mallinfo2 (all below INT_MAX): %s\n",
           yes((size_t)old.arena == now.arena && (size_t)old.uordblks == now.uordblks &&
               (size_t)old.fordblks == now.fordblks && (size_t)old.hblks == now.hblks &&
               (size_t)old.hblkhd == now.hblkhd && (size_t)old.keepcost == now.keepcost));
}

static void probe_trim(void)
{
    enum { N = 200 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(opaque_size(100 * 1024));
        memset(blocks[i], 1, 100 * 1024);
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    /* (A second call is no test: glibc purges its free pages again and
     * answers 1 as long as it has any.) */
    printf("same malloc_trim(0) after freeing 20 MB of 100 KiB blocks = %d\n", malloc_trim(0));
}

static void probe_perturb(void)
{
    printf("same mallopt(M_PERTURB, 0x5a) = %d\n", mallopt(M_PERTURB, 0x5a));
    unsigned char *p = malloc(opaque_size(100));
    printf("same perturb: malloc(100) holds 0xa5: %s\n", yes(all_bytes(p, 0, 100, 0xa5)));
    unsigned char *z = calloc(opaque_size(100), 1);
    printf("same perturb: calloc(100, 1) holds 0: %s\n", yes(all_bytes(z, 0, 100, 0)));
    unsigned char *big = malloc(opaque_size(4 * MiB));
    printf("same perturb: malloc(4 MiB) holds 0xa5: %s\n", yes(all_bytes(big, 0, 4 * MiB, 0xa5)));
    memset(p, 0x11, 100);
    free(p);
    /* glibc keeps the last few frees of a size in its thread cache,
     * unfilled; hakmem fills every small block it frees. */
    unsigned char held = opaque(p)[16];
    if (all_bytes(p, 16, 100, held))
        printf("differs perturb: a freed small block holds past 16 bytes: %#x\n", held);
    else
        printf("differs perturb: a freed small block holds past 16 bytes: several values\n");
    free(z);
    free(big);
    printf("same mallopt(M_PERTURB, 0) = %d\n", mallopt(M_PERTURB, 0));
}

static void probe_info(const char *xml)
{
    FILE *fp = fopen(xml, "w");
    if (fp == NULL) {
        perror(xml);
        exit(2);
    }
    void *p = malloc(opaque_size(100));
    printf("same malloc_info(0, file) = %d\n", malloc_info(0, fp));
    free(p);
    fclose(fp);
    fflush(stdout);
    /* Refused before anything is written (nothing may reach stdout). */
    int rc = malloc_info(1, stdout);
    printf("same malloc_info(1, stdout) = %d\n", rc);
    rc = malloc_info(-1, stdout);
    printf("same malloc_info(-1, stdout) = %d\n", rc);
}

static void probe_stats(const char *path)
{
    char text[4096];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    malloc_stats();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    printf("same malloc_stats: starts with \"Arena 0:\": %s\n",
           yes(strncmp(text, "Arena 0:\n", 9) == 0));
    static const char *const labels[] = {
        "system bytes     = ", "in use bytes     = ", "Total (incl. mmap):\n"};
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        printf("same malloc_stats: has \"%.*s\": %s\n", (int)strcspn(labels[i], "=\n"), labels[i],
               yes(strstr(text, labels[i]) != NULL));
}

static void probe_mallopt(void)
{
    static const struct {
        const char *name;
        int param;
    } params[] = {
        {"M_MXFAST", M_MXFAST},
        {"M_NLBLKS", M_NLBLKS},
        {"M_GRAIN", M_GRAIN},
        {"M_KEEP", M_KEEP},
        {"M_TRIM_THRESHOLD", M_TRIM_THRESHOLD},
        {"M_TOP_PAD", M_TOP_PAD},
        {"M_MMAP_THRESHOLD", M_MMAP_THRESHOLD},
        {"M_MMAP_MAX", M_MMAP_MAX},
        {"M_CHECK_ACTION", M_CHECK_ACTION},
        {"M_PERTURB", M_PERTURB},
        {"M_ARENA_TEST", M_ARENA_TEST},
        {"M_ARENA_MAX", M_ARENA_MAX},
    };
    /* Values glibc accepts (its defaults last), then the ones it refuses. */
    static const int values[] = {1, 64, 160, 65536, 1 << 20, 0};
    static const struct {
        int param, value;
    } last[] = {{M_MXFAST, 128},         {M_TRIM_THRESHOLD, 128 * 1024},
                {M_TOP_PAD, 128 * 1024}, {M_MMAP_THRESHOLD, 128 * 1024},
                {M_MMAP_MAX, 65536},     {M_ARENA_TEST, 8}};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++)
            printf("same mallopt(%s, %d) = %d\n", params[i].name, values[j],
                   mallopt(params[i].param, values[j]));
    printf("same mallopt(M_MXFAST, 161) = %d\n", mallopt(M_MXFAST, 161));
    printf("same mallopt(M_MXFAST, -1) = %d\n", mallopt(M_MXFAST, -1));
    for (size_t i = 0; i < sizeof last / sizeof last[0]; i++)
        (void)mallopt(last[i].param, last[i].value);
    /* glibc answers 1 for a parameter it does not know (mallopt(3),
     * BUGS); hakmem answers 0. */
    static const int unknown[] = {0, 5, 9, -9, 100};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        printf("differs mallopt(%d, 1) = %d\n", unknown[i], mallopt(unknown[i], 1));
}

static void probe_sized_free(void)
{
    /* C23; glibc 2.36 has neither. */
    void (*sized)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*aligned)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    printf("differs free_sized and free_aligned_sized exist: %s\n",
           yes(sized != NULL && aligned != NULL));
    if (sized != NULL && aligned != NULL) {
        for (size_t n = 1; n < 8 * MiB; n *= 3)
            sized(malloc(opaque_size(n)), n);
        aligned(aligned_alloc(4096, opaque_size(8192)), 4096, 8192);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s INFO.xml STATS.txt\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    probe_mallinfo();
    probe_trim();
    probe_perturb();
    probe_info(argv[1]);
    probe_stats(argv[2]);
    probe_sized_free();
    probe_mallopt(); /* last: the values it sets would change the rest */
    return 0;
}
