/* slab_ownership.c - no thread drains a slab it does not own: a slab's
 * free list is touched only by its owner, and a thread that drained the
 * remote stack of a slab it did not own would corrupt it.  Many threads
 * on two cores pass blocks to each other through a shared slot array, so
 * nearly every free is a remote free into a slab another thread owns,
 * while threads keep exiting and being replaced, so their slabs are
 * abandoned, adopted by allocating threads and reclaimed by freeing ones.
 *
 * Every block carries an owner/sequence fill over its whole length,
 * verified before it is freed: a block handed out twice, or a free-list
 * link written into a live block, is caught.  After each generation (all
 * threads joined) hak_check() must be 0 and hak_stats must balance:
 * allocs - frees equals the blocks the slot array still holds.
 *
 * The same source is linked with several libraries (local.mk), and the
 * program's name says which: slab_ownership the configured library,
 * slab_ownership_guard a debug-guards build of the same sources (the
 * library asserts ownership before every drain), and the _unowned_drain
 * variants builds with the HAKMEM_TEST_UNOWNED_DRAIN hook, which drains
 * without owning and which this program must catch
 * (unowned-drain-caught.sh).
 *
 * Usage: slab_ownership [-t threads] [-g generations] [-l lives] [-o ops]
 *                       [-s slots] [-S seed] [-c cpus] [-q]
 * Defaults are the short form run by make check (a few seconds); in a
 * TSan build each thread lives 800 operations instead of 3000. */
#define _GNU_SOURCE
#include "../test_util.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

struct slot {
    pthread_mutex_t lock;
    void *p;
    size_t size;
    uint64_t tag;
};

static struct slot *slots;
static size_t nslots = 2048;
static long nthreads = 32, ngens = 4, nlives = 3, nops = TEST_TSAN ? 800 : 3000;
static uint64_t seed = 1;
static int quiet;

/* Tags: life number << 24 | sequence within the life; lives are numbered
 * from 1 across the whole run, so no two blocks share a tag. */
static atomic_uint_fast64_t next_life;
static atomic_uint_fast64_t total_ops;

struct held {
    void *p;
    size_t size;
    uint64_t tag;
};

static void check_block(const struct held *h, const char *what)
{
    size_t off = test_verify(h->p, h->size, h->tag);
    if (off != SIZE_MAX) {
        uint64_t w0 = test_filled_tag(h->p); /* who else filled it */
        test_fail(
            "%s: block %p (%zu bytes) stamped by life %llu seq %llu is wrong at offset %zu;"
            " word 0 now names tag %#llx (life %llu seq %llu): handed out twice or overwritten",
            what, h->p, h->size, (unsigned long long)(h->tag >> 24),
            (unsigned long long)(h->tag & 0xffffff), off, (unsigned long long)w0,
            (unsigned long long)(w0 >> 24), (unsigned long long)(w0 & 0xffffff));
    }
    size_t usable = hak_usable_size(h->p);
    if (usable < h->size)
        test_fail("%s: block %p of %zu bytes reports %zu usable", what, h->p, h->size, usable);
}

/* Mostly small sizes (many blocks per slab, so owner and remote freers
 * meet on the same slabs), some medium, a few up to 64 KiB. */
static size_t pick_size(uint64_t *rng)
{
    uint64_t r = test_rand(rng);
    unsigned band = (unsigned)(r % 100);
    r >>= 8;
    if (band < 70)
        return 16 + r % 241;
    if (band < 92)
        return 257 + r % 1792;
    if (band < 99)
        return 2049 + r % 14336;
    return 16385 + r % 49152;
}

static struct held new_block(uint64_t *rng, uint64_t life, uint64_t *seq)
{
    struct held h = {NULL, pick_size(rng), life << 24 | (++*seq & 0xffffff)};
    unsigned how = (unsigned)(test_rand(rng) % 20);
    if (how == 0) {
        h.p = hak_calloc(1, h.size);
        if (h.p != NULL)
            for (size_t i = 0; i < h.size; i++)
                if (((unsigned char *)h.p)[i] != 0)
                    test_fail("hak_calloc(%zu) block %p not zero at %zu", h.size, h.p, i);
    } else if (how == 1) {
        h.p = hak_aligned_alloc((size_t)64 << (test_rand(rng) % 3), h.size);
    } else if (how == 2) {
        size_t align = (size_t)16 << (test_rand(rng) % 6);
        int rc = hak_posix_memalign(&h.p, align, h.size);
        if (rc != 0)
            test_fail("hak_posix_memalign(%zu, %zu) returned %d", align, h.size, rc);
        if (((uintptr_t)h.p & (align - 1)) != 0)
            test_fail("hak_posix_memalign(%zu) gave %p", align, h.p);
    } else {
        h.p = hak_malloc(h.size);
    }
    if (h.p == NULL)
        test_fail("allocation of %zu bytes failed: %s", h.size, strerror(errno));
    test_fill(h.p, h.size, h.tag);
    return h;
}

