/* prof_child.c - allocation patterns for tests/unit/prof.sh, each from call
 * sites of its own (site_* functions, never inlined nor tail-called, so
 * each is a frame of the stacks the profiler records).  It allocates
 * through hak_malloc, so it profiles in every build, and writes profiles
 * with hak_prof_dump.
 *
 * usage: prof_child MODE PATH
 *   sites    site_a holds 80% of the live bytes, site_b 20%; site_gone's
 *            blocks are all freed before the dump
 *   threads  threads free each other's blocks (site_cross) and keep some
 *            of their own (site_kept: 4 threads x 500 blocks)
 *   large    site_large keeps 8 blocks of 3 MiB and frees 8 more
 *   fork     the parent's site_parent blocks, then a child adding
 *            site_child blocks writes PATH.child; another thread keeps
 *            allocating through every fork
 *   signal   keeps site_a blocks and raises SIGUSR1 (HAKMEM_PROF_SIGNAL)
 *   stats    hak_stats counts exactly the blocks handed out and the bytes
 *            asked for, sampled or not (PATH unused)
 *   off      hak_prof_dump must fail with ENOTSUP (no HAKMEM_PROF) */
#include <errno.h>
#include <hakmem.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* External, so that no compiler renames a site (site_a.constprop.0). */
void *site_a(void);
void *site_b(void);
void *site_gone(void);
void *site_cross(void);
void *site_kept(void);
void *site_large(void);
void *site_parent(void);
void *site_child(void);

/* Where live blocks are kept: the compiler cannot drop stores to it. */
void *volatile kept_blocks[64];

static void die(const char *what)
{
    fprintf(stderr, "prof_child: %s\n", what);
    exit(1);
}

/* Allocates and touches the block: a call followed by work is never a
 * tail call, so the site stays on the stack. */
static void *take(size_t n)
{
    char *p = hak_malloc(n);
    if (p == NULL)
        die("out of memory");
    *(volatile char *)p = 1;
    return p;
}

NOINLINE void *site_a(void)
{
    void *p = take(1024);
    *(volatile char *)p = 2;
    return p;
}

NOINLINE void *site_b(void)
{
    void *p = take(256);
    *(volatile char *)p = 2;
    return p;
}

NOINLINE void *site_gone(void)
{
    void *p = take(512);
    *(volatile char *)p = 2;
    return p;
}

NOINLINE void *site_cross(void)
{
    void *p = take(96);
    *(volatile char *)p = 2;
    return p;
}

NOINLINE void *site_kept(void)
{
    void *p = take(160);
    *(volatile char *)p = 2;
    return p;
}

NOINLINE void *site_large(void)
{
    void *p = take((size_t)3 << 20);
    *(volatile char *)p = 2;
    return p;
}

NOINLINE void *site_parent(void)
{
    void *p = take(2048);
    *(volatile char *)p = 2;
    return p;
}

NOINLINE void *site_child(void)
{
    void *p = take(4096);
    *(volatile char *)p = 2;
    return p;
}

static void dump(const char *path)
{
    if (hak_prof_dump(path) != 0) {
        perror("hak_prof_dump");
        exit(1);
    }
}

/* 25000 blocks of 1 KiB from site_a and of 256 B from site_b, every
 * fifth freed: 20000 of each stay, 80% and 20% of the live bytes. */
static void sites(const char *path)
{
    enum { N = 25000 };
    static void *a[N], *b[N], *g[N / 5];
    for (int i = 0; i < N; i++) {
        a[i] = site_a();
        b[i] = site_b();
        if (i % 5 == 0)
            g[i / 5] = site_gone();
    }
    for (int i = 0; i < N; i += 5) {
        hak_free(a[i]);
        hak_free(b[i]);
        hak_free(g[i / 5]);
    }
    dump(path);
}

enum { THREADS = 4, CROSS = 5000, KEPT = 500 };
static void *cross_blocks[THREADS][CROSS];
static pthread_barrier_t cross_barrier;

static void *cross_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < CROSS; i++)
        cross_blocks[t][i] = site_cross();
    for (int i = 0; i < KEPT; i++)
        kept_blocks[t] = site_kept();
    pthread_barrier_wait(&cross_barrier);
    /* Every block of the next thread's, freed here. */
    for (int i = 0; i < CROSS; i++)
        hak_free(cross_blocks[(t + 1) % THREADS][i]);
    return NULL;
}

