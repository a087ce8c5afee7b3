/* prof.c - the sampled heap profiler.
 *
 * Sampling: the bytes a thread allocates in a size class form a stream,
 * and sample points fall on it as a Poisson process of mean interval
 * HAKMEM_PROF_RATE bytes; an allocation holding a point is sampled, so
 * one of size s is with probability 1 - exp(-s/rate), independently of
 * its call site, which is what pprof's heap_v2 scaling assumes.  After
 * each sampled block of class c the next point lies Exp(rate) bytes on,
 * that is floor(Exp(rate) / size) allocations of c are served first: the
 * heap's window of c lets its fast path hand out exactly that many
 * (heap.h), so counting costs the fast path nothing.  Large blocks (all
 * slow path) count bytes against one process-wide interval.
 *
 * Records: a sampled small block comes from a slab owned by no heap
 * (PROF_OWNER), so whichever thread frees it pushes it onto the slab's
 * remote stack; the profiler owns those slabs and drains them under its
 * lock, and draining is what forgets the record.  Each dump drains first,
 * so no freed block is reported.  Records map addresses to buckets (a
 * stack and a block size), in hash tables of the profiler's own mappings.
 *
 * Stacks: _Unwind_Backtrace (libgcc_s), which reads the DWARF unwind
 * tables every x86-64 object carries, so programs built without frame
 * pointers unwind too; it allocates nothing and, with glibc 2.35 and
 * GCC 12 or later, finds tables through _dl_find_object without a lock.
 * What it finds is learned, so stacks through known frames are walked
 * without it (prof_walk_steps).  Frames inside this library are left
 * out. */
#define _GNU_SOURCE
#include "internal.h"

#include "prof.h"

#include "diag.h"
#include "env.h"
#include "harden.h"
#include "heap.h"
#include "large.h"
#include "lock.h"
#include "os_pages.h"
#include "output.h"
#include "reclaim.h"
#include "size_class.h"
#include "slab.h"
#include "superslab.h"
#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>

bool prof_active;

#define PROF_LOCK (&lock_table[LOCK_PROF])
/* The owner of the slabs sampled blocks come from: no heap has this id
 * (they count up from 1; heap_empty's is UINT64_MAX). */
#define PROF_OWNER (UINT64_MAX - 1)
#define PROF_MAX_FRAMES 64
#define PROF_POOL_BYTES ((size_t)1 << 20)
#define PROF_BUCKET_HEADS 4096
/* Slabs of a class looked at for a free block before a new one. */
#define PROF_SCAN_MAX 8

static uint64_t prof_rate;
static int64_t prof_large_left; /* bytes of large blocks before the next sample */
static unsigned prof_dump_seq;
static int prof_dump_pending; /* a signal asked for a dump while the lock was held */

/* Per thread: the sampler's random state, and set while the thread is
 * in the profiler, whose own allocations (none are expected) are not
 * sampled. */
static __thread uint64_t prof_rng __attribute__((tls_model("initial-exec")));
__thread bool prof_busy __attribute__((tls_model("initial-exec")));

/* ---- memory: bump allocation from the profiler's own mappings --------- */

static char *pool_next, *pool_end; /* PROF_LOCK */

/* size bytes aligned to align (a power of two up to a page), zeroed;
 * never freed.  NULL when the kernel refuses. */
static void *pool_alloc(size_t size, size_t align)
{
    uintptr_t p = align_up((uintptr_t)pool_next, align);
    if (pool_next == NULL || p + size > (uintptr_t)pool_end) {
        size_t bytes = size > PROF_POOL_BYTES ? align_up(size, OS_PAGE_SIZE) : PROF_POOL_BYTES;
        char *fresh = os_map_aligned(bytes, OS_PAGE_SIZE);
        if (fresh == NULL)
            return NULL;
        pool_next = fresh;
        pool_end = fresh + bytes;
        p = (uintptr_t)fresh;
    }
    pool_next = (char *)(p + size);
    return (void *)p;
}

/* ---- random intervals ------------------------------------------------- */

