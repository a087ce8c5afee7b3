/* check_threads.c - hakmem under threads: blocks freed by other threads
 * (remote frees) or resized by them (remote realloc), threads exiting
 * while their blocks are still being freed (abandoned slabs and adoption),
 * 30 chains of threads each freeing what its predecessor left (the shape
 * of bench/larson.c), blocks freed into the full slabs of a thread that
 * only waits (bounded stranding), and fork() while other threads
 * allocate.  Every block carries a stamp naming its holder, so a block
 * handed out twice is caught. */
#include "config.h"

#include <pthread.h>

#include "../test_check.h"

static struct hak_stats stats_now(void)
{
    struct hak_stats st;
    memset(&st, 0, sizeof st);
    ck_assert_int_eq(hak_stats(&st, sizeof st), 0);
    return st;
}

/* A random block size: mostly small, sometimes medium, rarely big. */
static size_t rand_size(uint64_t *rng)
{
    uint64_t r = test_rand(rng);
    size_t n;
    switch (r & 63) {
    case 0: n = 4096 + (size_t)(r >> 8) % 61440; break; /* to 64 KiB */
    case 1:
    case 2:
    case 3: n = 512 + (size_t)(r >> 8) % 3584; break;
    default: n = 32 + (size_t)(r >> 8) % 480; break;
    }
    return n;
}

/* ---- producer / consumer ------------------------------------------------ */

enum { PC_PRODUCERS = 3, PC_CONSUMERS = 3, PC_PER_PRODUCER = 700000, PC_BATCH = 128, PC_QCAP = 64 };

struct batch {
    int n;
    void *p[PC_BATCH];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    struct batch *q[PC_QCAP];
    unsigned head, count;
    int producers_left;
} pcq = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

/* one bit per (producer, sequence): a block consumed twice is a bug in the
 * queue or an allocator handing the same block to two producers */
static _Atomic uint64_t pc_seen[PC_PRODUCERS][PC_PER_PRODUCER / 64 + 1];
static atomic_ulong pc_consumed;

static void pcq_push(struct batch *b)
{
    pthread_mutex_lock(&pcq.mu);
    while (pcq.count == PC_QCAP)
        pthread_cond_wait(&pcq.not_full, &pcq.mu);
    pcq.q[(pcq.head + pcq.count++) % PC_QCAP] = b;
    pthread_cond_signal(&pcq.not_empty);
    pthread_mutex_unlock(&pcq.mu);
}

static struct batch *pcq_pop(void)
{
    struct batch *b = NULL;
    pthread_mutex_lock(&pcq.mu);
    while (pcq.count == 0 && pcq.producers_left > 0)
        pthread_cond_wait(&pcq.not_empty, &pcq.mu);
    if (pcq.count > 0) {
        b = pcq.q[pcq.head];
        pcq.head = (pcq.head + 1) % PC_QCAP;
        pcq.count--;
        pthread_cond_signal(&pcq.not_full);
    }
    pthread_mutex_unlock(&pcq.mu);
    return b;
}

