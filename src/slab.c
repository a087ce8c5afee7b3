/* slab.c - out-of-line slab operations: carving blocks onto the free list,
 * draining a remote chain, and the integrity checks around free lists. */
#include "internal.h"

#include "slab.h"

#include "os_pages.h"
#include "size_class.h"

#include <string.h>

/* Debug builds: every block of a remote chain was handed out, and the
 * chain is as long as its count (a double free makes a cycle). */
static void slab_debug_check_chain(struct slab *s, void **head, uint32_t n)
{
    uint32_t seen = 0;
    for (void **b = head; b != NULL; b = slab_next(b)) {
        if (!slab_is_carved_block(s, b))
            diag_fatal("free(): invalid pointer %p (freed by another thread: not a block "
                       "handed out from slab %p)",
                       (void *)b, (void *)s);
        if (++seen > n)
            diag_fatal("corrupted remote free list of slab %p (cycle: double free?)", (void *)s);
    }
    if (seen != n)
        diag_fatal("corrupted remote free list of slab %p (%u blocks, %u counted)", (void *)s, seen,
                   n);
}

uint32_t slab_drain_chain(struct slab *s, uintptr_t w)
{
    void **head = SLAB_REMOTE_HEAD(w);
    uint32_t n = SLAB_REMOTE_COUNT(w);
    if (unlikely(n == 0 || n > s->used))
        diag_fatal("double free detected: slab %p got %u blocks back with %u out", (void *)s, n,
                   s->used);
    if (DIAG_GUARDS_ON)
        slab_debug_check_chain(s, head, n);
    /* The usual case, a drain by an allocation that found the free list
     * empty, needs no walk: the chain becomes the list.  Blocks are checked
     * as they leave it (slab_take_or_null).  Otherwise the chain goes in
     * front, found by its length, so a cycle is not followed forever. */
    if (s->free != NULL) {
        void **tail = head;
        for (uint32_t i = 1; i < n; i++) {
            tail = slab_next(tail);
            if (unlikely(!slab_is_block(s, tail)))
                diag_fatal("corrupted remote free list of slab %p (%p is not a block)", (void *)s,
                           (void *)tail);
        }
        slab_set_link(tail, s->free);
    }
    s->free = head;
    owner_store(&s->used, s->used - n);
    owner_add(&s->drained, n);
    if (DIAG_GUARDS_ON) {
        s->free_count += n;
        slab_assert_counts(s);
    }
    return n;
}

void slab_remote_overflow(struct slab *s, void *b, const char *fn)
{
    diag_fatal("%s(): double free of %p (slab %p has more blocks pending than it holds)", fn, b,
               (void *)s);
}

void slab_bad_free_block(struct slab *s, void *b)
{
    /* The hardened library catches every double free at the free. */
    if (HARDEN_ON)
        diag_fatal("malloc(): write after free of %p (its first 24 bytes changed since it was "
                   "freed; slab %p, block size %u)",
                   b, (void *)s, s->block_size);
    diag_fatal("malloc(): double free or write after free of %p (slab %p, block size %u)", b,
               (void *)s, s->block_size);
}

#ifdef HAKMEM_HARDENED
void slab_bad_bounds(struct slab *s, void *p, const char *fn)
{
    uint64_t size = slab_canary_size(s, p);
    if (size > s->block_size - HARDEN_TAIL)
        diag_fatal("%s(): write past the end of %p (its canary was overwritten)", fn, p);
    if (!slab_fill_intact(p, size))
        diag_fatal("%s(): write past the end of %p (%llu bytes asked for)", fn, p,
                   (unsigned long long)size);
    diag_fatal("%s(): write before the start of %p (or past the end of the block %p before it)", fn,
               p, (void *)((char *)p - s->block_size));
}

size_t slab_live_size(struct slab *s, void *p, const char *fn)
{
    if (unlikely(!slab_is_carved_block(s, p)))
        diag_invalid_pointer(fn, p);
    if (unlikely(slab_holds_free_words(p)))
        diag_fatal("%s(): use after free of %p", fn, p);
    if (unlikely(!slab_bounds_intact(s, p, slab_block_scaled(s, p))))
        slab_bad_bounds(s, p, fn);
    return slab_canary_size(s, p);
}
#endif

/* Blocks carved at a time: about a page of them, and at least 8, so a
 * class of blocks of a few KiB does not come back to the slow path every
 * block or two. */
#define SLAB_CARVE_BYTES 4096u
#define SLAB_CARVE_MIN 8u