static uint64_t prof_random(void)
{
    uint64_t x = prof_rng;
    if (unlikely(x == 0)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull) ^ (uintptr_t)&prof_rng ^
            ((uint64_t)getpid() << 32);
        x |= 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    prof_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static double double_of(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ln(x) for x > 0, to about 1e-7: no libm in an allocator. */
static double prof_log(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    double m = double_of((bits & ((1ull << 52) - 1)) | (1023ull << 52)); /* [1, 2) */
    double s = (m - 1) / (m + 1), s2 = s * s;                            /* [0, 1/3) */
    double series =
        s * (1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 / 11)))));
    return e * 0.6931471805599453 + 2 * series;
}

/* exp(-x) for x >= 0. */
static double prof_exp_neg(double x)
{
    if (x > 700)
        return 0;
    unsigned k = (unsigned)(x / 0.6931471805599453);
    double r = x - k * 0.6931471805599453, term = 1, sum = 1;
    for (int i = 1; i <= 12; i++) {
        term *= -r / i;
        sum += term;
    }
    return sum * double_of((uint64_t)(1023 - k) << 52); /* 2^-k */
}

/* Bytes to the next sample point: exponential, of mean prof_rate. */
static double prof_interval(void)
{
    double u = ((prof_random() >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    return -prof_log(u) * (double)prof_rate;
}

/* Allocations of block_size bytes to serve before the next sampled one. */
static uint64_t prof_skip(uint32_t block_size)
{
    double n = prof_interval() / block_size;
    return n < 1e18 ? (uint64_t)n : (uint64_t)1e18;
}

/* ---- stacks ----------------------------------------------------------- */

/* This library's code (its executable mapping, found at start-up): the
 * first frames of every stack, left out. */
static uintptr_t prof_text_start, prof_text_end;

/* A step from a frame to its caller's, learned per return address.
 * libgcc_s's unwinder interprets each frame's DWARF rules afresh, about
 * 1400 instructions a frame; but where a rule says "the CFA is the stack
 * pointer plus k", k is fixed by the return address: the caller's CFA is
 * the callee's plus k, and the caller's return address lies just below
 * it.  Steps learned from the unwinder's own walks (_Unwind_GetCFA of
 * each frame) let later stacks through the same frames be walked with a
 * load and an add a frame.  Frames whose %rbp points into them (their
 * CFA may follow it: alloca, stack realignment, code built with frame
 * pointers) and signal frames are never learned: a stack through one is
 * always walked by the unwinder.  Slots hold ip << 16 | k / 8 (or PROF_STEP_END for a
 * stack's last frame), written once by CAS, read without a lock. */
#define PROF_STEP_SLOTS 16384
#define PROF_STEP_PROBES 16
#define PROF_STEP_END 0xffffu
static uint64_t prof_steps[PROF_STEP_SLOTS];
/* Per thread: the highest CFA a walk of the unwinder reached, the
 * bottom of the stack; a walk by steps reads nothing above it. */
static __thread uintptr_t prof_stack_top __attribute__((tls_model("initial-exec")));

static size_t step_slot(uintptr_t ip)
{
    return (size_t)((ip * 0x9e3779b97f4a7c15ull) >> 40) & (PROF_STEP_SLOTS - 1);
}

/* The step code learned for ip, or 0. */
static unsigned step_find(uintptr_t ip)
{
    size_t i = step_slot(ip);
    for (unsigned n = 0; n < PROF_STEP_PROBES; n++, i = (i + 1) & (PROF_STEP_SLOTS - 1)) {
        uint64_t e = load_relaxed(&prof_steps[i]);
        if (e == 0)
            return 0;
        if (e >> 16 == ip)
            return (unsigned)(e & 0xffff);
    }
    return 0;
}

static void step_learn(uintptr_t ip, unsigned code)
{
    if (ip == 0 || ip >> 47 != 0 || code == 0)
        return;
    size_t i = step_slot(ip);
    uint64_t want = (uint64_t)ip << 16 | code;
    for (unsigned n = 0; n < PROF_STEP_PROBES; n++, i = (i + 1) & (PROF_STEP_SLOTS - 1)) {
        uint64_t e = 0;
        if (cas_strong(&prof_steps[i], &e, want, __ATOMIC_RELAXED) || e >> 16 == ip)
            return;
    }
}

static bool own_code(uintptr_t ip)
{
    return ip - prof_text_start < prof_text_end - prof_text_start;
}

/* Walks by learned steps from the frame resuming at ip, whose stack
 * pointer at its call was sp (its callee's CFA).  False at the first
 * frame with no step. */
static bool prof_walk_steps(uintptr_t *frames, uint32_t *depth, uintptr_t sp, uintptr_t ip)
{
    uintptr_t top = prof_stack_top;
    uint32_t d = 0;
    if (sp >= top)
        return false;
    for (unsigned steps = 0; steps < PROF_MAX_FRAMES + 32; steps++) {
        unsigned code = step_find(ip);
        if (code == 0)
            return false;
        if (d > 0 || !own_code(ip))
            frames[d++] = ip;
        if (code == PROF_STEP_END || d == PROF_MAX_FRAMES)
            break;
        /* This frame's CFA, where its caller's return address lies below. */
        uintptr_t cfa = sp + (uintptr_t)code * 8;
        if (cfa > top)
            return false;
        ip = *(const uintptr_t *)(cfa - 8);
        sp = cfa;
    }
    *depth = d;
    return true;
}

/* The unwinder's context of a frame gives its resume address and, as
 * its CFA, the stack pointer at its call (the callee's CFA); the next
 * context's gives the frame's own CFA, so each step is learned when the
 * caller's context shows it. */
struct prof_walk {
    uintptr_t *frames;
    uint32_t depth;
    uint32_t seen;         /* contexts so far */
    uintptr_t ip, sp, rbp; /* of the last context */
    bool learn;            /* the last context is no signal frame */
    bool truncated;
};

static _Unwind_Reason_Code prof_unwind_step(struct _Unwind_Context *ctx, void *arg)
{
    struct prof_walk *wk = arg;
    int signal_frame = 0;
    uintptr_t ip = _Unwind_GetIPInfo(ctx, &signal_frame);
    uintptr_t sp = _Unwind_GetCFA(ctx);
    if (ip == 0)
        return _URC_END_OF_STACK;
    if (wk->seen > 0) {
        uintptr_t k = sp - wk->sp;
        /* %rbp inside the frame: its CFA may follow %rbp, not the
         * stack pointer (or %rbp holds a local's address: no loss). */
        bool frame_pointer = wk->rbp >= wk->sp && wk->rbp < sp;
        if (wk->learn && !signal_frame && !frame_pointer && sp > wk->sp && k % 8 == 0 &&
            k / 8 < PROF_STEP_END)
            step_learn(wk->ip, (unsigned)(k / 8));
        /* The first context is prof_stack's own frame. */
        if (wk->depth > 0 || !own_code(ip))
            wk->frames[wk->depth++] = ip;
    }
    wk->seen++;
    wk->learn = !signal_frame;
    wk->ip = ip;
    wk->sp = sp;
    wk->rbp = _Unwind_GetGR(ctx, 6);
    if (wk->depth < PROF_MAX_FRAMES)
        return _URC_NO_REASON;
    wk->truncated = true;
    return _URC_END_OF_STACK;
}

/* The unwinder's walk of the caller's stack, learning steps on the way. */
static NOINLINE uint32_t prof_unwind(uintptr_t *frames)
{
    struct prof_walk wk = {.frames = frames};
    prof_busy = true;
    _Unwind_Backtrace(prof_unwind_step, &wk);
    prof_busy = false;
    /* The unwinder found no caller of the last frame: a stack's end. */
    if (!wk.truncated && wk.seen > 1 && wk.learn)
        step_learn(wk.ip, PROF_STEP_END);
    if (wk.sp > prof_stack_top)
        prof_stack_top = wk.sp;
    return wk.depth;
}

/* Debug-guard builds: a walk by steps found what the unwinder finds. */
#ifdef HAKMEM_DEBUG_GUARDS
static void prof_check_walk(const uintptr_t *frames, uint32_t depth)
{
    uintptr_t again[PROF_MAX_FRAMES];
    uint32_t n = prof_unwind(again);
    for (uint32_t i = 0; i < depth || i < n; i++)
        DIAG_ASSERT(i < depth && i < n && frames[i] == again[i],
                    "heap profiler: frame %u walked by steps is %#lx, the unwinder's %#lx", i,
                    i < depth ? (unsigned long)frames[i] : 0ul,
                    i < n ? (unsigned long)again[i] : 0ul);
}
#else
static void prof_check_walk(const uintptr_t *frames, uint32_t depth)
{
    (void)frames;
    (void)depth;
}
#endif

/* The stack of the allocation being sampled, innermost frame first,
 * without this library's frames.  Not inlined: its CFA and return
 * address start the walk by steps. */
static NOINLINE uint32_t prof_stack(uintptr_t *frames)
{
    uint32_t depth = 0;
    if (!prof_walk_steps(frames, &depth, (uintptr_t)__builtin_dwarf_cfa(),
                         (uintptr_t)__builtin_return_address(0)))
        return prof_unwind(frames);
    if (DIAG_GUARDS_ON)
        prof_check_walk(frames, depth);
    return depth;
}

/* ---- buckets and records (PROF_LOCK) ----------------------------------- */

struct prof_bucket {
    struct prof_bucket *hash_next, *all_next;
    uint64_t hash;
    uint64_t size;         /* bytes of each block */
    uint64_t live, allocs; /* sampled blocks live now, and ever */
    uint32_t depth;
    uintptr_t frames[];
};

static struct prof_bucket *bucket_heads[PROF_BUCKET_HEADS];
static struct prof_bucket *bucket_all;

static uint64_t bucket_hash(const uintptr_t *frames, uint32_t depth, uint64_t size)
{
    uint64_t h = size * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < depth; i++)
        h = (h ^ frames[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static struct prof_bucket *bucket_find(const uintptr_t *frames, uint32_t depth, uint64_t size)
{
    uint64_t h = bucket_hash(frames, depth, size);
    struct prof_bucket **head = &bucket_heads[h % PROF_BUCKET_HEADS], *b;
    for (b = *head; b != NULL; b = b->hash_next)
        if (b->hash == h && b->size == size && b->depth == depth &&
            memcmp(b->frames, frames, depth * sizeof frames[0]) == 0)
            return b;
    b = pool_alloc(sizeof *b + depth * sizeof frames[0], 16);
    if (b == NULL)
        return NULL;
    b->hash = h;
    b->size = size;
    b->depth = depth;
    memcpy(b->frames, frames, depth * sizeof frames[0]);
    b->hash_next = *head;
    *head = b;
    b->all_next = bucket_all;
    bucket_all = b;
    return b;
}

/* Live sampled blocks: open addressing on the address, linear probing,
 * deletion by shifting back (no tombstones). */
struct prof_record {
    uintptr_t addr;
    struct prof_bucket *bucket;
};

static struct prof_record *records;
static size_t records_cap, records_count; /* cap: a power of two */

static size_t record_slot(uintptr_t addr, size_t cap)
{
    return (size_t)(((addr >> 4) * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static void record_put(struct prof_record *table, size_t cap, uintptr_t addr, struct prof_bucket *b)
{
    size_t i = record_slot(addr, cap);
    while (table[i].addr != 0)
        i = (i + 1) & (cap - 1);
    table[i].addr = addr;
    table[i].bucket = b;
}

static void prof_drain_all(bool release);

/* Room for one more record: stale ones (freed, not yet drained) go
 * first; then the table doubles.  False when no memory is left. */
static bool records_reserve(void)
{
    if (records != NULL && (records_count + 1) * 2 <= records_cap)
        return true;
    if (records != NULL)
        prof_drain_all(true);
    if (records != NULL && (records_count + 1) * 2 <= records_cap)
        return true;
    size_t cap = records_cap ? records_cap * 2 : 4096;
    struct prof_record *table = os_map_aligned(cap * sizeof *table, OS_PAGE_SIZE);
    if (table == NULL)
        return false;
    for (size_t i = 0; i < records_cap; i++)
        if (records[i].addr != 0)
            record_put(table, cap, records[i].addr, records[i].bucket);
    if (records != NULL)
        os_unmap(records, records_cap * sizeof *records);
    records = table;
    records_cap = cap;
    return true;
}

static void record_add(void *p, uint64_t size, const uintptr_t *frames, uint32_t depth)
{
    if (!records_reserve())
        return;
    struct prof_bucket *b = bucket_find(frames, depth, size);
    if (b == NULL)
        return;
    b->live++;
    b->allocs++;
    record_put(records, records_cap, (uintptr_t)p, b);
    records_count++;
}

static void record_remove(const void *p)
{
    uintptr_t addr = (uintptr_t)p;
    if (records == NULL)
        return;
    size_t mask = records_cap - 1, i = record_slot(addr, records_cap);
    while (records[i].addr != addr) {
        if (records[i].addr == 0)
            return;
        i = (i + 1) & mask;
    }
    records[i].bucket->live--;
    records_count--;
    /* Entries after the hole that probed past it move back into it. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (records[j].addr == 0)
            break;
        size_t home = record_slot(records[j].addr, records_cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            records[i] = records[j];
            i = j;
        }
    }
    records[i].addr = 0;
    records[i].bucket = NULL;
}

/* ---- the slabs sampled blocks come from (PROF_LOCK) -------------------- */

/* Per class: the slab blocks come from, and a ring of the others. */
static struct slab *prof_current[SIZE_CLASS_COUNT];
static struct slab *prof_ring[SIZE_CLASS_COUNT];
static struct superslab *prof_ss_hint;

/* Takes back what other threads freed into s, forgetting their records.
 * The profiler owns s: claim came first (at its creation). */
static void prof_drain(struct slab *s)
{
    if (load_relaxed(&s->remote) == 0)
        return;
    uintptr_t w = exchange_acquire(&s->remote, 0);
    void **b = SLAB_REMOTE_HEAD(w);
    for (uint32_t i = SLAB_REMOTE_COUNT(w); i > 0 && b != NULL; i--, b = slab_next(b))
        record_remove(b);
    if (w != 0)
        slab_drain_chain(s, w);
}

/* Drains every profiler slab; release: also gives empty ones back (not
 * from a signal handler: that takes the SuperSlab lock). */
static void prof_drain_all(bool release)
{
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++) {
        if (prof_current[c] != NULL)
            prof_drain(prof_current[c]);
        struct slab *s = prof_ring[c];
        size_t len = 0;
        if (s != NULL)
            for (len = 1; s->next != prof_ring[c]; s = s->next)
                len++;
        s = prof_ring[c];
        for (; len > 0; len--) { /* one lap, slabs leaving on the way */
            struct slab *next = s->next;
            prof_drain(s);
            if (release && s->used == 0) {
                slab_ring_remove(&prof_ring[c], s);
                store_relaxed(&s->owner, 0);
                ss_slab_release(s, PROF_OWNER);
            }
            s = next;
        }
    }
}

/* A block of s: what other threads freed most recently first (it goes
 * in front of the list, and may still be in a cache), then the list,
 * then newly carved blocks. */
static void *prof_take_from(struct slab *s, size_t size)
{
    prof_drain(s);
    void *b = slab_take(s, size);
    if (b != NULL)
        return b;
    if (!slab_carve(s))
        return NULL;
    return slab_take(s, size);
}

static void *prof_slab_take(unsigned cls, size_t size)
{
    struct slab *s = prof_current[cls];
    void *b;
    if (s != NULL) {
        if ((b = prof_take_from(s, size)) != NULL)
            return b;
        prof_current[cls] = NULL;
        slab_ring_insert_tail(&prof_ring[cls], s);
    }
    for (unsigned n = 0; n < PROF_SCAN_MAX && (s = prof_ring[cls]) != NULL; n++) {
        if ((b = prof_take_from(s, size)) != NULL) {
            slab_ring_remove(&prof_ring[cls], s);
            prof_current[cls] = s;
            return b;
        }
        prof_ring[cls] = s->next; /* full: look at it again last */
    }
    s = ss_slab_alloc(cls, PROF_OWNER, &prof_ss_hint);
    if (s == NULL)
        return NULL;
    prof_current[cls] = s;
    slab_carve(s);
    return slab_take(s, size);
}

/* ---- writing profiles (PROF_LOCK) -------------------------------------- */

/* The scale pprof applies to a bucket of blocks of size bytes. */
static double prof_scale(uint64_t size)
{
    double p = 1 - prof_exp_neg((double)size / (double)prof_rate);
    return p > 0 ? 1 / p : 1;
}

static void copy_file(struct output *o, const char *path)
{
    char buf[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        output_write(o, buf, (size_t)n);
    close(fd);
}

/* The gperftools heap profile, version 2: sampled counts and bytes
 * (live, then ever), which pprof scales by the rate in the header, then
 * the address space as /proc/self/maps shows it, for symbols. */
static int write_heap_profile(int fd)
{
    struct output o;
    uint64_t n = 0, bytes = 0, an = 0, abytes = 0;
    for (const struct prof_bucket *b = bucket_all; b != NULL; b = b->all_next) {
        n += b->live;
        bytes += b->live * b->size;
        an += b->allocs;
        abytes += b->allocs * b->size;
    }
    output_open_fd(&o, fd);
    output_printf(&o, "heap profile: %6llu: %8llu [%6llu: %8llu] @ heap_v2/%llu\n",
                  (unsigned long long)n, (unsigned long long)bytes, (unsigned long long)an,
                  (unsigned long long)abytes, (unsigned long long)prof_rate);
    for (const struct prof_bucket *b = bucket_all; b != NULL; b = b->all_next) {
        output_printf(&o, "%6llu: %8llu [%6llu: %8llu] @", (unsigned long long)b->live,
                      (unsigned long long)(b->live * b->size), (unsigned long long)b->allocs,
                      (unsigned long long)(b->allocs * b->size));
        for (uint32_t i = 0; i < b->depth; i++)
            output_printf(&o, " 0x%llx", (unsigned long long)b->frames[i]);
        output_printf(&o, "\n");
    }
    output_printf(&o, "\nMAPPED_LIBRARIES:\n");
    copy_file(&o, "/proc/self/maps");
    return output_close(&o);
}

static void sort_addresses(uintptr_t *a, size_t n)
{
    /* Heapsort: no recursion, no memory. */
    for (size_t start = n / 2; start-- > 0;) {
        for (size_t root = start, child; (child = 2 * root + 1) < n; root = child) {
            if (child + 1 < n && a[child] < a[child + 1])
                child++;
            if (a[root] >= a[child])
                break;
            uintptr_t t = a[root];
            a[root] = a[child];
            a[child] = t;
        }
    }
    for (size_t end = n; end-- > 1;) {
        uintptr_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        for (size_t root = 0, child; (child = 2 * root + 1) < end; root = child) {
            if (child + 1 < end && a[child] < a[child + 1])
                child++;
            if (a[root] >= a[child])
                break;
            t = a[root];
            a[root] = a[child];
            a[child] = t;
        }
    }
}

static size_t find_address(const uintptr_t *a, size_t n, uintptr_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Folded stacks, one line per bucket of live blocks: the frames from the
 * outermost in, separated by ';', then the estimated live bytes. */
static int write_folded(int fd)
{
    size_t total = 0;
    for (const struct prof_bucket *b = bucket_all; b != NULL; b = b->all_next)
        if (b->live != 0)
            total += b->depth;
    size_t bytes = align_up(total * sizeof(uintptr_t) + 1, OS_PAGE_SIZE);
    uintptr_t *addrs = os_map_aligned(bytes, OS_PAGE_SIZE);
    if (addrs == NULL)
        return -1;
    size_t n = 0;
    for (const struct prof_bucket *b = bucket_all; b != NULL; b = b->all_next)
        if (b->live != 0)
            for (uint32_t i = 0; i < b->depth; i++)
                addrs[n++] = b->frames[i] - 1; /* a return address: name its call */
    sort_addresses(addrs, n);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || addrs[unique - 1] != addrs[i])
            addrs[unique++] = addrs[i];
    struct symbols_names names;
    int rc = -1;
    if (symbols_resolve(addrs, unique, &names)) {
        struct output o;
        output_open_fd(&o, fd);
        for (const struct prof_bucket *b = bucket_all; b != NULL; b = b->all_next) {
            if (b->live == 0)
                continue;
            for (uint32_t i = b->depth; i-- > 0;) {
                size_t k = find_address(addrs, unique, b->frames[i] - 1);
                output_printf(&o, "%s%s", names.text + names.at[k], i ? ";" : "");
            }
            if (b->depth == 0)
                output_printf(&o, "[unknown]");
            double est = (double)(b->live * b->size) * prof_scale(b->size);
            output_printf(&o, " %llu\n", (unsigned long long)(est + 0.5));
        }
        rc = output_close(&o);
        symbols_release(&names);
    }
    os_unmap(addrs, bytes);
    return rc;
}

/* Writes the profile to path and the folded stacks to folded.  0, or -1
 * with errno. */
static int prof_write(const char *path, const char *folded)
{
    prof_busy = true;
    prof_drain_all(false);
    int rc = -1, fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        rc = write_heap_profile(fd);
        if (close(fd) != 0)
            rc = -1;
    }
    if (rc == 0 && (fd = open(folded, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) >= 0) {
        rc = write_folded(fd);
        if (close(fd) != 0)
            rc = -1;
    } else if (rc == 0) {
        rc = -1;
    }
    prof_busy = false;
    return rc;
}

/* PREFIX.PID.TAG.heap and PREFIX.PID.TAG.folded: TAG is "exit" or the
 * next number. */
static int prof_write_named(const char *tag)
{
    char path[ENV_PATH_MAX + 64], folded[ENV_PATH_MAX + 64];
    char seq[16];
    if (tag == NULL) {
        snprintf(seq, sizeof seq, "%04u", ++prof_dump_seq);
        tag = seq;
    }
    snprintf(path, sizeof path, "%s.%d.%s.heap", env_settings.prof_prefix, (int)getpid(), tag);
    snprintf(folded, sizeof folded, "%s.%d.%s.folded", env_settings.prof_prefix, (int)getpid(),
             tag);
    int rc = prof_write(path, folded);
    if (rc != 0)
        output_stderr("hakmem: cannot write the heap profile %s\n", path);
    return rc;
}

/* Releases the lock, first writing a dump a signal asked for meanwhile. */
static void prof_unlock(void)
{
    while (load_relaxed(&prof_dump_pending)) {
        store_relaxed(&prof_dump_pending, 0);
        int saved = errno;
        (void)prof_write_named(NULL);
        errno = saved;
    }
    lock_release(PROF_LOCK);
}

static void prof_signal_handler(int sig)
{
    (void)sig;
    int saved = errno;
    /* Held (by this thread too, interrupted): its holder writes it. */
    if (lock_try_acquire(PROF_LOCK)) {
        (void)prof_write_named(NULL);
        prof_unlock();
    } else {
        store_relaxed(&prof_dump_pending, 1);
    }
    errno = saved;
}

int prof_dump(const char *path)
{
    if (!load_relaxed(&prof_active)) {
        errno = ENOTSUP;
        return -1;
    }
    char folded[ENV_PATH_MAX + 16];
    size_t len = path != NULL ? strlen(path) : 0;
    if (path != NULL && (len == 0 || len + sizeof ".folded" > sizeof folded)) {
        errno = len ? ENAMETOOLONG : EINVAL;
        return -1;
    }
    if (path != NULL) {
        memcpy(folded, path, len);
        memcpy(folded + len, ".folded", sizeof ".folded");
    }
    lock_acquire(PROF_LOCK);
    int rc = path != NULL ? prof_write(path, folded) : prof_write_named(NULL);
    int saved = errno;
    prof_unlock();
    errno = saved;
    return rc;
}

/* At exit: the live heap then, PREFIX.PID.exit.heap. */
__attribute__((destructor)) static void prof_at_exit(void)
{
    if (!load_relaxed(&prof_active))
        return;
    lock_acquire(PROF_LOCK);
    (void)prof_write_named("exit");
    prof_unlock();
}

/* ---- sampling ----------------------------------------------------------- */

void prof_start(void)
{
    if (env_settings.prof_prefix[0] == '\0' || load_relaxed(&prof_active))
        return;
    /* The hardened library mixes its free-list links with secrets, and
     * asks for more room than a request: the sampling windows and the
     * profiler's slabs know neither. */
    if (HARDEN_ON) {
        diag_report("HAKMEM_PROF: the hardened library does not profile; ignored");
        return;
    }
    prof_rate = env_settings.prof_rate;
    prof_large_left = (int64_t)prof_interval();
    if (!symbols_mapping_of((uintptr_t)&prof_start, &prof_text_start, &prof_text_end))
        prof_text_start = prof_text_end = 0;
    if (env_settings.prof_signal != 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = prof_signal_handler;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(env_settings.prof_signal, &sa, NULL);
    }
    store_release(&prof_active, true);
}

/* Gives h its windows, each starting a fresh interval. */
static bool prof_attach(struct heap *h)
{
    lock_acquire(PROF_LOCK);
    struct heap_windows *w = pool_alloc(sizeof *w, sizeof w->stand_in[0]);
    prof_unlock();
    if (w == NULL)
        return false;
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++)
        w->left[c] = prof_skip(size_class_bytes[c]);
    store_release(&h->windows, w); /* read by hak_stats (heap_totals_read) */
    return true;
}

static void *prof_sample_small(unsigned cls, size_t size)
{
    uintptr_t frames[PROF_MAX_FRAMES];
    uint32_t depth = prof_stack(frames);
    lock_acquire(PROF_LOCK);
    void *b = prof_slab_take(cls, size);
    if (b != NULL)
        record_add(b, size_class_bytes[cls], frames, depth);
    prof_unlock();
    return b;
}

void *prof_alloc_small_slow(size_t size)
{
    struct heap *h;
    if (prof_busy || (h = heap_enter()) == NULL)
        return heap_alloc_slow(size);
    if (unlikely(h->windows == NULL) && !prof_attach(h)) {
        heap_leave(h);
        return heap_alloc_slow(size);
    }
    unsigned cls = size_class_of(size);
    void *b = NULL;
    /* (The block pthread_create allocates for the purge thread is the
     * allocator's own: the next allocation is sampled instead.) */
    if (heap_window_sample_next(h, cls) && !reclaim_starting_thread &&
        (b = prof_sample_small(cls, size)) != NULL) {
        heap_window_rearm(h, cls, prof_skip(size_class_bytes[cls]));
        heap_leave(h);
        return b;
    }
    /* The window's slab has no block left (or none was open): the refill
     * finds the next slab, as without profiling. */
    b = heap_window_refill(h, cls, size);
    heap_leave(h);
    if (b == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    /* Done, and no lock held: where the purge thread may start. */
    reclaim_thread_maybe_start();
    return b;
}

void prof_note_large(void *p, size_t usable)
{
    if (prof_busy || reclaim_starting_thread)
        return;
    lock_acquire(PROF_LOCK);
    bool sampled = (int64_t)usable > prof_large_left;
    prof_large_left = sampled ? (int64_t)prof_interval() : prof_large_left - (int64_t)usable;
    prof_unlock();
    if (!sampled)
        return;
    uintptr_t frames[PROF_MAX_FRAMES];
    uint32_t depth = prof_stack(frames);
    lock_acquire(PROF_LOCK);
    record_add(p, usable, frames, depth);
    prof_unlock();
}

void prof_forget_large(void *p)
{
    lock_acquire(PROF_LOCK);
    record_remove(p);
    prof_unlock();
}