static void *producer(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t rng = test_seed(id);
    /* a few blocks held locally a while, freed by their own thread */
    void *local[64] = {0};
    size_t local_n[64] = {0};
    struct batch *b = NULL;
    for (uint64_t seq = 0; seq < PC_PER_PRODUCER && !test_thread_failed(); seq++) {
        size_t n = rand_size(&rng);
        void *p = hak_malloc(n);
        if (!p) {
            test_thread_fail("producer %lu: hak_malloc(%zu) NULL", (unsigned long)id, n);
            break;
        }
        if (!test_aligned(p, TEST_MIN_ALIGN)) {
            test_thread_fail("producer: hak_malloc(%zu) = %p misaligned", n, p);
            break;
        }
        test_stamp(p, n, (id << 40) | seq);
        if ((seq & 7) == 0) {
            /* keep this one and free the one it replaces ourselves */
            unsigned k = (unsigned)(seq >> 3) & 63;
            if (local[k]) {
                const struct test_stamp *s = local[k];
                if (!test_stamp_ok(local[k], local_n[k], s->tag)) {
                    test_thread_fail("producer %lu: own block %p (size %zu) was overwritten",
                                     (unsigned long)id, local[k], local_n[k]);
                    break;
                }
                hak_free(local[k]);
            }
            local[k] = p;
            local_n[k] = n;
            continue;
        }
        if (!b) {
            b = hak_malloc(sizeof *b);
            if (!b) {
                test_thread_fail("producer: batch allocation failed");
                break;
            }
            b->n = 0;
        }
        b->p[b->n++] = p;
        if (b->n == PC_BATCH) {
            pcq_push(b);
            b = NULL;
        }
    }
    if (b)
        pcq_push(b);
    for (unsigned k = 0; k < 64; k++)
        hak_free(local[k]);
    pthread_mutex_lock(&pcq.mu);
    pcq.producers_left--;
    pthread_cond_broadcast(&pcq.not_empty);
    pthread_mutex_unlock(&pcq.mu);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    struct batch *b;
    while ((b = pcq_pop()) != NULL) {
        for (int i = 0; i < b->n; i++) {
            struct test_stamp *s = b->p[i];
            uint64_t tag = s->tag, size = s->size;
            uint64_t prod = tag >> 40, seq = tag & ((1ULL << 40) - 1);
            if (size > 65536 || prod >= PC_PRODUCERS || seq >= PC_PER_PRODUCER ||
                !test_stamp_ok(s, size, tag)) {
                test_thread_fail("consumer: block %p has a broken stamp (tag %#lx size %lu): "
                                 "handed out twice?",
                                 (void *)s, (unsigned long)tag, (unsigned long)size);
                continue; /* do not free what may be someone else's */
            }
            uint64_t bit = 1ULL << (seq & 63);
            if (atomic_fetch_or(&pc_seen[prod][seq / 64], bit) & bit)
                test_thread_fail("consumer: block %lu of producer %lu seen twice",
                                 (unsigned long)seq, (unsigned long)prod);
            if (hak_usable_size(s) < size)
                test_thread_fail("consumer: usable size %zu < %lu", hak_usable_size(s),
                                 (unsigned long)size);
            /* wipe the stamp: a stale second holder would now see garbage */
            memset(s, 0xDD, sizeof *s);
            hak_free(s);
            atomic_fetch_add_explicit(&pc_consumed, 1, memory_order_relaxed);
        }
        hak_free(b); /* the batch itself: usually a remote free too */
    }
    return NULL;
}

START_TEST(test_producer_consumer)
{
    pthread_t pt[PC_PRODUCERS], ct[PC_CONSUMERS];
    pcq.producers_left = PC_PRODUCERS;
    for (uintptr_t i = 0; i < PC_CONSUMERS; i++)
        ck_assert_int_eq(pthread_create(&ct[i], NULL, consumer, NULL), 0);
    for (uintptr_t i = 0; i < PC_PRODUCERS; i++)
        ck_assert_int_eq(pthread_create(&pt[i], NULL, producer, (void *)i), 0);
    for (int i = 0; i < PC_PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < PC_CONSUMERS; i++)
        pthread_join(ct[i], NULL);
    TEST_ASSERT_NO_THREAD_ERROR();
    /* 7 of 8 blocks travel to a consumer */
    unsigned long want = 0;
    for (unsigned long s = 0; s < PC_PER_PRODUCER; s++)
        want += (s & 7) != 0;
    ck_assert_uint_eq(atomic_load(&pc_consumed), want * PC_PRODUCERS);
    ck_assert_int_eq(hak_check(), 0);
    /* producers kept allocating while consumers freed their blocks: remote
     * frees happened and the owners drained them */
    struct hak_stats st = stats_now();
    ck_assert_uint_ge(st.remote_frees, 1);
    ck_assert_uint_ge(st.remote_drains, 1);
    ck_assert_uint_ge(st.remote_drained, st.remote_drains);
    /* A free whose push claims a parked slab is no remote free, but its
     * block is drained with the rest. */
    ck_assert_uint_le(st.remote_drained, st.remote_frees + st.slabs_reclaimed);
    ck_assert_uint_ge(st.threads_exited, PC_PRODUCERS + PC_CONSUMERS);
}
END_TEST

