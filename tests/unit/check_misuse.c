/* check_misuse.c - heap misuse, one class at a time, each in a forked
 * child whose exit and stderr are checked: writes past the end of small,
 * mid and large blocks, before the start, after a free (to the free-list
 * link and past it), double frees of four shapes and from other threads,
 * invalid frees, the read of a zero-size block; and the order blocks are
 * handed out in.  Built twice from this file: check_misuse against
 * libhakmem.so.1 (HK_HARDENED 0) and check_misuse_hardened against
 * libhakmem-hardened.so.1 (HK_HARDENED 1).  Each class states what each
 * library does, so the default build's column is asserted too: a class
 * it does not catch must run to the end, silently. */
#define _GNU_SOURCE
#include "config.h"

#include <alloca.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "../test_check.h"

#ifndef HK_HARDENED
#error "HK_HARDENED must be defined by tests/unit/local.mk"
#endif

/* How a child ends. */
enum outcome {
    RUNS_ON,   /* not caught: the child runs to its end, prints nothing of hakmem's */
    ABORTS,    /* one "hakmem: FN(): WHAT 0x<the pointer>..." line, then SIGABRT */
    FAULTS,    /* SIGSEGV at the bad access (a guard page) */
    UNCHECKED, /* no word of hakmem's: runs on, or faults on whatever follows */
};

/* The pointer the message must name, printed by the child first. */
static void name_ptr(const void *p)
{
    fprintf(stderr, "ptr=%p\n", p);
    fflush(stderr);
}

static void *alloc_or_exit(size_t n)
{
    void *p = hak_malloc(n);
    if (p == NULL)
        _exit(3);
    return p;
}

/* A small block not at the start of a 64 KiB unit (its slab's first
 * block has no block before it to check), with its neighbour allocated. */
static char *small_block_inside(size_t n)
{
    for (;;) {
        char *p = alloc_or_exit(n);
        if (((uintptr_t)p & 0xffff) != 0)
            return p;
    }
}

/* ---- the misuse classes -------------------------------------------------- */
/* The writes out of bounds go through test_opaque_ptr: with _FORTIFY_SOURCE
 * (Debian's builds) the C library would stop a memset it can see is too
 * long before the allocator is asked anything. */

static void overflow_1_small(void)
{
    char *p = alloc_or_exit(24);
    name_ptr(p);
    memset(test_opaque_ptr(p), 'x', test_opaque(24 + 1));
    hak_free(p);
}

static void overflow_1_exact(void)
{
    /* 32 bytes: the default library's block of 32 has no slack. */
    char *p = alloc_or_exit(32);
    name_ptr(p);
    p[test_opaque(32)] = 'x';
    hak_free(p);
}

static void overflow_1_slack(void)
{
    /* 20 bytes in a block with room for more: the byte after the 20th. */
    char *p = alloc_or_exit(20);
    name_ptr(p);
    p[test_opaque(20)] = 'x';
    hak_free(p);
}

static void overflow_32_mid(void)
{
    char *p = alloc_or_exit(5000);
    name_ptr(p);
    memset(test_opaque_ptr(p), 'x', test_opaque(5000 + 32));
    hak_free(p);
}

