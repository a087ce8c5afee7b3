/* fuzz_ops.c - reads its input as allocator operations (hak_malloc, free,
 * realloc, aligned_alloc, calloc, posix_memalign, usable_size) on a table
 * of 64 slots, interpreted by 2-4 threads at once, each its own slice of
 * the input; any op may free or realloc a block another thread made.
 * Every block is stamped and verified before it is freed or resized;
 * after each input every block is freed, hak_check() must be 0 and the
 * statistics must be back where they were.
 *
 * Built twice (local.mk): with clang -fsanitize=fuzzer as a libFuzzer
 * target ("make fuzz", run-fuzz.sh), linked with the library sources
 * minus override.c (the hak_* API alone, so libFuzzer keeps the C
 * library's malloc); and with -DFUZZ_REPLAY as a plain program for make
 * check that runs every file of tests/fuzz/corpus/ through the same
 * function. */
#define _GNU_SOURCE
#include "../test_util.h"

#include <dirent.h>
#include <stdbool.h>
#include <pthread.h>
#include <sys/stat.h>

#define NSLOTS 64
#define MAX_THREADS 4
#define OP_BYTES 4
/* Blocks are stamped over their first and last STAMP_SPAN bytes only, so
 * multi-megabyte blocks cost a few microseconds, not a page fault storm. */
#define STAMP_SPAN 4096

struct fslot {
    pthread_mutex_t lock;
    void *p;
    size_t size; /* bytes stamped */
    uint64_t tag;
};

static struct fslot fslots[NSLOTS];
static atomic_uint_fast64_t fuzz_tag;
static const char *current_input = "(libFuzzer input)";

__attribute__((format(printf, 1, 2), noreturn)) static void fuzz_fail(const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "fuzz_ops: %s: %s\n", current_input, line);
    /* abort, not exit: libFuzzer then keeps the input as a crash */
    abort();
}

/* ---- stamps over the head and tail of a block ------------------------------ */

static void fstamp(void *p, size_t size, uint64_t tag) { test_fill_ends(p, size, STAMP_SPAN, tag); }

/* Checks the stamp of a block stamped with `size` bytes, only below
 * `limit` (a realloc keeps the first min(old, new) bytes). */
static void fverify(const void *p, size_t size, size_t limit, uint64_t tag, const char *what)
{
    size_t head = size < STAMP_SPAN ? size : STAMP_SPAN;
    size_t tail = size - head > STAMP_SPAN ? size - STAMP_SPAN : head;
    size_t end = size < limit ? size : limit;
    size_t bad = test_verify_range(p, 0, head < end ? head : end, tag);
    if (bad == SIZE_MAX)
        bad = test_verify_range(p, tail, end, tag);
    if (bad != SIZE_MAX)
        fuzz_fail("%s: block %p of %zu bytes corrupted at offset %zu", what, p, size, bad);
}

/* Every block: aligned to at least 16, and at least `size` usable. */
static void check_new(void *p, size_t size, size_t align, const char *what)
{
    if (align < 16)
        align = 16;
    if (((uintptr_t)p & (align - 1)) != 0)
        fuzz_fail("%s(%zu) returned %p, not aligned to %zu", what, size, p, align);
    size_t usable = hak_usable_size(p);
    if (usable < size)
        fuzz_fail("%s(%zu) returned %p with only %zu usable bytes", what, size, p, usable);
}

/* ---- decoding ----------------------------------------------------------- */

/* 16 bits to a size: mostly small, some medium, a few up to 1 MiB and
 * beyond (mapped alone).  Big blocks are kept rare: the debug-guards
 * build poisons and checks every byte of a freed small block. */
static size_t decode_size(unsigned v)
{
    switch (v >> 13) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4: return v & 0x3ff;                                       /* 0..1023 */
    case 5: return v & 0x1fff;                                      /* 0..8191 */
    case 6: return (size_t)(v & 0xfff) << 8;                        /* ..1 MiB */
    default: return ((size_t)1 << 20) + (size_t)(v & 0x1fff) * 256; /* 1..3 MiB */
    }
}

static void slot_release(struct fslot *s, const char *what)
{
    if (s->p == NULL)
        return;
    fverify(s->p, s->size, SIZE_MAX, s->tag, what);
    hak_free(s->p);
    s->p = NULL;
}