#ifdef HAKMEM_HARDENED
/* The hardened library hands out the n blocks carved from c, in front of
 * the free list, in a random order that stays close to address order:
 * each comes from a window of the next SLAB_CARVE_WINDOW blocks not yet
 * linked, chosen at random, and the next block in address order takes
 * its place.  Which block follows which cannot be predicted (a block
 * waits in the window for as long as chance keeps it there; the block
 * after another in memory is handed out right after it half the time),
 * while blocks handed out in turn stay a block or two apart: a program
 * that walks its objects in the order it allocated them still finds
 * neighbours in the lines the cache fetched.  (CPython's time, against
 * the default library's: a full permutation of the page 3.1 times, a
 * window of 8 blocks 1.9, of 4 1.5, of 2 1.2; see the ChangeLog.)  Each
 * block gets the canary of a block never handed out (see
 * slab_bounds_intact). */
#define SLAB_CARVE_WINDOW 2u

static void slab_carve_shuffled(struct slab *s, uintptr_t c, unsigned n)
{
    uintptr_t bs = s->block_size, next = c, stop = c + n * bs;
    void *rest = s->free;
    uintptr_t window[SLAB_CARVE_WINDOW];
    unsigned w = 0;
    for (; w < SLAB_CARVE_WINDOW && next < stop; w++, next += bs)
        window[w] = next;
    uint64_t bits = 0;
    unsigned left = 0; /* bytes of bits not used yet */
    void **prev = NULL;
    while (w > 0) {
        if (left == 0) {
            bits = harden_random();
            left = 8;
        }
        /* One random byte picks one of the w blocks (exactly uniform for
         * w a power of two, as it is but at the end of the carve). */
        unsigned j = (unsigned)(((bits & 0xff) * w) >> 8);
        bits >>= 8;
        left--;
        void **block = (void **)window[j];
        if (next < stop) {
            window[j] = next;
            next += bs;
        } else {
            window[j] = window[--w];
        }
        *slab_tail(s, block) = harden_block_secret(block) + bs - 8;
        if (prev != NULL)
            slab_set_free_words(prev, block);
        else
            s->free = block;
        prev = block;
    }
    slab_set_free_words(prev, rest);
}
#else
static void slab_carve_shuffled(struct slab *s, uintptr_t c, unsigned n)
{
    (void)s;
    (void)c;
    (void)n;
}
#endif

bool slab_carve(struct slab *s)
{
    /* Integers, not pointers: the sentinel slab's start is NULL, and
     * NULL + 0 is undefined behaviour (UBSan reports it). */
    uintptr_t c = (uintptr_t)s->carved, end = (uintptr_t)s->start + s->capacity * s->block_size;
    if (c >= end)
        return false;
    uintptr_t bs = s->block_size;
    uintptr_t n = SLAB_CARVE_BYTES / bs > SLAB_CARVE_MIN ? SLAB_CARVE_BYTES / bs : SLAB_CARVE_MIN;
    uintptr_t stop = end - c > n * bs ? c + n * bs : end;
    void *rest = s->free;
    if (HARDEN_ON) {
        slab_carve_shuffled(s, c, (unsigned)((stop - c) / bs));
    } else {
        for (uintptr_t b = c; b < stop; b += bs) {
            void **block = (void **)b;
            if (DIAG_GUARDS_ON)
                slab_debug_poison(s, block);
            slab_set_free_words(block, b + bs < stop ? (void *)(b + bs) : rest);
        }
        s->free = (void *)c;
    }
    s->carved = (char *)stop;
    store_relaxed(&s->carved_limit, (uint64_t)((stop - (uintptr_t)s->start) / bs)
                                        << s->block_shift);
    if (DIAG_GUARDS_ON) {
        s->free_count += (uint32_t)((stop - c) / bs);
        slab_assert_counts(s);
    }
    return true;
}

void slab_init_free_unit(struct slab *u)
{
    u->block_size = 0;
    u->capacity = 0;
    u->block_inv = 0;
    u->block_mask = 0;
    u->block_shift = 0;
    u->span_limit = 0;
    u->start = NULL;
    u->carved = NULL;
    store_relaxed(&u->carved_limit, 0);
    store_relaxed(&u->owner, 0);
    store_relaxed(&u->remote, 0);
    store_relaxed(&u->head, u);
}

/* The inverse of an odd x modulo 2^64, by Newton's iteration: each step
 * doubles the bits that are right, and x itself is right to 3 bits. */