static void overflow_1mib_large(void)
{
    size_t n = 3 * TEST_MiB;
    char *p = alloc_or_exit(n);
    /* Map what lies after the block when nothing is there yet, so that
     * only a guard page stops the write. */
    char *end = p + hak_usable_size(p);
    (void)mmap(end, TEST_MiB + 4096, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    name_ptr(p);
    memset(test_opaque_ptr(p), 'x', test_opaque(n + TEST_MiB));
    hak_free(p);
}

static void underflow(void)
{
    char *p = small_block_inside(100);
    name_ptr(p);
    p[-(ptrdiff_t)test_opaque(1)] = 'x';
    hak_free(p);
}

static void write_after_free_at(size_t offset)
{
    char *p = alloc_or_exit(100);
    hak_free(p);
    name_ptr(p);
    /* A write that changes the byte: the link is random (it holds a
     * secret in the hardened library), and could hold 'x' already. */
    size_t i = test_opaque(offset);
    p[i] = (char)(p[i] ^ 0x40);
    /* The last block freed is the next one handed out. */
    char *q = alloc_or_exit(100);
    hak_free(q);
}

/* Word 0, the free-list link (the hardened library checks it before
 * following it). */
static void write_after_free_link(void) { write_after_free_at(0); }

/* Byte 20, in the hardened library's fill (bytes 16-23). */
static void write_after_free(void) { write_after_free_at(20); }

static void double_free_adjacent(void)
{
    char *p = alloc_or_exit(48);
    hak_free(p);
    name_ptr(p);
    hak_free(test_opaque_ptr(p));
}

static void double_free_interleaved(void)
{
    char *p = alloc_or_exit(48), *q = alloc_or_exit(48);
    hak_free(p);
    hak_free(q);
    name_ptr(p);
    hak_free(test_opaque_ptr(p));
}

static void double_free_delayed(void)
{
    char *p = alloc_or_exit(48);
    hak_free(p);
    void *keep[500];
    for (int i = 0; i < 500; i++)
        keep[i] = alloc_or_exit((size_t)(i % 7) * 100 + 200);
    for (int i = 0; i < 500; i++)
        hak_free(keep[i]);
    name_ptr(p);
    hak_free(test_opaque_ptr(p));
}

static void double_free_after_reuse(void)
{
    char *p = alloc_or_exit(48);
    hak_free(p);
    char *q = alloc_or_exit(48); /* p again: the last block freed */
    hak_free(q);
    name_ptr(p);
    hak_free(test_opaque_ptr(p));
}

static void double_free_mid(void)
{
    char *p = alloc_or_exit(20000), *q = alloc_or_exit(20000);
    hak_free(p);
    hak_free(q);
    name_ptr(p);
    hak_free(test_opaque_ptr(p));
}

/* Frees of a block the main thread allocated (and owns the slab of),
 * by another thread. */
static void *free_twice_thread(void *arg)
{
    hak_free(arg);
    name_ptr(arg);
    hak_free(test_opaque_ptr(arg));
    return NULL;
}

static void *free_once_thread(void *arg)
{
    name_ptr(arg);
    hak_free(test_opaque_ptr(arg));
    return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0 || pthread_join(t, NULL) != 0)
        _exit(3);
}

static void double_free_remote_twice(void)
{
    char *p = alloc_or_exit(48);
    alloc_or_exit(48); /* the slab keeps a live block */
    run_thread(free_twice_thread, p);
}

static void double_free_remote_then_owner(void)
{
    char *p = alloc_or_exit(48);
    alloc_or_exit(48);
    pthread_t t;
    if (pthread_create(&t, NULL, free_once_thread, p) != 0 || pthread_join(t, NULL) != 0)
        _exit(3);
    hak_free(test_opaque_ptr(p));
}

static void double_free_owner_then_remote(void)
{
    char *p = alloc_or_exit(48);
    alloc_or_exit(48);
    hak_free(p);
    run_thread(free_once_thread, p);
}

static void free_stack(void)
{
    char buf[64];
    memset(buf, 0, sizeof buf);
    name_ptr(buf + 16);
    hak_free(test_opaque_ptr(buf + 16));
}

static void free_alloca(void)
{
    char *a = alloca(test_opaque(64));
    memset(a, 0, 64);
    name_ptr(a);
    hak_free(test_opaque_ptr(a));
}

static void free_far(void)
{
    void *far = (void *)(uintptr_t)0x10000000000ull;
    name_ptr(far);
    hak_free(test_opaque_ptr(far));
}

static void free_unaligned(void)
{
    char *p = alloc_or_exit(64);
    name_ptr(p + 3);
    hak_free(test_opaque_ptr(p + 3));
}

static void free_interior(void)
{
    char *p = alloc_or_exit(64);
    name_ptr(p + 16);
    hak_free(test_opaque_ptr(p + 16));
}

static void free_interior_large(void)
{
    char *p = alloc_or_exit(3 * TEST_MiB);
    name_ptr(p + 4096);
    hak_free(test_opaque_ptr(p + 4096));
}

static void read_zero_size(void)
{
    volatile char *p = alloc_or_exit(test_opaque(0));
    name_ptr((const void *)p);
    char c = p[0];
    (void)c;
    hak_free((void *)p);
}

static void double_free_zero_size(void)
{
    void *p = alloc_or_exit(0);
    hak_free(p);
    name_ptr(p);
    hak_free(test_opaque_ptr(p));
}

/* The default library confirms that a block freed by its owner is on the
 * owner's list from another thread only where stores become visible in
 * program order (x86-64), and not in ThreadSanitizer builds; elsewhere
 * the free goes on, and a later drain or hand-out reports it. */
#if defined(__x86_64__) && !TEST_TSAN
#define OWNER_LIST_SEEN ABORTS
#else
#define OWNER_LIST_SEEN RUNS_ON
#endif

struct misuse {
    const char *name;
    void (*run)(void);
    enum outcome hardened, standard; /* libhakmem-hardened.so.1, libhakmem.so.1 */
    const char *what; /* in the line: "hakmem: hak_free(): WHAT 0x..." (malloc() for a
                         write after free, found when the block is handed out again) */
};