/* Puts h (or nothing) into slot k and returns what the slot held. */
static struct held slot_swap(size_t k, struct held h)
{
    struct slot *s = &slots[k];
    pthread_mutex_lock(&s->lock);
    struct held old = {s->p, s->size, s->tag};
    s->p = h.p;
    s->size = h.size;
    s->tag = h.tag;
    pthread_mutex_unlock(&s->lock);
    return old;
}

static void free_held(struct held *h, const char *what)
{
    if (h->p == NULL)
        return;
    check_block(h, what);
    hak_free(h->p);
    h->p = NULL;
}

/* A thread's whole life: ops operations, then hak_check on its own slabs
 * and exit (its heap is retired and its slabs abandoned). */
static void *worker(void *arg)
{
    (void)arg;
    uint64_t life = atomic_fetch_add(&next_life, 1) + 1;
    uint64_t rng = test_seed(seed * 1000003u + life), seq = 0;
    for (long i = 0; i < nops; i++) {
        uint64_t r = test_rand(&rng);
        unsigned op = (unsigned)(r % 100);
        size_t k = (size_t)((r >> 8) % nslots);
        if (op < 78) {
            /* allocate here, free what another thread allocated (a
             * remote free, or a reclaim of a parked slab) */
            struct held old = slot_swap(k, new_block(&rng, life, &seq));
            free_held(&old, "exchange");
        } else if (op < 88) {
            struct held old = slot_swap(k, (struct held){NULL, 0, 0});
            free_held(&old, "take");
        } else if (op < 96) {
            /* realloc a block another thread allocated: the copy reads it,
             * the free of the old block is remote */
            struct held h = slot_swap(k, (struct held){NULL, 0, 0});
            if (h.p == NULL)
                continue;
            check_block(&h, "realloc (before)");
            size_t nsize = pick_size(&rng);
            void *q = hak_realloc(h.p, nsize);
            if (q == NULL)
                test_fail("hak_realloc(%p, %zu) failed: %s", h.p, nsize, strerror(errno));
            size_t keep = nsize < h.size ? nsize : h.size;
            if (test_verify(q, keep, h.tag) != SIZE_MAX)
                test_fail("hak_realloc(%p, %zu) -> %p lost the first %zu bytes", h.p, nsize, q,
                          keep);
            struct held nh = {q, nsize, life << 24 | (++seq & 0xffffff)};
            test_fill(q, nsize, nh.tag);
            struct held old = slot_swap(k, nh);
            free_held(&old, "realloc (displaced)");
        } else {
            /* a burst of local allocations and frees, in mixed order */
            struct held burst[24];
            unsigned n = 4 + (unsigned)(test_rand(&rng) % 20);
            for (unsigned j = 0; j < n; j++)
                burst[j] = new_block(&rng, life, &seq);
            for (unsigned j = 0; j < n; j++) {
                unsigned x = (unsigned)(test_rand(&rng) % n);
                free_held(&burst[x], "burst");
            }
            for (unsigned j = 0; j < n; j++)
                free_held(&burst[j], "burst");
        }
    }
    atomic_fetch_add(&total_ops, (uint_fast64_t)nops);
    if (hak_check() != 0)
        test_fail("hak_check() failed in a worker thread (life %llu)", (unsigned long long)life);
    return NULL;
}

/* One lane keeps one worker alive at a time, replacing it lives times:
 * the thread count stays at nthreads while heaps come and go. */
static void *lane(void *arg)
{
    (void)arg;
    for (long l = 0; l < nlives; l++) {
        pthread_t t;
        int rc = pthread_create(&t, NULL, worker, NULL);
        if (rc != 0)
            test_fail("pthread_create: %s", strerror(rc));
        pthread_join(t, NULL);
    }
    return NULL;
}

/* Many threads on (at most) two CPUs: threads are preempted inside the
 * allocator, in the middle of a free, a drain or a hand-over of a slab. */
static int pin_two_cpus(long want)
{
    cpu_set_t cur, two;
    if (sched_getaffinity(0, sizeof cur, &cur) != 0)
        return CPU_COUNT(&cur);
    if (CPU_COUNT(&cur) <= want)
        return CPU_COUNT(&cur);
    CPU_ZERO(&two);
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < want; c++)
        if (CPU_ISSET(c, &cur)) {
            CPU_SET(c, &two);
            n++;
        }
    if (sched_setaffinity(0, sizeof two, &two) != 0)
        return CPU_COUNT(&cur);
    return n;
}

static long held_blocks(void)
{
    long n = 0;
    for (size_t k = 0; k < nslots; k++)
        if (slots[k].p != NULL) {
            struct held h = {slots[k].p, slots[k].size, slots[k].tag};
            check_block(&h, "generation end");
            n++;
        }
    return n;
}

