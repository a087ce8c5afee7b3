/* check_errors.c - misuse that hakmem must refuse loudly: freeing or
 * reallocating pointers it never handed out (stack, globals, raw mmap,
 * interior pointers of small and large blocks, another allocator's blocks)
 * and double frees.  Each must print one "hakmem: ..." line on stderr and
 * abort(); the signal is checked by check itself, the line by a forked
 * child whose stderr goes through a pipe. */
#include "config.h"

#include <pthread.h>
#include <semaphore.h>
#include <sys/mman.h>

#include "../test_check.h"

static char global_buf[256] __attribute__((aligned(64)));

/* ---- the kinds of bad pointers ----------------------------------------- */

enum bad_kind {
    BAD_STACK,
    BAD_GLOBAL,
    BAD_MMAP,
    BAD_MMAP_ALIGNED,
    BAD_SMALL_PLUS8,
    BAD_SMALL_PLUS16,
    BAD_LARGE_PLUS8,
    BAD_LARGE_PLUS4096,
    BAD_PAST_SPAN,
    BAD_PAST_SPAN_PARKED,
    BAD_UNCARVED,
    BAD_UNCARVED_REMOTE,
    BAD_METADATA,
    BAD_HIGH_ALIAS,
    BAD_FOREIGN_HEAP,
    BAD_NKINDS
};

static const char *const bad_names[BAD_NKINDS] = {
    "stack",    "global",          "mmap",       "mmap-aligned",    "small+8",
    "small+16", "large+8",         "large+4096", "past-span",       "parked-past-span",
    "uncarved", "remote-uncarved", "metadata",   "high-bits-alias", "libc-heap",
};

/* 48-byte blocks: a one-unit slab holds 1365 of them, and 16 bytes are
 * left over, so the offset of the block after the last one (65520) is a
 * multiple of the block size but no block. */
#define TAIL_BLOCK 48
#define TAIL_SPAN (65536 / TAIL_BLOCK * TAIL_BLOCK)

static void *past_span(void *p) { return (char *)((uintptr_t)p & ~(uintptr_t)0xffff) + TAIL_SPAN; }

static void *alloc_tail_block(void *arg)
{
    (void)arg;
    return hak_malloc(TAIL_BLOCK);
}

/* 2560-byte blocks: 25 to a one-unit slab, carved one at a time (they are
 * over half a page), so the slab's last block stays uncarved, never
 * handed out, until 25 were. */
#define FEW_BLOCK 2500
#define FEW_SLOT 2560
#define FEW_LAST (65536 / FEW_SLOT * FEW_SLOT - FEW_SLOT)

static void *last_in_slab(void *p)
{
    return (char *)((uintptr_t)p & ~(uintptr_t)0xffff) + FEW_LAST;
}

/* A thread that allocates blocks and then waits, owning their slab, until
 * it is told to exit (or forever: the forked child aborts first). */
struct owner {
    pthread_t thread;
    sem_t ready, go;
    void *blocks[3];
    /* Set: told to go, the owner frees blocks[0], posts this and stays
     * alive, owning the slab (the forked child exits first). */
    sem_t *freed;
};

static void *owner_main(void *arg)
{
    struct owner *o = arg;
    for (int i = 0; i < 3; i++)
        if ((o->blocks[i] = hak_malloc(FEW_BLOCK)) == NULL)
            _exit(3);
    sem_post(&o->ready);
    while (sem_wait(&o->go) != 0)
        continue;
    if (o->freed == NULL)
        return NULL;
    hak_free(test_opaque_ptr(o->blocks[0]));
    sem_post(o->freed);
    for (;;)
        pause();
}

static void owner_start(struct owner *o)
{
    ck_assert_int_eq(sem_init(&o->ready, 0, 0), 0);
    ck_assert_int_eq(sem_init(&o->go, 0, 0), 0);
    ck_assert_int_eq(pthread_create(&o->thread, NULL, owner_main, o), 0);
    while (sem_wait(&o->ready) != 0)
        continue;
}

/* Lets the owner exit (giving its slabs up) and waits for it. */
static void owner_exit(struct owner *o)
{
    sem_post(&o->go);
    pthread_join(o->thread, NULL);
}

/* Returns a pointer of the given kind that hakmem never handed out.  The
 * stack buffer lives in the caller's frame (passed in). */