static void slot_store(struct fslot *s, void *p, size_t size)
{
    s->p = p;
    s->size = size;
    s->tag = atomic_fetch_add(&fuzz_tag, 1) + 1;
    fstamp(p, size, s->tag);
}

/* One operation: 4 bytes (op+flags, slot, size low, size high). */
static void run_op(const uint8_t *op)
{
    unsigned kind = op[0] & 7, flags = op[0] >> 3;
    struct fslot *s = &fslots[op[1] % NSLOTS];
    size_t size = decode_size((unsigned)op[2] | (unsigned)op[3] << 8);
    void *p = NULL;

    pthread_mutex_lock(&s->lock);
    switch (kind) {
    case 0: /* malloc */
        slot_release(s, "free before malloc");
        p = hak_malloc(size);
        if (p == NULL)
            fuzz_fail("hak_malloc(%zu) failed: %s", size, strerror(errno));
        check_new(p, size, 16, "hak_malloc");
        slot_store(s, p, size);
        break;
    case 1: { /* calloc, sometimes with a product that overflows */
        slot_release(s, "free before calloc");
        size_t n = 1 + (flags & 7);
        if (flags >= 28) {
            errno = 0;
            p = hak_calloc(SIZE_MAX / n + 1, n + 1);
            if (p != NULL || errno != ENOMEM)
                fuzz_fail("hak_calloc overflow: %p, errno %d", p, errno);
            break;
        }
        size_t each = size / n;
        p = hak_calloc(n, each);
        if (p == NULL)
            fuzz_fail("hak_calloc(%zu, %zu) failed: %s", n, each, strerror(errno));
        check_new(p, n * each, 16, "hak_calloc");
        for (size_t i = 0; i < n * each; i++)
            if (((unsigned char *)p)[i] != 0)
                fuzz_fail("hak_calloc(%zu, %zu) = %p: byte %zu not zero", n, each, p, i);
        slot_store(s, p, n * each);
        break;
    }
    case 2: { /* realloc, of this or another thread's block, or of NULL */
        (void)flags;
        if (s->p != NULL)
            fverify(s->p, s->size, SIZE_MAX, s->tag, "realloc (before)");
        if (size == 0 && s->p != NULL) {
            /* glibc semantics: realloc(p, 0) frees p and returns NULL */
            p = hak_realloc(s->p, 0);
            if (p != NULL)
                fuzz_fail("hak_realloc(p, 0) returned %p, not NULL", p);
            s->p = NULL;
            break;
        }
        size_t old = s->p != NULL ? s->size : 0;
        p = hak_realloc(s->p, size);
        if (p == NULL)
            fuzz_fail("hak_realloc(%p, %zu) failed: %s", s->p, size, strerror(errno));
        check_new(p, size, 16, "hak_realloc");
        if (old != 0)
            fverify(p, old, size, s->tag, "realloc (kept bytes)");
        slot_store(s, p, size);
        break;
    }
    case 3: { /* aligned_alloc, alignments 1..1 MiB, sometimes not a power of two */
        slot_release(s, "free before aligned_alloc");
        size_t align = (size_t)1 << (flags % 21);
        if (flags >= 21) {
            size_t bad = align * 3;
            errno = 0;
            p = hak_aligned_alloc(bad, size);
            if (p != NULL || errno != EINVAL)
                fuzz_fail("hak_aligned_alloc(%zu, %zu): %p, errno %d", bad, size, p, errno);
            break;
        }
        p = hak_aligned_alloc(align, size);
        if (p == NULL)
            fuzz_fail("hak_aligned_alloc(%zu, %zu) failed: %s", align, size, strerror(errno));
        check_new(p, size, align, "hak_aligned_alloc");
        slot_store(s, p, size);
        break;
    }
    case 4: { /* posix_memalign, sometimes with an invalid alignment */
        slot_release(s, "free before posix_memalign");
        size_t align = (size_t)8 << (flags % 18);
        void *out = &fslots; /* must stay untouched on error */
        if (flags >= 24) {
            size_t bad = flags & 1 ? 4 : align + 8;
            errno = 1234;
            int rc = hak_posix_memalign(&out, bad, size);
            if (rc != EINVAL || out != &fslots || errno != 1234)
                fuzz_fail("hak_posix_memalign(%zu, %zu) = %d, errno %d", bad, size, rc, errno);
            break;
        }
        errno = 1234;
        int rc = hak_posix_memalign(&out, align, size);
        if (rc != 0 || errno != 1234)
            fuzz_fail("hak_posix_memalign(%zu, %zu) = %d, errno %d", align, size, rc, errno);
        check_new(out, size, align, "hak_posix_memalign");
        slot_store(s, out, size);
        break;
    }
    case 5: /* free */ slot_release(s, "free"); break;
    case 6: /* the whole usable size is the caller's to write */
        if (s->p != NULL) {
            fverify(s->p, s->size, SIZE_MAX, s->tag, "usable size (before)");
            size_t u = hak_usable_size(s->p);
            if (u < s->size)
                fuzz_fail("hak_usable_size(%p) = %zu < %zu", s->p, u, s->size);
            slot_store(s, s->p, u);
        } else if (hak_usable_size(NULL) != 0) {
            fuzz_fail("hak_usable_size(NULL) != 0");
        }
        break;
    default: { /* move a block from another slot here (frees this one) */
        struct fslot *from = &fslots[(op[1] + 1 + op[2]) % NSLOTS];
        if (from == s)
            break;
        slot_release(s, "free before move");
        /* lock order by address: two movers never wait on each other */
        pthread_mutex_unlock(&s->lock);
        struct fslot *a = from < s ? from : s, *b = from < s ? s : from;
        pthread_mutex_lock(&a->lock);
        pthread_mutex_lock(&b->lock);
        if (s->p == NULL && from->p != NULL) {
            s->p = from->p;
            s->size = from->size;
            s->tag = from->tag;
            from->p = NULL;
        }
        pthread_mutex_unlock(&b->lock);
        pthread_mutex_unlock(&a->lock);
        return;
    }
    }
    pthread_mutex_unlock(&s->lock);
}