/* ---- threads exiting while their blocks are freed elsewhere ------------- */

enum { AD_OWNERS = 4, AD_BLOCKS = 3000, AD_ROUNDS = 12 };

struct ad_block {
    void *p;
    size_t n;
    uint64_t tag;
};

static struct ad_block ad_owned[AD_OWNERS][AD_BLOCKS];
static struct ad_block ad_adopted[AD_OWNERS][AD_BLOCKS];
static pthread_barrier_t ad_barrier;

struct ad_arg {
    unsigned id, round;
};

static int ad_alloc_all(struct ad_block *blk, unsigned id, unsigned round, uint64_t salt)
{
    uint64_t rng = test_seed((uint64_t)round * 131 + id + salt);
    for (unsigned i = 0; i < AD_BLOCKS; i++) {
        size_t n = rand_size(&rng);
        void *p = hak_malloc(n);
        if (!p) {
            test_thread_fail("hak_malloc(%zu) NULL", n);
            return -1;
        }
        blk[i].p = p;
        blk[i].n = n;
        blk[i].tag = salt ^ ((uint64_t)round << 32) ^ ((uint64_t)id << 20) ^ i;
        test_stamp(p, n, blk[i].tag);
    }
    return 0;
}

static int ad_verify_free(struct ad_block *blk, unsigned i, const char *who)
{
    if (!blk[i].p)
        return 0;
    if (!test_stamp_ok(blk[i].p, blk[i].n, blk[i].tag)) {
        test_thread_fail("%s: block %p (size %zu) overwritten while live", who, blk[i].p, blk[i].n);
        blk[i].p = NULL;
        return -1;
    }
    hak_free(blk[i].p);
    blk[i].p = NULL;
    return 0;
}

/* Allocates, frees every other block itself, lets the freer start on the
 * rest, and exits at once: its heap is retired with live blocks in it. */
static void *ad_owner(void *arg)
{
    const struct ad_arg *a = arg;
    if (ad_alloc_all(ad_owned[a->id], a->id, a->round, 0x1111) == 0)
        for (unsigned i = 0; i < AD_BLOCKS; i += 2)
            ad_verify_free(ad_owned[a->id], i, "owner");
    pthread_barrier_wait(&ad_barrier);
    return NULL;
}

/* Frees the owners' remaining blocks while the owners exit. */
static void *ad_freer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&ad_barrier);
    for (unsigned i = 1; i < AD_BLOCKS; i += 4)
        for (unsigned o = 0; o < AD_OWNERS; o++)
            ad_verify_free(ad_owned[o], i, "freer");
    return NULL;
}

/* New threads allocate the same mix: they may be given the abandoned slabs,
 * whose remaining live blocks must not be handed out again. */
static void *ad_adopter(void *arg)
{
    const struct ad_arg *a = arg;
    ad_alloc_all(ad_adopted[a->id], a->id, a->round, 0x2222);
    return NULL;
}