static void *make_bad(enum bad_kind k, char *stack_buf)
{
    switch (k) {
    case BAD_STACK: return test_opaque_ptr(stack_buf + 16);
    case BAD_GLOBAL: return test_opaque_ptr(global_buf + 32);
    case BAD_MMAP: {
        char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert_msg(m != MAP_FAILED, "mmap: %s", strerror(errno));
        return m + 4096;
    }
    case BAD_MMAP_ALIGNED: {
        /* An address aligned like a SuperSlab base (we do not know its
         * size; 64 MiB covers any plausible one), in memory that reads
         * as zeros: metadata lookups by masking must not trust it. */
        size_t len = 128 * TEST_MiB, al = 64 * TEST_MiB;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        ck_assert_msg(m != MAP_FAILED, "mmap: %s", strerror(errno));
        uintptr_t a = ((uintptr_t)m + al - 1) & ~(uintptr_t)(al - 1);
        return (char *)a + 64;
    }
    case BAD_SMALL_PLUS8: {
        char *p = hak_malloc(64);
        ck_assert_ptr_nonnull(p);
        return p + 8;
    }
    case BAD_SMALL_PLUS16: {
        /* 16-aligned, so only the block size can tell it is not a block */
        char *p = hak_malloc(64);
        ck_assert_ptr_nonnull(p);
        return p + 16;
    }
    case BAD_LARGE_PLUS8: {
        char *p = hak_malloc(3 * TEST_MiB);
        ck_assert_ptr_nonnull(p);
        return p + 8;
    }
    case BAD_LARGE_PLUS4096: {
        char *p = hak_malloc(3 * TEST_MiB);
        ck_assert_ptr_nonnull(p);
        return p + 4096;
    }
    case BAD_PAST_SPAN: {
        /* Freed by the slab's owner. */
        void *p = hak_malloc(TAIL_BLOCK);
        ck_assert_ptr_nonnull(p);
        return past_span(p);
    }
    case BAD_PAST_SPAN_PARKED: {
        /* Freed into a slab whose owner exited: not the owner's path. */
        pthread_t t;
        void *p = NULL;
        ck_assert_int_eq(pthread_create(&t, NULL, alloc_tail_block, NULL), 0);
        ck_assert_int_eq(pthread_join(t, &p), 0);
        ck_assert_ptr_nonnull(p);
        return past_span(p);
    }
    case BAD_UNCARVED: {
        /* In a slab this thread owns: the owner's path. */
        void *p = hak_malloc(FEW_BLOCK);
        ck_assert_ptr_nonnull(p);
        return last_in_slab(p);
    }
    case BAD_UNCARVED_REMOTE: {
        /* In a slab a live thread owns: a remote free, refused before it
         * is pushed, so the error names free and not a later drain. */
        static struct owner o;
        owner_start(&o);
        return last_in_slab(o.blocks[0]);
    }
    case BAD_METADATA: {
        /* Into the first 64 KiB of a block's 2 MiB chunk, which hold its
         * SuperSlab's metadata, never blocks: 16-aligned, and a multiple
         * of every block size from the chunk's start. */
        void *p = hak_malloc(64);
        ck_assert_ptr_nonnull(p);
        return (char *)((uintptr_t)p & ~(uintptr_t)(2 * TEST_MiB - 1)) + 0x2000;
    }
    case BAD_HIGH_ALIAS: {
        /* A block's address with a bit set above the 47 a user address
         * uses: the same chunk number modulo the address space. */
        void *p = hak_malloc(64);
        ck_assert_ptr_nonnull(p);
        return test_opaque_ptr((void *)((uintptr_t)p | ((uintptr_t)1 << 52)));
    }
    case BAD_FOREIGN_HEAP: {
        /* Only meaningful when malloc is the C library's; in the override
         * build malloc is hakmem and this kind is skipped by the caller. */
        char *p = malloc(100);
        ck_assert_ptr_nonnull(p);
        return p;
    }
    case BAD_NKINDS: break;
    }
    ck_abort_msg("bad kind %d", (int)k);
    return NULL;
}

/* The foreign-heap kind is last: the override build, where malloc is
 * hakmem's, simply stops before it. */