static void threads(const char *path)
{
    pthread_t th[THREADS];
    pthread_barrier_init(&cross_barrier, NULL, THREADS);
    for (int t = 0; t < THREADS; t++)
        if (pthread_create(&th[t], NULL, cross_thread, (void *)(intptr_t)t) != 0)
            die("pthread_create");
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    dump(path);
}

static void large(const char *path)
{
    void *keep[8], *gone[8];
    for (int i = 0; i < 8; i++) {
        keep[i] = site_large();
        gone[i] = site_large();
    }
    for (int i = 0; i < 8; i++)
        hak_free(gone[i]);
    dump(path);
    for (int i = 0; i < 8; i++)
        *(volatile char *)keep[i] = 3;
}

static int churn_stop; /* atomic */

static void *churn(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
        void *p[64];
        for (int i = 0; i < 64; i++)
            p[i] = take(16 + (size_t)i * 40);
        for (int i = 0; i < 64; i++)
            hak_free(p[i]);
    }
    return NULL;
}

static void forks(const char *path)
{
    enum { N = 1000 };
    for (int i = 0; i < N; i++)
        kept_blocks[0] = site_parent();
    pthread_t th;
    if (pthread_create(&th, NULL, churn, NULL) != 0)
        die("pthread_create");
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            static void *child[N];
            for (int i = 0; i < N; i++)
                child[i] = site_child();
            if (round == 0) {
                char p[4096];
                snprintf(p, sizeof p, "%s.child", path);
                if (hak_prof_dump(p) != 0)
                    _exit(2);
            }
            for (int i = 0; i < N; i++)
                hak_free(child[i]);
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("the child failed");
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    dump(path);
}

/* The class of 48-byte blocks, by its figures in st. */
static unsigned class_of_48(const struct hak_stats *st)
{
    for (unsigned c = 0; c < st->nclasses; c++)
        if (st->classes[c].block_size >= 48)
            return c;
    die("no class for 48 bytes");
    return 0;
}

static void stats(void)
{
    enum { N = 1000 };
    static void *blocks[N];
    struct hak_stats st0, st1, st2;
    /* The thread's first allocation sets its heap up. */
    hak_free(take(48));
    hak_stats(&st0, sizeof st0);
    for (int i = 0; i < N; i++)
        blocks[i] = take(48);
    hak_stats(&st1, sizeof st1);
    for (int i = 0; i < N; i++)
        hak_free(blocks[i]);
    hak_stats(&st2, sizeof st2);
    unsigned c = class_of_48(&st0);
    uint64_t allocs = st1.classes[c].allocs - st0.classes[c].allocs;
    uint64_t requested = st1.bytes_requested - st0.bytes_requested;
    uint64_t frees = st2.classes[c].frees - st1.classes[c].frees;
    if (allocs != N || requested != 48 * N || frees != N) {
        fprintf(stderr,
                "prof_child: hak_stats counted %llu allocations of %u, %llu bytes asked "
                "for of %u, %llu frees of %u\n",
                (unsigned long long)allocs, N, (unsigned long long)requested, 48 * N,
                (unsigned long long)frees, N);
        exit(1);
    }
}

static void signals(void)
{
    for (int i = 0; i < 1000; i++)
        kept_blocks[0] = site_a();
    if (raise(SIGUSR1) != 0)
        die("raise");
}

int main(int argc, char **argv)
{
    if (argc != 3)
        die("usage: prof_child MODE PATH");
    const char *mode = argv[1], *path = argv[2];
    if (strcmp(mode, "sites") == 0)
        sites(path);
    else if (strcmp(mode, "threads") == 0)
        threads(path);
    else if (strcmp(mode, "large") == 0)
        large(path);
    else if (strcmp(mode, "fork") == 0)
        forks(path);
    else if (strcmp(mode, "signal") == 0)
        signals();
    else if (strcmp(mode, "stats") == 0)
        stats();
    else if (strcmp(mode, "off") == 0) {
        errno = 0;
        if (hak_prof_dump(path) != -1 || errno != ENOTSUP)
            die("hak_prof_dump did not fail with ENOTSUP");
    } else
        die("unknown mode");
    return 0;
}