static uint64_t inverse_mod_2_64(uint64_t x)
{
    uint64_t y = x;
    for (int i = 0; i < 5; i++)
        y *= 2 - x * y;
    return y;
}

void slab_init(struct slab *s, char *start, unsigned cls, uint64_t heap_id)
{
    unsigned k = size_class_units[cls];
    uint32_t bs = size_class_bytes[cls];
    unsigned shift = (unsigned)__builtin_ctz(bs);
    for (unsigned i = 1; i < k; i++)
        store_relaxed(&s[i].head, s);
    s->block_size = bs;
    s->capacity = (uint16_t)(((size_t)k << SLAB_UNIT_SHIFT) / bs);
    s->block_shift = (uint8_t)shift;
    s->block_mask = (1u << shift) - 1;
    s->block_inv = inverse_mod_2_64(bs >> shift);
    s->span_limit = (uint32_t)s->capacity << shift;
    s->start = start;
    s->cls = (uint8_t)cls;
    s->units = (uint8_t)k;
    s->listed = 0;
    s->inherited = 0;
    s->free = NULL;
    s->carved = s->start;
    store_relaxed(&s->carved_limit, 0);
    owner_store(&s->used, 0);
    s->free_count = 0;
    s->allocs = s->requested = s->drained = 0;
    s->next = s->prev = NULL;
    store_relaxed(&s->remote, 0);
    store_relaxed(&s->owner, heap_id);
    store_relaxed(&s->head, s);
}

void slab_forget_inherited(struct slab *s)
{
    DIAG_ASSERT(s->used == 0, "slab %p forgotten with %u blocks out", (void *)s, s->used);
    size_t span = (size_t)s->units << SLAB_UNIT_SHIFT;
    s->inherited = 0;
    if (s->units == 1 || (size_t)(s->carved - s->start) > span / 4)
        return;
    s->free = NULL;
    s->free_count = 0;
    s->carved = s->start;
    store_relaxed(&s->carved_limit, 0);
    os_purge(s->start + OS_PAGE_SIZE, span - OS_PAGE_SIZE);
}

void slab_clear(struct slab *s, uint64_t releaser)
{
    for (unsigned i = 0, k = s->units; i < k; i++) {
        slab_init_free_unit(&s[i]);
        s[i].released_by = releaser;
    }
}

uint32_t slab_free_list_length(const struct slab *s, void **bad)
{
    uint32_t carved = slab_carved_count(s), n = 0;
    for (void **b = s->free; b != NULL; b = slab_next(b)) {
        if (unlikely(!slab_is_carved_block(s, b))) {
            *bad = b;
            return SLAB_LIST_BAD;
        }
        if (unlikely(++n > carved)) {
            *bad = NULL;
            return SLAB_LIST_BAD;
        }
    }
    return n;
}

bool slab_recount(struct slab *s)
{
    void *bad = NULL;
    uint32_t nfree = slab_free_list_length(s, &bad);
    if (nfree == SLAB_LIST_BAD)
        return false;
    owner_store(&s->used, slab_carved_count(s) - nfree);
    s->free_count = nfree;
    return true;
}

#ifdef HAKMEM_DEBUG_GUARDS
void slab_assert_free_list(const struct slab *s)
{
    void *bad = NULL;
    uint32_t n = slab_free_list_length(s, &bad);
    if (n == SLAB_LIST_BAD)
        diag_fatal("slab %p: free list holds %p, not a carved block, or has a cycle",
                   (const void *)s, bad);
    DIAG_ASSERT(n == s->free_count, "slab %p: free list of %u blocks, counted %u", (const void *)s,
                n, s->free_count);
    slab_assert_counts(s);
}
#else
void slab_assert_free_list(const struct slab *s) { (void)s; }
#endif

#ifdef HAKMEM_HARDENED
/* The hardened library's check: each carved block holds the free words,
 * which no program writes by chance (they are secret), read in address
 * order.  A live block in a slab empty by count is what a double free
 * whose first free had not yet written them (two frees of one block in
 * flight at once) leaves; a walk of the free list, in the order blocks
 * were freed, would find it too, but with a cache miss a block (batch of
 * 8 B-2 KiB blocks freed by other threads: 0.66 of the default library's
 * rate with the walk, 0.83 without any check). */
static void slab_check_all_free(struct slab *s)
{
    uintptr_t bs = s->block_size;
    for (uintptr_t b = (uintptr_t)s->start; b < (uintptr_t)s->carved; b += bs)
        if (unlikely(!slab_holds_free_words((void *const *)b)))
            diag_fatal("double free or write after free detected: slab %p is empty by count, "
                       "but its block %p is not free",
                       (void *)s, (void *)b);
}
#else
static void slab_check_all_free(struct slab *s) { (void)s; }
#endif