static int n_kinds(void)
{
    return test_setting_yes("TEST_OVERRIDE") ? BAD_FOREIGN_HEAP : BAD_NKINDS;
}

/* ---- SIGABRT, checked by check itself ----------------------------------- */

/* _i is the loop index check passes to tcase_add_loop_test_raise_signal */
START_TEST(test_free_invalid_aborts)
{
    char buf[64];
    memset(buf, 0, sizeof buf);
    void *p = make_bad((enum bad_kind)_i, buf);
    hak_free(p);
    ck_abort_msg("hak_free(%s pointer %p) returned", bad_names[_i], p);
}
END_TEST

START_TEST(test_realloc_invalid_aborts)
{
    char buf[64];
    memset(buf, 0, sizeof buf);
    void *p = make_bad((enum bad_kind)_i, buf);
    void *q = hak_realloc(p, 200);
    ck_abort_msg("hak_realloc(%s pointer %p) returned %p", bad_names[_i], p, q);
}
END_TEST

START_TEST(test_double_free_small_aborts)
{
    void *p = hak_malloc(48);
    ck_assert_ptr_nonnull(p);
    hak_free(p);
    hak_free(test_opaque_ptr(p));
    ck_abort_msg("second hak_free(%p) returned", p);
}
END_TEST

/* ---- the message, checked through a pipe -------------------------------- */

struct bad_call {
    enum bad_kind kind;
    int realloc_call;
    void *ptr; /* filled by the child; not seen by the parent */
};

static void do_bad_call(void *arg)
{
    struct bad_call *c = arg;
    char buf[64];
    memset(buf, 0, sizeof buf);
    void *p = make_bad(c->kind, buf);
    /* tell the parent which address to expect, before hakmem's line */
    fprintf(stderr, "ptr=%p\n", p);
    fflush(stderr);
    if (c->realloc_call)
        (void)hak_realloc(p, 200);
    else
        hak_free(p);
}

/* Lines of out that hakmem wrote for the user: all but "ptr=" (ours) and
 * "hakmem-debug:" diagnostics of a debug-guards build. */
static unsigned user_lines(const char *out, char *first, size_t firstsz)
{
    unsigned n = 0;
    const char *line = out;
    first[0] = '\0';
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (strncmp(line, "ptr=", 4) != 0 && strncmp(line, "hakmem-debug:", 13) != 0) {
            if (n++ == 0) {
                size_t k = len < firstsz - 1 ? len : firstsz - 1;
                memcpy(first, line, k);
                first[k] = '\0';
            }
        }
        line += len + (end != NULL);
    }
    return n;
}

static void check_message(enum bad_kind kind, int realloc_call)
{
    struct bad_call c = {kind, realloc_call, NULL};
    struct test_child ch;
    const char *fn = realloc_call ? "hak_realloc" : "hak_free";
    test_run_child(do_bad_call, &c, &ch);

    ck_assert_msg(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGABRT,
                  "%s(%s pointer): child did not abort (status %#x), stderr: %s", fn,
                  bad_names[kind], (unsigned)ch.status, ch.err);

    unsigned long long want = 0;
    const char *pl = strstr(ch.err, "ptr=");
    ck_assert_msg(pl && sscanf(pl, "ptr=%llx", &want) == 1, "no ptr= line: %s", ch.err);

    /* The line names the function that was called and the pointer:
     * "hakmem: hak_free(): invalid pointer 0x..." (plain free() and
     * realloc() say "free():" and "realloc():", see check_override). */
    char first[512];
    char expect[64];
    snprintf(expect, sizeof expect, "hakmem: %s(): invalid pointer 0x", fn);
    unsigned n = user_lines(ch.err, first, sizeof first);
    ck_assert_msg(n == 1, "%s(%s pointer): want exactly one line on stderr, got %u:\n%s", fn,
                  bad_names[kind], n, ch.err);
    ck_assert_msg(strncmp(first, "hakmem: ", 8) == 0,
                  "%s(%s pointer): line does not start with \"hakmem: \": %s", fn, bad_names[kind],
                  first);
    const char *m = strstr(first, expect);
    ck_assert_msg(m != NULL, "%s(%s pointer): line lacks \"%s\": %s", fn, bad_names[kind], expect,
                  first);
    unsigned long long got = strtoull(m + strlen(expect), NULL, 16);
    ck_assert_msg(got == want, "%s(%s pointer): message names 0x%llx, pointer was 0x%llx", fn,
                  bad_names[kind], got, want);
}

