/* pair.c - N malloc/free pairs of 32-39 byte blocks in one thread, for
 * counting instructions per pair under callgrind: the runner runs it with
 * two values of N and divides the difference, which cancels start-up and
 * the allocator's own initialisation.  With -w it also names the object
 * that malloc was bound to, so the runner can tell a preload that really
 * took effect from one the dynamic linker ignored.
 *
 * usage: pair [-w] N */
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

int main(int argc, char **argv)
{
    unsigned long long n, i;
    int which = argc > 1 && strcmp(argv[1], "-w") == 0;

    n = bench_arg(argc - which, argv + which, 1, 1000000, 0, 1ull << 40, "N", "[-w] N");
    if (which) {
        /* The address of malloc as this program resolves it, which is
         * the preloaded definition when LD_PRELOAD worked. */
        void *(*volatile fn)(size_t) = malloc;
        print_object_of(*(void *volatile *)&fn);
    }
    for (i = 0; i < n; i++) {
        void *p = malloc(32 + (i & 7));
        /* Without the escape the compiler may delete the pair. */
        BENCH_ESCAPE(p);
        free(p);
    }
    printf("pairs %llu\n", n);
    return 0;
}