START_TEST(test_exit_while_freed_adoption)
{
    struct ad_arg args[AD_OWNERS];
    pthread_t t[AD_OWNERS + 1];
    for (unsigned round = 0; round < AD_ROUNDS && !test_thread_failed(); round++) {
        ck_assert_int_eq(pthread_barrier_init(&ad_barrier, NULL, AD_OWNERS + 1), 0);
        for (unsigned o = 0; o < AD_OWNERS; o++) {
            args[o].id = o;
            args[o].round = round;
            ck_assert_int_eq(pthread_create(&t[o], NULL, ad_owner, &args[o]), 0);
        }
        ck_assert_int_eq(pthread_create(&t[AD_OWNERS], NULL, ad_freer, NULL), 0);
        for (unsigned o = 0; o <= AD_OWNERS; o++)
            pthread_join(t[o], NULL);
        pthread_barrier_destroy(&ad_barrier);

        for (unsigned o = 0; o < AD_OWNERS; o++)
            ck_assert_int_eq(pthread_create(&t[o], NULL, ad_adopter, &args[o]), 0);
        for (unsigned o = 0; o < AD_OWNERS; o++)
            pthread_join(t[o], NULL);
        TEST_ASSERT_NO_THREAD_ERROR();

        /* the dead owners' last quarter is freed by the test thread, after
         * the adopters took slabs: their stamps must have survived */
        for (unsigned o = 0; o < AD_OWNERS; o++)
            for (unsigned i = 0; i < AD_BLOCKS; i++) {
                ad_verify_free(ad_owned[o], i, "main (owners' blocks)");
                ad_verify_free(ad_adopted[o], i, "main (adopters' blocks)");
            }
        TEST_ASSERT_NO_THREAD_ERROR();
        ck_assert_int_eq(hak_check(), 0);
    }
    /* abandoned slabs with free room were taken over, by an allocating
     * thread or by a freeing one; otherwise exited threads leak slabs */
    struct hak_stats st = stats_now();
    ck_assert_msg(st.slabs_adopted + st.slabs_reclaimed >= 1,
                  "no abandoned slab was ever adopted or reclaimed");
    ck_assert_uint_ge(st.threads_exited, AD_ROUNDS * (2 * AD_OWNERS + 1));
}
END_TEST

/* Many short-lived threads, each leaving a few blocks to the next. */
enum { CH_THREADS = 200, CH_LEFT = 50 };
static struct ad_block ch_left[CH_THREADS][CH_LEFT];

static void *ch_thread(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t rng = test_seed(id + 7777);
    /* free what the previous thread left behind (remote, owner gone) */
    if (id > 0)
        for (unsigned i = 0; i < CH_LEFT; i++)
            ad_verify_free(ch_left[id - 1], i, "successor");
    void *tmp[200];
    for (unsigned i = 0; i < 200; i++) {
        tmp[i] = hak_malloc(rand_size(&rng));
        if (!tmp[i])
            test_thread_fail("hak_malloc NULL");
    }
    for (unsigned i = 0; i < CH_LEFT; i++) {
        size_t n = rand_size(&rng);
        ch_left[id][i].p = hak_malloc(n);
        ch_left[id][i].n = n;
        ch_left[id][i].tag = ((uint64_t)id << 16) | i;
        if (!ch_left[id][i].p) {
            test_thread_fail("hak_malloc NULL");
            return NULL;
        }
        test_stamp(ch_left[id][i].p, n, ch_left[id][i].tag);
    }
    for (unsigned i = 0; i < 200; i++)
        hak_free(tmp[i]);
    return NULL;
}

START_TEST(test_thread_churn)
{
    for (uintptr_t i = 0; i < CH_THREADS; i++) {
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, ch_thread, (void *)i), 0);
        pthread_join(t, NULL);
    }
    for (unsigned i = 0; i < CH_LEFT; i++)
        ad_verify_free(ch_left[CH_THREADS - 1], i, "main");
    TEST_ASSERT_NO_THREAD_ERROR();
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- realloc and aligned blocks across threads ------------------------- */

enum { RR_BLOCKS = 6000 };

struct rr_block {
    void *p;
    size_t n;
    size_t align;
};
static struct rr_block rr[RR_BLOCKS];
static pthread_barrier_t rr_barrier;
static atomic_int rr_stop;

/* Allocates plain and aligned blocks, hands them over, then keeps
 * allocating from the same classes while they are resized elsewhere. */
static void *rr_owner(void *arg)
{
    (void)arg;
    uint64_t rng = test_seed(31337);
    for (unsigned i = 0; i < RR_BLOCKS; i++) {
        size_t n = rand_size(&rng);
        size_t a = (i % 3 == 0) ? (size_t)16 << (test_rand(&rng) % 13) : 0; /* to 64 KiB */
        void *p = a ? hak_aligned_alloc(a, n) : hak_malloc(n);
        if (!p || (a && !test_aligned(p, a))) {
            test_thread_fail("owner: allocation of %zu (align %zu) failed or misaligned", n, a);
            break;
        }
        test_fill(p, n, i);
        rr[i].p = p;
        rr[i].n = n;
        rr[i].align = a;
    }
    pthread_barrier_wait(&rr_barrier);
    void *keep[128] = {0};
    for (unsigned k = 0; !atomic_load_explicit(&rr_stop, memory_order_relaxed); k++) {
        unsigned j = k & 127;
        hak_free(keep[j]);
        keep[j] = hak_malloc(rand_size(&rng));
    }
    for (unsigned j = 0; j < 128; j++)
        hak_free(keep[j]);
    return NULL;
}