void slab_check_empty(struct slab *s)
{
    if (HARDEN_ON) {
        slab_check_all_free(s);
        return;
    }
    void *bad = NULL;
    uint32_t carved = slab_carved_count(s), n = slab_free_list_length(s, &bad);
    if (unlikely(n == SLAB_LIST_BAD && bad != NULL))
        diag_fatal("corrupted free list of slab %p (%p is not one of its blocks)", (void *)s, bad);
    if (unlikely(n == SLAB_LIST_BAD))
        diag_fatal("double free detected: the free list of slab %p has a cycle", (void *)s);
    if (unlikely(n != carved))
        diag_fatal("double free detected: slab %p is empty by count with %u of %u blocks free",
                   (void *)s, n, carved);
}

static bool chain_contains(void *head, const void *p, uint32_t limit)
{
    for (void **b = head; b != NULL && limit > 0; b = slab_next(b), limit--)
        if (b == p)
            return true;
    return false;
}

bool slab_owner_holds(struct slab *s, const void *p)
{
    /* Only the owner drains, and other threads only prepend to the remote
     * stack: both chains stay whole while the owner walks them. */
    void **remote = SLAB_REMOTE_HEAD(load_acquire(&s->remote));
    return chain_contains(s->free, p, s->capacity) || chain_contains(remote, p, s->capacity);
}

/* A chain another thread may be changing, walked safely: every link is
 * checked to be a carved block of s before it is followed, and bounded. */
static bool chain_holds_checked(struct slab *s, void **b, const void *p, bool keyed)
{
    for (uint32_t n = 0; b != NULL && n <= s->capacity; n++) {
        if (!slab_is_carved_block(s, b))
            return false;
        void *raw = load_acquire(&b[0]);
        void **next = slab_link_decode(b, raw);
        /* Keyed: the owner's list, whose blocks lose the key before they
         * are handed out and written.  A block that still has it after its
         * link was read, and the same link after, was on the list with
         * that link (a pop, a write and a push in between change it). */
        if (keyed && (!slab_words_free((uintptr_t)raw, (uintptr_t)load_acquire(&b[1])) ||
                      load_acquire(&b[0]) != raw))
            return false;
        if (b == p)
            return true;
        b = next;
    }
    return false;
}

bool slab_other_holds(struct slab *s, const void *p)
{
    /* The remote stack: the walk counts only if the word did not change
     * meanwhile, for the owner may drain it and hand its blocks out. */
    for (int tries = 0; tries < 3; tries++) {
        uintptr_t w = load_acquire(&s->remote);
        bool found = chain_holds_checked(s, SLAB_REMOTE_HEAD(w), p, false);
        if (load_acquire(&s->remote) == w) {
            if (found)
                return true;
            break;
        }
    }
#if defined(__x86_64__) && !TSAN_BUILD
    /* The owner's list, read while the owner may pop and push: sound where
     * stores become visible in program order (x86-64), so that a link is
     * read before the key that the owner clears ahead of handing the block
     * out; elsewhere the drain or the next hand-out catches it. */
    return chain_holds_checked(s, load_acquire(&s->free), p, true);
#else
    return false;
#endif
}

/* (The hardened library has its own fill and canaries instead.) */
#if defined(HAKMEM_DEBUG_GUARDS) && !defined(HAKMEM_HARDENED)
#define POISON_BYTE 0xdb

void slab_debug_poison(struct slab *s, void *p)
{
    /* Words 0 and 1 hold the link and the double-free key. */
    memset((char *)p + 2 * sizeof(void *), POISON_BYTE, s->block_size - 2 * sizeof(void *));
}

void slab_debug_check_poison(struct slab *s, void *p)
{
    const unsigned char *c = (const unsigned char *)p + 2 * sizeof(void *);
    for (uint32_t i = 0; i < s->block_size - 2 * sizeof(void *); i++)
        if (c[i] != POISON_BYTE)
            diag_fatal("write after free: block %p (size %u) modified at offset %zu", p,
                       s->block_size, (size_t)(i + 2 * sizeof(void *)));
}
#else
void slab_debug_poison(struct slab *s, void *p)
{
    (void)s;
    (void)p;
}
void slab_debug_check_poison(struct slab *s, void *p)
{
    (void)s;
    (void)p;
}
#endif