struct slice {
    const uint8_t *data;
    size_t len;
};

static void *run_slice(void *arg)
{
    struct slice *sl = arg;
    for (size_t i = 0; i + OP_BYTES <= sl->len; i += OP_BYTES)
        run_op(sl->data + i);
    return NULL;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_slots(void)
{
    for (int i = 0; i < NSLOTS; i++)
        pthread_mutex_init(&fslots[i].lock, NULL);
}

/* The whole test of one input. */
static void fuzz_one(const uint8_t *data, size_t size)
{
    pthread_once(&init_once, init_slots);
    if (size < 1)
        return;
    struct hak_stats before = test_stats();
    unsigned nthreads = 2 + data[0] % (MAX_THREADS - 1);
    data++;
    size--;
    /* each thread gets a contiguous, whole-op slice */
    size_t ops = size / OP_BYTES, per = ops / nthreads;
    struct slice sl[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    for (unsigned t = 0; t < nthreads; t++) {
        size_t first = t * per, n = t + 1 == nthreads ? ops - first : per;
        sl[t] = (struct slice){data + first * OP_BYTES, n * OP_BYTES};
        if (pthread_create(&tid[t], NULL, run_slice, &sl[t]) != 0)
            fuzz_fail("pthread_create failed");
    }
    for (unsigned t = 0; t < nthreads; t++)
        pthread_join(tid[t], NULL);

    for (int i = 0; i < NSLOTS; i++)
        slot_release(&fslots[i], "final free");
    if (hak_check() != 0)
        fuzz_fail("hak_check() failed");
    struct hak_stats after = test_stats();
    if (test_net_blocks(&after) != test_net_blocks(&before))
        fuzz_fail("statistics do not balance: %lld blocks live before, %lld after",
                  (long long)test_net_blocks(&before), (long long)test_net_blocks(&after));
    if (after.large_live != before.large_live)
        fuzz_fail("large blocks live: %llu before, %llu after",
                  (unsigned long long)before.large_live, (unsigned long long)after.large_live);
}

#ifndef FUZZ_REPLAY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(data, size);
    return 0;
}

#else /* the replay program of make check */

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz_ops: cannot open %s\n", path);
        return -1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    current_input = path;
    fuzz_one(buf, n);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name), ran = 0;
    if (n < 0) {
        fprintf(stderr, "fuzz_ops: cannot read %s: %s\n", dir, strerror(errno));
        return -1;
    }
    unsigned corpus = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        /* TSan runs this 20 times slower: there, a quarter of the grown
         * corpus (every seed and regression input still runs). */
        bool thin = TEST_TSAN && strncmp(names[i]->d_name, "corpus-", 7) == 0 && corpus++ % 4 != 0;
        if (names[i]->d_name[0] != '.' && !thin && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0)
                return -1;
            ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