START_TEST(test_free_invalid_message) { check_message((enum bad_kind)_i, 0); }
END_TEST

START_TEST(test_realloc_invalid_message) { check_message((enum bad_kind)_i, 1); }
END_TEST

struct double_free_arg {
    size_t size;
};

static void do_double_free(void *arg)
{
    const struct double_free_arg *a = arg;
    void *p = hak_malloc(a->size);
    void *q = hak_malloc(a->size);
    if (!p || !q)
        _exit(3);
    hak_free(p);
    hak_free(test_opaque_ptr(p));
    hak_free(q);
}

START_TEST(test_double_free_small_message)
{
    const size_t sizes[] = {1, 16, 48, 100, 1000, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct double_free_arg a = {sizes[i]};
        struct test_child ch;
        test_run_child(do_double_free, &a, &ch);
        ck_assert_msg(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGABRT,
                      "double free of a %zu-byte block: no abort (status %#x), stderr: %s",
                      sizes[i], (unsigned)ch.status, ch.err);
        char first[512];
        unsigned n = user_lines(ch.err, first, sizeof first);
        ck_assert_msg(n == 1 && strstr(first, "hakmem: ") && strstr(first, "double free"),
                      "double free of a %zu-byte block: want one \"hakmem: ... double "
                      "free\" line, got %u: %s",
                      sizes[i], n, ch.err);
    }
}
END_TEST

/* Double frees by a thread that does not own the block's slab: remote
 * chains are taken whole, not walked, so each way a double free can hide
 * in one must still end in an abort that says so. */
enum remote_double {
    REMOTE_OVERFLOW, /* more pushes than the slab has blocks: refused at the push */
    REMOTE_DRAIN,    /* more blocks back than are out: refused at the drain */
    REMOTE_RELEASE,  /* a cycle left in the free list: refused before the slab is reused */
};

static void do_remote_double_free(void *arg)
{
    enum remote_double how = *(const enum remote_double *)arg;
    struct owner o = {0};
    owner_start(&o);
    void *x = o.blocks[0];
    switch (how) {
    case REMOTE_OVERFLOW:
        for (int i = 0; i <= 65536 / FEW_SLOT; i++)
            hak_free(test_opaque_ptr(x));
        break;
    case REMOTE_DRAIN:
        hak_free(x);
        hak_free(test_opaque_ptr(x));
        hak_free(o.blocks[1]);
        hak_free(o.blocks[2]);
        owner_exit(&o); /* its exit drains the slab */
        break;
    case REMOTE_RELEASE:
        hak_free(x);
        hak_free(test_opaque_ptr(x));
        owner_exit(&o);        /* drains 2 of 3 out: the slab looks 1 short of empty */
        hak_free(o.blocks[1]); /* claims the parked slab, which then looks empty */
        break;
    }
}

START_TEST(test_remote_double_free_message)
{
    static const char *const names[] = {"overflow", "drain", "release"};
    enum remote_double how = (enum remote_double)_i;
    struct test_child ch;
    test_run_child(do_remote_double_free, &how, &ch);
    ck_assert_msg(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGABRT,
                  "remote double free (%s): no abort (status %#x), stderr: %s", names[how],
                  (unsigned)ch.status, ch.err);
    char first[512];
    unsigned n = user_lines(ch.err, first, sizeof first);
    ck_assert_msg(n == 1 && strstr(first, "hakmem: ") && strstr(first, "double free"),
                  "remote double free (%s): want one \"hakmem: ... double free\" line, got %u: %s",
                  names[how], n, ch.err);
}
END_TEST

/* ---- every double free of a small block, caught at the free itself ------ */

/* The steps of each case are announced on stderr ("at=N"), so the test
 * sees which free aborted; "returned" means the faulty free did not. */