/* realloc (grow, shrink, into the large path) and free of blocks whose
 * owner is alive and busy */
START_TEST(test_remote_realloc_aligned)
{
    pthread_t t;
    ck_assert_int_eq(pthread_barrier_init(&rr_barrier, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, rr_owner, NULL), 0);
    pthread_barrier_wait(&rr_barrier);
    uint64_t rng = test_seed(4242);
    for (unsigned i = 0; i < RR_BLOCKS && !test_thread_failed(); i++) {
        size_t n = rr[i].n, m;
        switch (test_rand(&rng) % 4) {
        case 0: m = n / 2 + 1; break;
        case 1: m = n * 3; break;
        case 2: m = n + 1; break;
        default: m = (i % 97 == 0) ? TEST_MiB + n : n * 2; break;
        }
        char *q = hak_realloc(rr[i].p, m);
        TEST_REQUIRE(q != NULL, "remote realloc %zu -> %zu failed", n, m);
        TEST_REQUIRE(test_aligned(q, TEST_MIN_ALIGN), "remote realloc misaligned");
        size_t keep = n < m ? n : m;
        size_t bad = test_verify(q, keep, i);
        TEST_REQUIRE(bad == SIZE_MAX,
                     "remote realloc of block %u (%zu -> %zu, align %zu) lost byte %zu", i, n, m,
                     rr[i].align, bad);
        TEST_REQUIRE(hak_usable_size(q) >= m, "remote realloc: usable %zu < %zu",
                     hak_usable_size(q), m);
        rr[i].p = q;
        rr[i].n = keep;
    }
    /* every other one is freed here, the rest after the owner exited */
    for (unsigned i = 0; i < RR_BLOCKS; i += 2) {
        TEST_REQUIRE(test_verify(rr[i].p, rr[i].n, i) == SIZE_MAX, "block %u changed", i);
        hak_free(rr[i].p);
    }
    atomic_store(&rr_stop, 1);
    pthread_join(t, NULL);
    TEST_ASSERT_NO_THREAD_ERROR();
    for (unsigned i = 1; i < RR_BLOCKS; i += 2) {
        TEST_REQUIRE(test_verify(rr[i].p, rr[i].n, i) == SIZE_MAX,
                     "block %u changed after its owner exited", i);
        hak_free(rr[i].p);
    }
    pthread_barrier_destroy(&rr_barrier);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- successor chains ---------------------------------------------------- */

/* 30 chains of threads: each thread frees and replaces blocks of its
 * chain's slots, which its predecessor allocated (its heap retired, its
 * slabs abandoned or reclaimed), starts its successor and exits.  Blocks
 * survive every hand-over intact, and every generation retires a heap. */

enum { SC_THREADS = 30, SC_SLOTS = 400, SC_ROUNDS = 20000, SC_MAX_GENERATIONS = 1000 };
#define SC_SECONDS 3.0

struct sc_slot {
    void *p;
    size_t n;
    uint64_t tag;
};

static struct sc_slot sc_slots[SC_THREADS * SC_SLOTS];
static double sc_deadline;
static atomic_ulong sc_ops;

struct sc_chain {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t cur;
    unsigned generation;
    int done;
    unsigned id;
};
static struct sc_chain sc_chains[SC_THREADS];

struct sc_arg {
    struct sc_chain *chain;
    pthread_t prev;
    int has_prev;
};

static void *sc_thread(void *argp)
{
    struct sc_arg arg = *(struct sc_arg *)argp;
    hak_free(argp); /* allocated by the predecessor: a remote free */
    struct sc_chain *c = arg.chain;
    /* the predecessor has exited or is exiting: reap it */
    if (arg.has_prev)
        pthread_join(arg.prev, NULL);

    struct sc_slot *slots = &sc_slots[c->id * SC_SLOTS];
    uint64_t rng = test_seed(((uint64_t)c->id << 20) + c->generation);
    for (unsigned r = 0; r < SC_ROUNDS && !test_thread_failed(); r++) {
        struct sc_slot *s = &slots[test_rand(&rng) % SC_SLOTS];
        if (!test_stamp_ok(s->p, s->n, s->tag)) {
            test_thread_fail("successor thread %u gen %u: block %p (size %zu) overwritten", c->id,
                             c->generation, s->p, s->n);
            s->p = NULL; /* do not free a block we no longer own */
            break;
        }
        hak_free(s->p);
        /* sizes up to 1000 bytes, from 32: blocks hold a 32-byte stamp */
        size_t n = 32 + (size_t)(test_rand(&rng) % 969);
        s->p = hak_malloc(n);
        if (!s->p) {
            test_thread_fail("successor: hak_malloc(%zu) NULL", n);
            break;
        }
        s->n = n;
        s->tag = test_rand(&rng);
        test_stamp(s->p, n, s->tag);
    }
    atomic_fetch_add_explicit(&sc_ops, SC_ROUNDS, memory_order_relaxed);

    pthread_mutex_lock(&c->mu);
    c->generation++;
    int more =
        !test_thread_failed() && c->generation < SC_MAX_GENERATIONS && test_now() < sc_deadline;
    if (more) {
        struct sc_arg *next = hak_malloc(sizeof *next);
        if (!next) {
            test_thread_fail("successor: hak_malloc(sc_arg) NULL");
            more = 0;
        } else {
            next->chain = c;
            next->prev = pthread_self();
            next->has_prev = 1;
            if (pthread_create(&c->cur, NULL, sc_thread, next) != 0) {
                test_thread_fail("successor: pthread_create failed");
                hak_free(next);
                more = 0;
            }
        }
    }
    if (!more) {
        /* the last of the chain: main joins it through c->cur */
        c->done = 1;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

START_TEST(test_successor_chains)
{
    /* warm-up by the test thread: every block the workers free first is
     * someone else's */
    uint64_t rng = test_seed(2024);
    for (unsigned i = 0; i < SC_THREADS * SC_SLOTS; i++) {
        size_t n = 32 + (size_t)(test_rand(&rng) % 969);
        sc_slots[i].p = hak_malloc(n);
        ck_assert_ptr_nonnull(sc_slots[i].p);
        sc_slots[i].n = n;
        sc_slots[i].tag = test_rand(&rng);
        test_stamp(sc_slots[i].p, n, sc_slots[i].tag);
    }
    struct hak_stats before = stats_now();
    sc_deadline = test_now() + SC_SECONDS;
    for (unsigned t = 0; t < SC_THREADS; t++) {
        struct sc_chain *c = &sc_chains[t];
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->id = t;
        struct sc_arg *a = hak_malloc(sizeof *a);
        ck_assert_ptr_nonnull(a);
        a->chain = c;
        a->has_prev = 0;
        pthread_mutex_lock(&c->mu);
        ck_assert_int_eq(pthread_create(&c->cur, NULL, sc_thread, a), 0);
        pthread_mutex_unlock(&c->mu);
    }
    unsigned generations = 0;
    for (unsigned t = 0; t < SC_THREADS; t++) {
        struct sc_chain *c = &sc_chains[t];
        pthread_mutex_lock(&c->mu);
        while (!c->done)
            pthread_cond_wait(&c->cv, &c->mu);
        pthread_t last = c->cur;
        generations += c->generation;
        pthread_mutex_unlock(&c->mu);
        pthread_join(last, NULL);
    }
    TEST_ASSERT_NO_THREAD_ERROR();
    /* for the log only: how much churn this machine managed */
    fprintf(stderr, "successor chains: %u thread generations, %lu free+malloc pairs\n", generations,
            (unsigned long)atomic_load(&sc_ops));
    ck_assert_uint_ge(generations, SC_THREADS);
    /* every generation allocated, so every one had a heap to retire */
    struct hak_stats after = stats_now();
    ck_assert_uint_ge(after.threads_exited - before.threads_exited, generations);
    /* everything left is checked and freed by the test thread */
    for (unsigned i = 0; i < SC_THREADS * SC_SLOTS; i++) {
        ck_assert_msg(test_stamp_ok(sc_slots[i].p, sc_slots[i].n, sc_slots[i].tag),
                      "successor chain slot %u overwritten", i);
        hak_free(sc_slots[i].p);
    }
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* ---- fork while other threads allocate ---------------------------------- */

enum { FK_WORKERS = 4, FK_FORKS = 100 };
static atomic_int fk_stop;

static void *fk_worker(void *arg)
{
    uint64_t rng = test_seed((uint64_t)(uintptr_t)arg + 99);
    void *held[256] = {0};
    size_t held_n[256] = {0};
    while (!atomic_load_explicit(&fk_stop, memory_order_relaxed)) {
        unsigned k = (unsigned)(test_rand(&rng) & 255);
        if (held[k]) {
            if (!test_stamp_ok(held[k], held_n[k], k))
                test_thread_fail("fork worker: block overwritten");
            hak_free(held[k]);
        }
        size_t n = rand_size(&rng);
        if ((test_rand(&rng) & 1023) == 0)
            n = TEST_MiB + 4096; /* the large path takes its own locks */
        held[k] = hak_malloc(n);
        held_n[k] = n;
        if (held[k])
            test_stamp(held[k], n, k);
    }
    for (unsigned k = 0; k < 256; k++)
        hak_free(held[k]);
    return NULL;
}

static void *fk_child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        void *p = hak_calloc(1, 100 + (size_t)i);
        if (!p)
            return (void *)1;
        hak_free(p);
    }
    return NULL;
}

/* ThreadSanitizer still lists the parent's workers in the child and calls
 * them leaked threads at exit(), and it refuses new threads in the child of
 * a multi-threaded fork: limits of the tool, not of hakmem. */
#define THREAD_IN_CHILD (!TEST_TSAN)

/* In the child only this thread exists; every lock the parent's workers
 * might have held at fork() time must be usable. */
static void fk_child(int with_thread)
{
    alarm(30); /* a deadlock ends as SIGALRM, not as a hung test */
    uint64_t rng = test_seed(5);
    void *p[500];
    for (int i = 0; i < 500; i++) {
        size_t n = rand_size(&rng);
        p[i] = hak_malloc(n);
        if (!p[i])
            _exit(10);
        memset(p[i], 0x11, n);
    }
    void *big = hak_malloc(3 * TEST_MiB);
    void *al = hak_aligned_alloc(65536, 1000);
    if (!big || !al)
        _exit(11);
    big = hak_realloc(big, 9 * TEST_MiB);
    if (!big)
        _exit(12);
    if (with_thread) {
        pthread_t t;
        void *ret = NULL;
        if (pthread_create(&t, NULL, fk_child_thread, NULL) != 0)
            _exit(13);
        pthread_join(t, &ret);
        if (ret)
            _exit(14);
    }
    for (int i = 0; i < 500; i++)
        hak_free(p[i]);
    hak_free(big);
    hak_free(al);
    if (hak_check() != 0)
        _exit(15);
#if TEST_TSAN
    _exit(0);
#else
    exit(0); /* runs hakmem's exit path in the child too */
#endif
}

START_TEST(test_fork_while_allocating)
{
    pthread_t t[FK_WORKERS];
    for (uintptr_t i = 0; i < FK_WORKERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, fk_worker, (void *)i), 0);
    for (int f = 0; f < FK_FORKS; f++) {
        /* let the workers get going between forks */
        for (int i = 0; i < 2000; i++)
            hak_free(hak_malloc(64 + (size_t)i));
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
            fk_child(THREAD_IN_CHILD && (f & 1));
        int st;
        while (waitpid(pid, &st, 0) < 0)
            ck_assert_int_eq(errno, EINTR);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            atomic_store(&fk_stop, 1);
            ck_abort_msg("fork #%d: child %s %d (10-15: allocation or hak_check failed; "
                         "SIGALRM %d: deadlock)",
                         f, WIFEXITED(st) ? "exited with" : "killed by signal",
                         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), SIGALRM);
        }
    }
    atomic_store(&fk_stop, 1);
    for (int i = 0; i < FK_WORKERS; i++)
        pthread_join(t[i], NULL);
    TEST_ASSERT_NO_THREAD_ERROR();
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

