/* pair.c - N malloc/free pairs of 32-39 byte blocks in one thread, for
 * counting instructions per pair under callgrind: the runner runs it with
 * two values of N and divides the difference, which cancels start-up and
 * the allocator's own initialisation.  With -w it also names the object
 * that malloc was bound to, so the runner can tell a preload that really
 * took effect from one the dynamic linker ignored.
 *
 * -l LIVE (default 64) first allocates LIVE blocks of the same sizes and
 * keeps them until the end, as a program keeps its other objects: then a
 * free never empties its slab or page, which is what programs see.  With
 * -l 0 the block freed is the only live one of its class, so every free
 * empties its page: some allocators (mimalloc) then take their
 * empty-page path on every free, which flatters the others.  The runner
 * reports both, as pair-callgrind and pair-empty-callgrind.
 *
 * usage: pair [-w] [-l LIVE] N */
#include "bench_common.h"

#include <string.h>

/* Prints the file mapped at addr, from /proc/self/maps: no libdl needed,
 * whatever the C library version. */
static void print_object_of(const void *addr)
{
    char line[4096];
    FILE *maps = fopen("/proc/self/maps", "r");
    uintptr_t a = (uintptr_t)addr;

    while (maps != NULL && fgets(line, sizeof line, maps) != NULL) {
        unsigned long lo, hi;
        char *path;
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || a < lo || a >= hi)
            continue;
        path = strchr(line, '/');
        if (path != NULL) {
            path[strcspn(path, "\n")] = '\0';
            printf("malloc from %s\n", path);
            fclose(maps);
            return;
        }
    }
    if (maps != NULL)
        fclose(maps);
    printf("malloc from unknown\n");
}

#define USAGE "[-w] [-l LIVE] N"
#define MAX_LIVE 4096

int main(int argc, char **argv)
{
    static void *live[MAX_LIVE];
    unsigned long long n, i, nlive = 64;
    int which = 0, arg = 1;

    for (; arg < argc && argv[arg][0] == '-'; arg++) {
        if (strcmp(argv[arg], "-w") == 0) {
            which = 1;
        } else if (strcmp(argv[arg], "-l") == 0 && arg + 1 < argc) {
            nlive = bench_arg(argc, argv, ++arg, 64, 0, MAX_LIVE, "LIVE", USAGE);
        } else {
            fprintf(stderr, "usage: %s %s\n", argv[0], USAGE);
            return 2;
        }
    }
    n = bench_arg(argc - (arg - 1), argv + (arg - 1), 1, 1000000, 0, 1ull << 40, "N", USAGE);
    if (which) {
        /* The address of malloc as this program resolves it, which is
         * the preloaded definition when LD_PRELOAD worked. */
        void *(*volatile fn)(size_t) = malloc;
        print_object_of(*(void *volatile *)&fn);
    }
    /* The same sizes as the loop, so the same classes: the loop's blocks
     * share slabs (pages) with these. */
    for (i = 0; i < nlive; i++)
        live[i] = bench_xmalloc(32 + (i & 7));
    for (i = 0; i < n; i++) {
        void *p = malloc(32 + (i & 7));
        /* Without the escape the compiler may delete the pair. */
        BENCH_ESCAPE(p);
        free(p);
    }
    for (i = 0; i < nlive; i++)
        free(live[i]);
    printf("pairs %llu\n", n);
    return 0;
}