static long arg_long(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: bad number '%s' (%ld..%ld)\n", test_prog(), s, lo, hi);
        exit(TEST_EXIT_HARD);
    }
    return v;
}

int main(int argc, char **argv)
{
    long cpus = 2;
    int opt;
    while ((opt = getopt(argc, argv, "t:g:l:o:s:S:c:q")) != -1) {
        switch (opt) {
        case 't': nthreads = arg_long(optarg, 1, 1000); break;
        case 'g': ngens = arg_long(optarg, 1, 1000000); break;
        case 'l': nlives = arg_long(optarg, 1, 1000000); break;
        case 'o': nops = arg_long(optarg, 1, 100000000); break;
        case 's': nslots = (size_t)arg_long(optarg, 1, 1 << 22); break;
        case 'S': seed = (uint64_t)arg_long(optarg, 0, 1L << 40); break;
        case 'c': cpus = arg_long(optarg, 0, 4096); break;
        case 'q': quiet = 1; break;
        default:
            fprintf(stderr,
                    "usage: %s [-t threads] [-g gens] [-l lives] [-o ops] [-s slots]"
                    " [-S seed] [-c cpus (0: all)] [-q]\n",
                    test_prog());
            return TEST_EXIT_HARD;
        }
    }
    int ncpu = cpus > 0 ? pin_two_cpus(cpus) : (int)sysconf(_SC_NPROCESSORS_ONLN);

    /* Allocated before the baseline is taken (in an override build calloc
     * is hakmem's), so only the blocks under test change the balance. */
    slots = calloc(nslots, sizeof *slots);
    if (slots == NULL)
        test_fail("no memory for %zu slots", nslots);
    for (size_t k = 0; k < nslots; k++)
        pthread_mutex_init(&slots[k].lock, NULL);

    pthread_t *lanes = calloc((size_t)nthreads, sizeof *lanes);
    if (lanes == NULL)
        test_fail("no memory for %ld lanes", nthreads);
    test_warm_up_threads(16);
    struct hak_stats base = test_stats();
    double t0 = test_now();
    for (long g = 0; g < ngens; g++) {
        for (long i = 0; i < nthreads; i++) {
            int rc = pthread_create(&lanes[i], NULL, lane, NULL);
            if (rc != 0)
                test_fail("pthread_create: %s", strerror(rc));
        }
        for (long i = 0; i < nthreads; i++)
            pthread_join(lanes[i], NULL);
        if (hak_check() != 0)
            test_fail("hak_check() failed after generation %ld", g + 1);
        long held = held_blocks();
        struct hak_stats st = test_stats();
        int64_t net = test_net_blocks(&st) - test_net_blocks(&base);
        if (net != held)
            test_fail("after generation %ld: hak_stats says %lld blocks live (allocs %llu, frees"
                      " %llu since start), the test holds %ld",
                      g + 1, (long long)net, (unsigned long long)(st.allocs - base.allocs),
                      (unsigned long long)(st.frees - base.frees), held);
    }

    /* The main thread frees what is left: remote frees into slabs whose
     * owners all exited, i.e. parked slabs reclaimed by the freeing thread. */
    for (size_t k = 0; k < nslots; k++) {
        struct held h = slot_swap(k, (struct held){NULL, 0, 0});
        free_held(&h, "final");
    }
    if (hak_check() != 0)
        test_fail("hak_check() failed after the final frees");
    struct hak_stats end = test_stats();
    int64_t net = test_net_blocks(&end) - test_net_blocks(&base);
    if (net != 0)
        test_fail("everything freed, yet hak_stats says %lld blocks live", (long long)net);
    uint64_t remote = end.remote_frees - base.remote_frees;
    uint64_t adopted = end.slabs_adopted - base.slabs_adopted;
    uint64_t reclaimed = end.slabs_reclaimed - base.slabs_reclaimed;
    if (remote == 0 || adopted + reclaimed == 0)
        test_fail("the run did not exercise the protocol: %llu remote frees, %llu slabs"
                  " adopted, %llu reclaimed",
                  (unsigned long long)remote, (unsigned long long)adopted,
                  (unsigned long long)reclaimed);
    if (!quiet)
        printf("%s: %ld threads on %d CPUs, %ld generations x %ld lives x %ld ops"
               " (%llu ops, %llu allocs), %llu remote frees, %llu slabs adopted,"
               " %llu reclaimed, %.1f s: OK\n",
               test_prog(), nthreads, ncpu, ngens, nlives, nops,
               (unsigned long long)atomic_load(&total_ops),
               (unsigned long long)(end.allocs - base.allocs), (unsigned long long)remote,
               (unsigned long long)adopted, (unsigned long long)reclaimed, test_now() - t0);
    free(lanes);
    for (size_t k = 0; k < nslots; k++)
        pthread_mutex_destroy(&slots[k].lock);
    free(slots);
    return 0;
}