/* A thread fills memory and then only waits (as a main thread does after
 * a warm-up).  Of a class of small blocks it keeps at most 4 full slabs
 * as its own (more of the few-block slabs of 10 KiB and up: 128 blocks'
 * worth), plus the one it allocates from: blocks other threads free into
 * those wait for it to allocate again, but into any other slab they are
 * reusable at once, so memory stranded this way is bounded, not the
 * whole fill. */
enum { WT_BLOCKS = 40000, WT_SIZE = 200, WT_CLASS = 224, WT_KEPT = 4 + 1 };
static void *wt_blocks[WT_BLOCKS];
static pthread_barrier_t wt_filled, wt_done;

static void *wt_filler(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < WT_BLOCKS; i++)
        if ((wt_blocks[i] = hak_malloc(WT_SIZE)) == NULL)
            test_thread_fail("hak_malloc(%d) NULL", WT_SIZE);
    pthread_barrier_wait(&wt_filled);
    pthread_barrier_wait(&wt_done);
    return NULL;
}

static uint64_t class_slabs(size_t block_size)
{
    struct hak_stats st = stats_now();
    for (unsigned k = 0; k < st.nclasses; k++)
        if (st.classes[k].block_size == block_size)
            return st.classes[k].slabs;
    ck_abort_msg("no %zu-byte class", block_size);
    return 0;
}