enum at_free {
    AT_FREE_INTERLEAVED,  /* p, q; free p, free q, free p (the classic) */
    AT_FREE_DELAYED,      /* p freed, then many other blocks, then p again */
    AT_FREE_AFTER_REUSE,  /* p freed, reused as r, r freed, p freed again */
    AT_FREE_REMOTE_TWICE, /* another thread frees the owner's block twice */
    AT_FREE_REMOTE_LOCAL, /* another thread frees it, then its owner */
    AT_FREE_LOCAL_REMOTE, /* its owner frees it, then another thread */
    AT_FREE_AFTER_EXIT,   /* its owner frees it and exits, then another thread */
    AT_FREE_NCASES
};
static const char *const at_free_names[AT_FREE_NCASES] = {
    "interleaved",       "delayed",           "after-reuse",      "remote-twice",
    "remote-then-owner", "owner-then-remote", "after-owner-exit",
};

static void announce(int step)
{
    fprintf(stderr, "at=%d\n", step);
    fflush(stderr);
}

/* A thread that allocates three blocks, frees the first and exits: its
 * slab, with two live blocks, is left for the next thread that frees
 * into it. */
static void *free_first_and_exit(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 3; i++)
        if ((blocks[i] = hak_malloc(FEW_BLOCK)) == NULL)
            _exit(3);
    hak_free(test_opaque_ptr(blocks[0]));
    return NULL;
}

static void do_at_free(void *arg)
{
    enum at_free how = *(const enum at_free *)arg;
    void *p, *q, *r, *many[2000];
    switch (how) {
    case AT_FREE_INTERLEAVED:
        p = hak_malloc(48);
        q = hak_malloc(48);
        announce(1);
        hak_free(p);
        hak_free(q);
        announce(2);
        hak_free(test_opaque_ptr(p));
        break;
    case AT_FREE_DELAYED:
        p = hak_malloc(100);
        hak_free(p);
        for (int i = 0; i < 2000; i++)
            many[i] = hak_malloc(100 + (size_t)(i % 5) * 200);
        for (int i = 0; i < 2000; i += 2)
            hak_free(many[i]);
        announce(2);
        hak_free(test_opaque_ptr(p));
        break;
    case AT_FREE_AFTER_REUSE:
        p = hak_malloc(64);
        hak_free(p);
        r = hak_malloc(64); /* p again, the head of the list */
        hak_free(r);
        announce(2);
        hak_free(test_opaque_ptr(p));
        break;
    case AT_FREE_REMOTE_TWICE:
    case AT_FREE_REMOTE_LOCAL:
    case AT_FREE_LOCAL_REMOTE: {
        static struct owner o;
        static sem_t freed;
        sem_init(&freed, 0, 0);
        o.freed = &freed;
        owner_start(&o);
        p = o.blocks[0];
        if (how != AT_FREE_LOCAL_REMOTE) {
            announce(1);
            hak_free(p); /* a remote free */
        }
        if (how == AT_FREE_REMOTE_TWICE) {
            announce(2);
            hak_free(test_opaque_ptr(p));
            break;
        }
        if (how == AT_FREE_REMOTE_LOCAL)
            announce(2); /* the owner's free is the faulty one */
        sem_post(&o.go);
        while (sem_wait(&freed) != 0)
            continue;
        if (how == AT_FREE_LOCAL_REMOTE) {
            announce(2);
            hak_free(test_opaque_ptr(p));
        }
        break;
    }
    case AT_FREE_AFTER_EXIT: {
        static void *blocks[3];
        pthread_t t;
        if (pthread_create(&t, NULL, free_first_and_exit, blocks) != 0 ||
            pthread_join(t, NULL) != 0)
            _exit(3);
        announce(2);
        hak_free(test_opaque_ptr(blocks[0]));
        break;
    }
    case AT_FREE_NCASES: break;
    }
    fprintf(stderr, "returned\n");
}

START_TEST(test_double_free_caught_at_the_free)
{
    enum at_free how = (enum at_free)_i;
#if !defined(__x86_64__)
    /* Another thread can confirm a block is on its owner's list only where
     * stores become visible in program order; elsewhere this one is
     * caught before the block is handed out again. */
    if (how == AT_FREE_LOCAL_REMOTE)
        return;
#endif
    if (how == AT_FREE_LOCAL_REMOTE && TEST_TSAN)
        return; /* ThreadSanitizer builds do not read the owner's list */
    struct test_child ch;
    test_run_child(do_at_free, &how, &ch);
    ck_assert_msg(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGABRT,
                  "double free (%s): no abort (status %#x), stderr: %s", at_free_names[how],
                  (unsigned)ch.status, ch.err);
    ck_assert_msg(strstr(ch.err, "at=2") != NULL && strstr(ch.err, "returned") == NULL,
                  "double free (%s): not refused at the faulty free: %s", at_free_names[how],
                  ch.err);
    ck_assert_msg(strstr(ch.err, "hakmem: hak_free(): double free of 0x") != NULL,
                  "double free (%s): want \"hakmem: hak_free(): double free of 0x...\": %s",
                  at_free_names[how], ch.err);
}
END_TEST