static const struct misuse misuses[] = {
    {"overflow by 1 byte (small)", overflow_1_small, ABORTS, RUNS_ON, "write past the end of"},
    {"overflow by 1 byte (exact size)", overflow_1_exact, ABORTS, RUNS_ON, "write past the end of"},
    {"overflow by 1 byte into slack", overflow_1_slack, ABORTS, RUNS_ON, "write past the end of"},
    {"overflow by 32 bytes (mid)", overflow_32_mid, ABORTS, RUNS_ON, "write past the end of"},
    {"overflow by 1 MiB (large)", overflow_1mib_large, FAULTS, UNCHECKED, NULL},
    {"underflow", underflow, ABORTS, RUNS_ON, "write before the start of"},
    {"write after free (link)", write_after_free_link, ABORTS, RUNS_ON, "write after free of"},
    {"write after free", write_after_free, ABORTS, RUNS_ON, "write after free of"},
    {"double free, adjacent", double_free_adjacent, ABORTS, ABORTS, "double free of"},
    {"double free, interleaved", double_free_interleaved, ABORTS, ABORTS, "double free of"},
    {"double free, delayed", double_free_delayed, ABORTS, ABORTS, "double free of"},
    {"double free, after reuse", double_free_after_reuse, ABORTS, ABORTS, "double free of"},
    {"double free, mid block", double_free_mid, ABORTS, ABORTS, "double free of"},
    {"double free by another thread", double_free_remote_twice, ABORTS, ABORTS, "double free of"},
    {"double free, another thread then owner", double_free_remote_then_owner, ABORTS, ABORTS,
     "double free of"},
    {"double free, owner then another thread", double_free_owner_then_remote, ABORTS,
     OWNER_LIST_SEEN, "double free of"},
    {"free of a stack address", free_stack, ABORTS, ABORTS, "invalid pointer"},
    {"free of alloca memory", free_alloca, ABORTS, ABORTS, "invalid pointer"},
    {"free of a far address", free_far, ABORTS, ABORTS, "invalid pointer"},
    {"free of an unaligned pointer", free_unaligned, ABORTS, ABORTS, "invalid pointer"},
    {"free of an interior pointer", free_interior, ABORTS, ABORTS, "invalid pointer"},
    {"free of an interior pointer (large)", free_interior_large, ABORTS, ABORTS, "invalid pointer"},
    {"read of a zero-size block", read_zero_size, FAULTS, RUNS_ON, NULL},
    {"double free of a zero-size block", double_free_zero_size, ABORTS, ABORTS, "double free of"},
};
#define N_MISUSES (int)(sizeof misuses / sizeof misuses[0])

static void run_misuse(void *arg)
{
    const struct misuse *m = arg;
    m->run();
    fprintf(stderr, "not caught\n");
}

/* The lines of err that are hakmem's ("hakmem: ..."; not the debug
 * diagnostics, nor a sanitizer's); the first one in first. */
static unsigned hakmem_lines(const char *err, char *first, size_t size)
{
    unsigned n = 0;
    first[0] = '\0';
    for (const char *line = err; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (strncmp(line, "hakmem: ", 8) == 0 && n++ == 0) {
            size_t k = len < size - 1 ? len : size - 1;
            memcpy(first, line, k);
            first[k] = '\0';
        }
        line += len + (end != NULL);
    }
    return n;
}

/* A library configured with --enable-debug-guards (config.h says so)
 * also catches this one, in its own words (one line naming the pointer):
 * its poison from byte 16 of a freed block on is checked when the block
 * is handed out again. */
static bool caught_by_debug_guards(const struct misuse *m)
{
#ifdef HAKMEM_DEBUG_GUARDS
    return !HK_HARDENED && m->run == write_after_free;
#else
    (void)m;
    return false;
#endif
}

