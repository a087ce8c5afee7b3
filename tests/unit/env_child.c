/* env_child.c - a tiny program that tests/unit/stats-env.sh runs under various
 * HAKMEM_* settings.  It uses only the hak_* API (works in every build) and
 * writes nothing to stderr itself, so all stderr output is hakmem's.
 *   env_child basic        allocate and free a little, return from main
 *   env_child exit-thread  call exit() while another thread is allocating
 *   env_child threads      a few short threads, then return
 *   env_child cache        map 48 MiB of blocks, free them, print on stdout
 *                          what the SuperSlab cache kept (for HAKMEM_CACHE_MB)
 *   env_child decay        as cache, but print what is kept once that memory
 *                          has been idle for over a second and a slab of
 *                          another class was set up
 *   env_child decay-purge  as cache but one block of each SuperSlab stays,
 *                          so their free slabs stay dirty; print what was
 *                          returned before and after a second idle and a
 *                          slab given back
 *   env_child preinit      allocate first from a .preinit_array function, which
 *                          runs before the C library has set up environ (as
 *                          sanitizer runtimes do), then as "basic" */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hakmem.h"

static atomic_int spins;

static void work(unsigned seed, int rounds)
{
    void *p[64] = {0};
    for (int r = 0; r < rounds; r++) {
        unsigned k = (seed = seed * 1103515245u + 12345u) >> 8 & 63;
        hak_free(p[k]);
        p[k] = hak_malloc(((seed >> 4) & 4095) + 1);
        if (!p[k])
            exit(3);
        memset(p[k], 1, 16);
    }
    for (int k = 0; k < 64; k++)
        hak_free(p[k]);
}

static void *spinner(void *arg)
{
    (void)arg;
    void *keep = hak_malloc(3 << 20);
    for (unsigned i = 0;; i++) {
        work(i, 100);
        atomic_fetch_add(&spins, 1);
        (void)keep;
    }
    return NULL;
}

static void *short_thread(void *arg)
{
    work((unsigned)(size_t)arg, 2000);
    return NULL;
}

/* Runs before any shared library's constructor, hakmem's and libc's
 * included; only for the "preinit" mode. */
static void early_alloc(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc > 1 && strcmp(argv[1], "preinit") == 0)
        hak_free(hak_malloc(24));
}
static void (*const early_alloc_entry)(int, char **, char **)
    __attribute__((section(".preinit_array"), used)) = early_alloc;

/* 48 MiB of 64 KiB blocks, written through (the cache and decay modes). */
enum { FILL_BLOCKS = 768, FILL_SIZE = 65536 };
static void *fill[FILL_BLOCKS];

static int fill_48mib(void)
{
    for (int i = 0; i < FILL_BLOCKS; i++) {
        fill[i] = hak_malloc(FILL_SIZE);
        if (!fill[i])
            return 3;
        memset(fill[i], 1, FILL_SIZE);
    }
    return 0;
}

/* Maps 48 MiB of 64 KiB blocks, frees them and prints what stays mapped
 * beyond the SuperSlabs in use; with decay, only after the memory has
 * been idle for over a second and a slab was set up. */
static int cache_run(int decay)
{
    struct hak_stats full, empty;
    if (fill_48mib() != 0)
        return 3;
    memset(&full, 0, sizeof full);
    if (hak_stats(&full, sizeof full) != 0 || full.superslabs_live == 0)
        return 5;
    for (int i = 0; i < FILL_BLOCKS; i++)
        hak_free(fill[i]);
    if (decay) {
        struct timespec idle = {1, 300 * 1000 * 1000};
        while (nanosleep(&idle, &idle) != 0)
            continue;
        /* A class not used yet: a slab is set up for it. */
        void *q = hak_malloc(3000);
        if (!q)
            return 3;
        hak_free(q);
    }
    memset(&empty, 0, sizeof empty);
    if (hak_stats(&empty, sizeof empty) != 0)
        return 5;
    /* bytes still mapped beyond the SuperSlabs still in use: the cache
     * (and freed slabs not yet given back), in KiB */
    unsigned long per_ss = (unsigned long)(full.bytes_mapped / full.superslabs_live);
    unsigned long kept =
        (unsigned long)empty.bytes_mapped > per_ss * (unsigned long)empty.superslabs_live
            ? ((unsigned long)empty.bytes_mapped - per_ss * (unsigned long)empty.superslabs_live) /
                  1024
            : 0;
    printf("cached=%lu kept_kib=%lu returned_kib=%lu in_use=%lu\n",
           (unsigned long)empty.superslabs_cached, kept,
           (unsigned long)(empty.bytes_returned / 1024), (unsigned long)empty.bytes_in_use);
    return 0;
}

/* 48 MiB of 64 KiB blocks, all freed but the first of each SuperSlab:
 * the SuperSlabs stay in use and their free slabs dirty, under the
 * budget.  After a second idle, giving back one more slab returns them. */
static int purge_run(void)
{
    const uintptr_t ss_mask = ~(uintptr_t)((2 << 20) - 1);
    int keep[FILL_BLOCKS], nkeep = 0;
    if (fill_48mib() != 0)
        return 3;
    for (int i = 0; i < FILL_BLOCKS; i++)
        if (nkeep == 0 ||
            ((uintptr_t)fill[keep[nkeep - 1]] & ss_mask) != ((uintptr_t)fill[i] & ss_mask))
            keep[nkeep++] = i;
    for (int i = 0, k = 0; i < FILL_BLOCKS; i++) {
        if (k < nkeep && keep[k] == i)
            k++;
        else
            hak_free(fill[i]);
    }
    struct hak_stats before, after;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    if (hak_stats(&before, sizeof before) != 0)
        return 5;
    struct timespec idle = {1, 300 * 1000 * 1000};
    while (nanosleep(&idle, &idle) != 0)
        continue;
    hak_free(fill[keep[0]]); /* its slab, not the current one, is given back */
    if (hak_stats(&after, sizeof after) != 0)
        return 5;
    printf("kept_ss=%d returned_before_kib=%lu returned_kib=%lu\n", nkeep,
           (unsigned long)(before.bytes_returned / 1024),
           (unsigned long)(after.bytes_returned / 1024));
    for (int k = 1; k < nkeep; k++)
        hak_free(fill[keep[k]]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "basic";
    if (strcmp(mode, "preinit") == 0)
        mode = "basic";
    if (strcmp(mode, "basic") == 0) {
        work(1, 5000);
        void *big = hak_malloc(2 << 20);
        void *live = hak_malloc(1000); /* still live at exit */
        if (!big || !live)
            return 3;
        hak_free(big);
        return 0;
    }
    if (strcmp(mode, "exit-thread") == 0) {
        pthread_t t;
        work(2, 1000);
        if (pthread_create(&t, NULL, spinner, NULL) != 0)
            return 4;
        /* make sure the thread is inside the allocator's loop */
        while (atomic_load(&spins) < 5)
            ;
        exit(0);
    }
    if (strcmp(mode, "threads") == 0) {
        pthread_t t[4];
        for (size_t i = 0; i < 4; i++)
            if (pthread_create(&t[i], NULL, short_thread, (void *)i) != 0)
                return 4;
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        return 0;
    }
    if (strcmp(mode, "cache") == 0)
        return cache_run(0);
    if (strcmp(mode, "decay") == 0)
        return cache_run(1);
    if (strcmp(mode, "decay-purge") == 0)
        return purge_run();
    fprintf(stdout, "usage: env_child basic|exit-thread|threads|cache|decay|decay-purge|preinit\n");
    return 2;
}