/* The seed corpus: a few hand-made sequences (make fuzz-seeds). */
static void write_seed(const char *dir, const char *name, const uint8_t *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(d, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "fuzz_ops: cannot write %s\n", path);
        exit(TEST_EXIT_HARD);
    }
}

static size_t put_op(uint8_t *d, size_t at, unsigned kind, unsigned flags, unsigned slot,
                     unsigned v)
{
    d[at] = (uint8_t)(kind | flags << 3);
    d[at + 1] = (uint8_t)slot;
    d[at + 2] = (uint8_t)v;
    d[at + 3] = (uint8_t)(v >> 8);
    return at + OP_BYTES;
}

static void write_seeds(const char *dir)
{
    static uint8_t d[8192];
    uint64_t rng = test_seed(7);
    size_t n;

    /* every kind of op once per slot, small sizes, two threads */
    n = 0;
    d[n++] = 0;
    for (unsigned k = 0; k < 8; k++)
        for (unsigned s = 0; s < 16; s++)
            n = put_op(d, n, k, s, s, 16 * (s + 1));
    write_seed(dir, "seed-every-op", d, n);

    /* allocate in one thread, free in the others (remote frees) */
    n = 0;
    d[n++] = 2;
    for (unsigned t = 0; t < 4; t++)
        for (unsigned s = 0; s < 64; s++)
            n = put_op(d, n, t == 0 ? 0 : (t == 1 ? 2 : 5), 0, (s + 16 * t) % 64,
                       (unsigned)(test_rand(&rng) % 1024));
    write_seed(dir, "seed-remote-free", d, n);

    /* large blocks and their reallocs (sizes in the 1..5 MiB band) */
    n = 0;
    d[n++] = 1;
    for (unsigned s = 0; s < 24; s++)
        n = put_op(d, n, s % 3 == 0 ? 0 : 2, 0, s % 8,
                   0xe000 | (unsigned)(test_rand(&rng) & 0x1fff));
    write_seed(dir, "seed-large-realloc", d, n);

    /* alignments, valid and invalid, and calloc overflow */
    n = 0;
    d[n++] = 0;
    for (unsigned f = 0; f < 32; f++) {
        n = put_op(d, n, 3, f, f, 100 + 37 * f);
        n = put_op(d, n, 4, f, 32 + f, 300 + 51 * f);
        n = put_op(d, n, 1, f, f, 64 * f);
    }
    write_seed(dir, "seed-align", d, n);

    /* random mixture, four threads */
    n = 0;
    d[n++] = 2;
    while (n + OP_BYTES <= 4096) {
        uint64_t r = test_rand(&rng);
        n = put_op(d, n, (unsigned)(r & 7), (unsigned)(r >> 3) & 31, (unsigned)(r >> 8) & 63,
                   (unsigned)(r >> 16) & 0xffff);
    }
    write_seed(dir, "seed-random", d, n);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "-w") == 0) {
        write_seeds(argv[2]);
        return 0;
    }
    test_warm_up_threads(8);
    int total = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            struct stat st;
            int r = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)
                        ? replay_dir(argv[i])
                        : (replay_file(argv[i]) ? -1 : 1);
            if (r < 0)
                return TEST_EXIT_HARD;
            total += r;
        }
    } else {
        /* make check: the corpus of the source tree */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus", test_setting("TEST_SRCDIR"));
        total = replay_dir(dir);
        if (total < 0)
            return TEST_EXIT_HARD;
    }
    if (total == 0) {
        fprintf(stderr, "fuzz_ops: no input found\n");
        return TEST_EXIT_HARD;
    }
    printf("fuzz_ops: %d inputs replayed, all consistent\n", total);
    return 0;
}

#endif