START_TEST(test_misuse)
{
    const struct misuse *m = &misuses[_i];
    enum outcome want = HK_HARDENED ? m->hardened : m->standard;
    bool guards = caught_by_debug_guards(m);
    if (guards)
        want = ABORTS;
    const char *lib = HK_HARDENED ? "libhakmem-hardened" : "libhakmem";
    struct test_child ch;
    test_run_child(run_misuse, (void *)m, &ch);
    char first[512];
    unsigned lines = hakmem_lines(ch.err, first, sizeof first);

    switch (want) {
    case RUNS_ON:
        ck_assert_msg(WIFEXITED(ch.status) && WEXITSTATUS(ch.status) == 0 &&
                          strstr(ch.err, "not caught") && lines == 0,
                      "%s, %s: expected to go unnoticed, got status %#x, stderr:\n%s", m->name, lib,
                      (unsigned)ch.status, ch.err);
        break;
    case UNCHECKED:
        /* (A sanitizer's run-time reports a fault itself, and exits.) */
        ck_assert_msg(lines == 0 && ((WIFEXITED(ch.status) && WEXITSTATUS(ch.status) == 0) ||
                                     (WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGSEGV) ||
                                     (WIFEXITED(ch.status) && strstr(ch.err, "SEGV") != NULL)),
                      "%s, %s: expected no report, got status %#x, stderr:\n%s", m->name, lib,
                      (unsigned)ch.status, ch.err);
        break;
    case FAULTS:
        /* (A sanitizer's run-time reports the fault itself, and exits.) */
        ck_assert_msg((WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGSEGV) ||
                          (WIFEXITED(ch.status) && WEXITSTATUS(ch.status) != 0 &&
                           strstr(ch.err, "SEGV") != NULL),
                      "%s, %s: expected SIGSEGV, got status %#x, stderr:\n%s", m->name, lib,
                      (unsigned)ch.status, ch.err);
        break;
    case ABORTS: {
        ck_assert_msg(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGABRT,
                      "%s, %s: expected an abort, got status %#x, stderr:\n%s", m->name, lib,
                      (unsigned)ch.status, ch.err);
        ck_assert_msg(lines == 1, "%s, %s: expected one line, got %u:\n%s", m->name, lib, lines,
                      ch.err);
        unsigned long long ptr = 0;
        const char *pl = strstr(ch.err, "ptr=");
        ck_assert_msg(pl && sscanf(pl, "ptr=%llx", &ptr) == 1, "no ptr= line: %s", ch.err);
        char want_text[128];
        snprintf(want_text, sizeof want_text, "%s(): %s 0x%llx",
                 m->run == write_after_free || m->run == write_after_free_link ? "malloc"
                                                                               : "hak_free",
                 m->what, ptr);
        if (guards)
            snprintf(want_text, sizeof want_text, "0x%llx", ptr);
        ck_assert_msg(strncmp(first, "hakmem: ", 8) == 0 && strstr(first, want_text),
                      "%s, %s: the line should name the function and say \"%s\": %s", m->name, lib,
                      want_text, first);
        break;
    }
    }
}
END_TEST

/* ---- heap layout --------------------------------------------------------- */

/* Blocks of one class carved in a fresh child: each one's place in its
 * run of blocks, in the order handed out, printed as offsets from the
 * lowest. */
#define LAYOUT_BLOCKS 96
#define LAYOUT_SIZE 3000 /* a class no other allocation here uses */

static void print_layout(void *arg)
{
    (void)arg;
    char *b[LAYOUT_BLOCKS], *low;
    for (int i = 0; i < LAYOUT_BLOCKS; i++)
        b[i] = alloc_or_exit(LAYOUT_SIZE);
    low = b[0];
    for (int i = 1; i < LAYOUT_BLOCKS; i++)
        if (b[i] < low)
            low = b[i];
    for (int i = 0; i < LAYOUT_BLOCKS; i++)
        fprintf(stderr, "%td ", b[i] - low);
    fprintf(stderr, "\n");
}

/* The hardened library hands out the blocks of a page in a random order
 * of its own in each process; the default one in address order. */
START_TEST(test_layout)
{
    struct test_child one, two;
    test_run_child(print_layout, NULL, &one);
    test_run_child(print_layout, NULL, &two);
    ck_assert_msg(WIFEXITED(one.status) && WEXITSTATUS(one.status) == 0 && WIFEXITED(two.status) &&
                      WEXITSTATUS(two.status) == 0,
                  "layout children: %#x %#x", (unsigned)one.status, (unsigned)two.status);
    long prev = -1;
    unsigned ascending = 1, n = 0;
    for (const char *q = one.err; *q != '\n' && *q != '\0'; n++) {
        char *end;
        long off = strtol(q, &end, 10);
        ck_assert_msg(end != q, "layout: %s", one.err);
        ascending &= off > prev;
        prev = off;
        q = end + 1;
    }
    ck_assert_int_eq(n, LAYOUT_BLOCKS);
    if (HK_HARDENED) {
        ck_assert_msg(!ascending, "hardened: blocks in address order: %s", one.err);
        ck_assert_msg(strcmp(one.err, two.err) != 0, "hardened: two processes, one layout: %s",
                      one.err);
    } else {
        ck_assert_msg(ascending, "default: blocks not in address order: %s", one.err);
    }
}
END_TEST

int main(void)
{
    test_no_core_dumps();
    Suite *s = suite_create(HK_HARDENED ? "misuse (hardened)" : "misuse (default)");
    TCase *tc = tcase_create("misuse");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_misuse, 0, N_MISUSES);
    tcase_add_test(tc, test_layout);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