START_TEST(test_waiting_owner_strands_little)
{
    pthread_t t;
    uint64_t before = class_slabs(WT_CLASS);
    ck_assert_int_eq(pthread_barrier_init(&wt_filled, NULL, 2), 0);
    ck_assert_int_eq(pthread_barrier_init(&wt_done, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, wt_filler, NULL), 0);
    pthread_barrier_wait(&wt_filled);
    TEST_REQUIRE(!test_thread_failed(), "filler: %s", test_thread_err);
    uint64_t filled = class_slabs(WT_CLASS) - before;
    ck_assert_uint_gt(filled, 4 * WT_KEPT);
    for (unsigned i = 0; i < WT_BLOCKS; i++)
        hak_free(wt_blocks[i]);
    for (unsigned i = 0; i < WT_BLOCKS; i++)
        ck_assert_ptr_nonnull(wt_blocks[i] = hak_malloc(WT_SIZE));
    uint64_t both = class_slabs(WT_CLASS) - before;
    ck_assert_msg(both <= filled + WT_KEPT + 1,
                  "%llu slabs held %d blocks; after they were freed into a waiting thread's "
                  "slabs and allocated again, %llu (at most %d may stay stranded)",
                  (unsigned long long)filled, WT_BLOCKS, (unsigned long long)both, WT_KEPT);
    for (unsigned i = 0; i < WT_BLOCKS; i++)
        hak_free(wt_blocks[i]);
    pthread_barrier_wait(&wt_done);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&wt_filled);
    pthread_barrier_destroy(&wt_done);
    ck_assert_int_eq(hak_check(), 0);
}
END_TEST

static Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");

    TCase *tc = tcase_create("remote");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_producer_consumer);
    tcase_add_test(tc, test_exit_while_freed_adoption);
    tcase_add_test(tc, test_thread_churn);
    tcase_add_test(tc, test_remote_realloc_aligned);
    tcase_add_test(tc, test_waiting_owner_strands_little);
    suite_add_tcase(s, tc);

    tc = tcase_create("successors");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_successor_chains);
    suite_add_tcase(s, tc);

    tc = tcase_create("fork");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_fork_while_allocating);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(threads_suite()); }