/* The free key in user data is not taken for a double free: freed
 * blocks carry it, so a program may well copy it into a live block. */
static void do_key_in_data(void *arg)
{
    (void)arg;
    uint64_t *probe = hak_malloc(64);
    hak_free(probe);
    uint64_t key = probe[1]; /* what every free block holds: the key */
    uint64_t *blocks[512];
    for (int i = 0; i < 512; i++) {
        blocks[i] = hak_malloc(64);
        blocks[i][1] = key;
    }
    for (int i = 0; i < 512; i += 2) /* the owner's frees */
        hak_free(blocks[i]);
    struct owner o = {0};
    owner_start(&o);
    uint64_t *remote = o.blocks[1];
    remote[1] = key;
    hak_free(remote); /* another thread's free */
    for (int i = 1; i < 512; i += 2)
        hak_free(blocks[i]);
    owner_exit(&o);
    if (hak_check() != 0)
        _exit(4);
    fprintf(stderr, "returned\n");
}

START_TEST(test_key_in_user_data_is_no_double_free)
{
    struct test_child ch;
    test_run_child(do_key_in_data, NULL, &ch);
    ck_assert_msg(WIFEXITED(ch.status) && WEXITSTATUS(ch.status) == 0 &&
                      strstr(ch.err, "returned") != NULL,
                  "blocks holding the key refused (status %#x): %s", (unsigned)ch.status, ch.err);
}
END_TEST

/* A large block is unmapped on free: freeing it again is refused as well
 * (as a double free or as a pointer hakmem does not know). */
START_TEST(test_double_free_large_message)
{
    struct double_free_arg a = {3 * TEST_MiB};
    struct test_child ch;
    test_run_child(do_double_free, &a, &ch);
    ck_assert_msg(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGABRT,
                  "double free of a large block: no abort (status %#x), stderr: %s",
                  (unsigned)ch.status, ch.err);
    ck_assert_msg(strstr(ch.err, "hakmem: ") != NULL,
                  "double free of a large block: no hakmem line: %s", ch.err);
}
END_TEST

/* After all that, ordinary frees are not mistaken for invalid ones. */
START_TEST(test_valid_frees_accepted)
{
    const size_t sizes[] = {0, 1, 64, 4096, TEST_MiB, TEST_MiB + 1, 5 * TEST_MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = hak_malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        char *q = hak_aligned_alloc(4096, sizes[i] + 1);
        ck_assert_ptr_nonnull(q);
        q = hak_realloc(q, sizes[i] * 2 + 1);
        ck_assert_ptr_nonnull(q);
        hak_free(q);
        hak_free(p);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    const int nkinds = n_kinds();

    TCase *tc = tcase_create("abort");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test_raise_signal(tc, test_free_invalid_aborts, SIGABRT, 0, nkinds);
    tcase_add_loop_test_raise_signal(tc, test_realloc_invalid_aborts, SIGABRT, 0, nkinds);
    tcase_add_test_raise_signal(tc, test_double_free_small_aborts, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("message");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_free_invalid_message, 0, nkinds);
    tcase_add_loop_test(tc, test_realloc_invalid_message, 0, nkinds);
    tcase_add_test(tc, test_double_free_small_message);
    tcase_add_test(tc, test_double_free_large_message);
    tcase_add_loop_test(tc, test_remote_double_free_message, REMOTE_OVERFLOW, REMOTE_RELEASE + 1);
    tcase_add_test(tc, test_valid_frees_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("double-free-at-free");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_double_free_caught_at_the_free, 0, AT_FREE_NCASES);
    tcase_add_test(tc, test_key_in_user_data_is_no_double_free);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    test_no_core_dumps();
    return test_run_suite(errors_suite());
}
