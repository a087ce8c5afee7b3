/* slab.h - one slab: a run of 64 KiB units of a SuperSlab serving one size
 * class, owned by one thread heap at a time.
 *
 * Ownership protocol:
 *  - free, used, carved and the list links are written only by the owner.
 *  - Any other thread frees by pushing onto `remote` with one CAS.  The
 *    word holds the chain's length above the pointer, so the owner takes
 *    a chain without walking it (a walk is a cache miss per block).
 *  - Only the owner drains `remote`, taking the whole chain with one
 *    exchange (no ABA), and only after it holds ownership.
 *  - An owner gives a slab up by *parking* it: owner := 0, then CAS of
 *    `remote` from 0 (empty) to SLAB_PARKED.  Parking fails if a remote
 *    free is pending, so a parked slab never strands blocks.
 *  - Whoever clears SLAB_PARKED becomes the owner: a thread freeing into
 *    the slab (its push CAS clears the bit: claim and push are one atomic
 *    step) or an allocating thread adopting it.  Claim, then drain. */
#ifndef HAKMEM_SLAB_H
#define HAKMEM_SLAB_H

#include "internal.h"

#include "diag.h"
#include "harden.h"

#define SLAB_UNIT_SHIFT 16
#define SLAB_UNIT_SIZE ((size_t)1 << SLAB_UNIT_SHIFT)
#define SLAB_PARKED ((uintptr_t)1)
/* The remote word: chain head | chain length << 48 | SLAB_PARKED.  Blocks
 * lie below 2^47 (CHUNK_ADDRESS_BITS), and a slab holds at most 4096. */
#define SLAB_REMOTE_COUNT_SHIFT 48
#define SLAB_REMOTE_ONE ((uintptr_t)1 << SLAB_REMOTE_COUNT_SHIFT)
#define SLAB_REMOTE_HEAD(w) ((void **)((w) & (SLAB_REMOTE_ONE - 1) & ~SLAB_PARKED))
#define SLAB_REMOTE_COUNT(w) ((uint32_t)((w) >> SLAB_REMOTE_COUNT_SHIFT))
_Static_assert(sizeof(uintptr_t) == 8, "the remote word packs a count above a 48-bit pointer");
#define SLAB_META_SHIFT 8 /* log2 sizeof(struct slab) */

struct slab {
    /* Read by every thread that frees into the slab; written only while
     * the slab is set up or released (under the SuperSlab lock) and, for
     * `owner` and `carved_limit`, by the owner itself.  Blocks are told
     * from other addresses with one multiply (slab_block_scaled). */
    struct slab *head;     /* this unit's slab: itself for its first unit and
                              for a free unit (whose limits are 0) */
    uint64_t owner;        /* owning heap id; 0 when parked or free */
    char *start;           /* first block */
    uint64_t block_inv;    /* the odd part of block_size, inverted modulo 2^64 */
    uint64_t carved_limit; /* blocks carved << block_shift (see carved) */
    uint32_t block_mask;   /* 2^block_shift - 1, block_shift = block_size's trailing zeros */
    uint32_t span_limit;   /* capacity << block_shift */
    uint32_t block_size;   /* 0 when this unit is not a live slab head */
    uint16_t capacity;     /* blocks in the slab */
    uint8_t block_shift;
    uint8_t cls;
    uint8_t units;  /* length of the slab in units */
    uint8_t listed; /* on an abandoned list (guarded by that list's lock) */
    /* Set up on units whose pages another heap's slab left resident: see
     * slab_forget_inherited.  Written by the SuperSlab lock's holder at
     * set-up, then by the owner. */
    uint8_t inherited;

    /* Owner-only state, on its own cache line. */
    void *free ALIGNED(CACHELINE); /* local free list */
    uint32_t used;                 /* blocks out, from the owner's view */
    uint32_t free_count;           /* free list length (debug-guard builds) */
    /* Blocks below it were carved: put on the free list, once, by the
     * owner when its free list runs dry (slab_carve), which publishes the
     * count in carved_limit for the threads that free into the slab. */
    char *carved;
    struct slab *next, *prev; /* owner's ring, or abandoned list */
    /* Statistics, counted here because allocation writes this line anyway
     * (a per-class array elsewhere would be one more line per call):
     * blocks handed out, the sizes asked for, and blocks recovered from
     * the remote stack.
     * The owner's own frees are allocs - used - drained, so free() counts
     * nothing; remote frees are counted by the freeing thread's heap.
     * Released slabs fold theirs into per-class totals (superslab.c). */
    counter_t allocs, drained, requested; /* not adjacent: two adds, not SSE */

    /* The remote word (see SLAB_REMOTE_ONE), written by other threads. */
    uintptr_t remote ALIGNED(CACHELINE);
    /* Of a free unit: the heap whose slab used it last (SuperSlab lock). */
    uint64_t released_by;
} ALIGNED(4 * CACHELINE); /* a power of two: slab_of() indexes by shifting */

_Static_assert(sizeof(struct slab) == (size_t)1 << SLAB_META_SHIFT, "SLAB_META_SHIFT");

/* Sets up the metadata of a free unit (head = itself, nothing a block). */
void slab_init_free_unit(struct slab *u);
/* Sets up the metadata of a fresh slab of class cls at start, owned by
 * heap_id: s and the size_class_units[cls] - 1 unit entries after it
 * (SuperSlab lock held). */
void slab_init(struct slab *s, char *start, unsigned cls, uint64_t heap_id);
/* Owner only, s empty (used 0) and set up on resident pages that another
 * heap's slab left.  When s spans several units and carved at most a
 * quarter of itself, it was barely used: it is uncarved and its pages go
 * back but the first, so that a thread that keeps s empty (the next
 * allocation of the class wants it) does not keep memory it never used.
 * A slab that carved more is being filled again and keeps its pages.
 * Once: what s touches from now on is its own. */
void slab_forget_inherited(struct slab *s);

/* Clears the metadata of the empty slab s and of its other units, so
 * that no pointer into them passes as a block, and notes in each unit
 * the heap that used it last (SuperSlab lock held). */
void slab_clear(struct slab *s, uint64_t releaser);

/* The count equation of a slab, from its owner's view:
 *     used + (free list length) == (blocks carved)
 * where `used` counts the blocks out, those other threads freed and the
 * owner has not drained yet included (so the remote count is at most
 * used).  Debug-guard builds keep the length in free_count and assert the
 * equation wherever a count changes (slab_assert_counts), and walk the
 * list to confirm free_count where the slab changes hands
 * (slab_assert_free_list). */
#define slab_assert_counts(s)                                                                      \
    DIAG_ASSERT((s)->used + (s)->free_count == slab_carved_count(s),                               \
                "slab %p: %u used + %u free != %u carved", (void *)(s), (s)->used,                 \
                (s)->free_count, slab_carved_count(s))
void slab_assert_free_list(const struct slab *s);

/* Word 1 of every block on a free list holds this key; a live block never
 * does (it is cleared when the block is handed out).  A constant, so the
 * checks cost no load: it guards against bugs, not attackers.  Its high
 * half is all ones, so x86-64 compares and stores it as a sign-extended
 * 32-bit immediate (no movabs on malloc's and free's fast paths); no
 * user-space address looks like it. */
#define SLAB_FREE_KEY ((uintptr_t)0xffffffffa110ca7eull)

/* ---- the words of a free block -------------------------------------------
 * Word 0 of a free block links it to the next one on its list (the local
 * free list or a remote chain), word 1 says it is free; malloc clears
 * word 1.  In the default library word 0 is the next block and word 1
 * SLAB_FREE_KEY.  In the hardened library word 0 is the next block xor
 * the block's secret (its address mixed with a per-process secret, as
 * glibc's safe-linking does), word 1 is word 0 xor a second secret, and
 * bytes 16-23 hold HARDEN_FILL: malloc checks the three before it follows
 * the link, so a link that was overwritten is never followed and a write
 * to those bytes after the free is reported; and since a program cannot
 * write a matching pair by chance, a block whose two words match is free,
 * whatever thread frees it again.  (Hardened blocks are at least 32 bytes:
 * see HARDEN_TAIL.) */

/* The next block, from the raw word 0 of the free block b. */
ALWAYS_INLINE void *slab_link_decode(const void *b, const void *raw)
{
#ifdef HAKMEM_HARDENED
    return (void *)((uintptr_t)raw ^ harden_block_secret(b));
#else
    (void)b;
    return (void *)raw;
#endif
}

/* The block after the free block b on its list. */
ALWAYS_INLINE void *slab_next(void *const *b) { return slab_link_decode(b, b[0]); }

/* Word 0 and word 1 of a block, as read: whether they are a free block's. */
ALWAYS_INLINE bool slab_words_free(uintptr_t w0, uintptr_t w1)
{
#ifdef HAKMEM_HARDENED
    return (w0 ^ w1) == harden_secrets.check;
#else
    (void)w0;
    return w1 == SLAB_FREE_KEY;
#endif
}

/* Whether b holds the words of a free block: free's double-free test. */
ALWAYS_INLINE bool slab_holds_free_words(void *const *b)
{
    return slab_words_free((uintptr_t)b[0], (uintptr_t)b[1]);
}

/* Whether the free block b, about to be handed out, is as it was freed
 * (the hardened library: words 0 and 1 match, and word 2 holds the fill;
 * one test of the three, against check ^ HARDEN_FILL). */
ALWAYS_INLINE bool slab_free_words_intact(void *const *b)
{
#ifdef HAKMEM_HARDENED
    const uint64_t *w = (const uint64_t *)b;
    return (w[0] ^ w[1] ^ w[2]) == harden_secrets.check_fill;
#else
    return b[1] == (void *)SLAB_FREE_KEY;
#endif
}

/* Makes b a free block whose list goes on with next. */
ALWAYS_INLINE void slab_set_free_words(void **b, void *next)
{
#ifdef HAKMEM_HARDENED
    uintptr_t w0 = (uintptr_t)next ^ harden_block_secret(b);
    b[0] = (void *)w0;
    b[1] = (void *)(w0 ^ harden_secrets.check);
    ((uint64_t *)b)[2] = HARDEN_FILL;
#else
    b[0] = next;
    b[1] = (void *)SLAB_FREE_KEY;
#endif
}

/* Links the free block b, which holds the key already, to next. */
ALWAYS_INLINE void slab_set_link(void **b, void *next)
{
#ifdef HAKMEM_HARDENED
    slab_set_free_words(b, next);
#else
    b[0] = next;
#endif
}

/* A block about to leave the free list lacks the words every freed block
 * gets: it was freed twice (its first copy was handed out and the key
 * cleared) or written after it was freed.  Aborts. */
NORETURN void slab_bad_free_block(struct slab *s, void *b);

/* Blocks carved so far (owner only). */
ALWAYS_INLINE uint32_t slab_carved_count(const struct slab *s)
{
    return (uint32_t)((size_t)(s->carved - s->start) / s->block_size);
}

/* p's offset in s times s->block_inv.  For p = start + k * block_size it
 * is exactly k << block_shift.  For any other p it has one of its low
 * block_shift bits set, or is at least 2^64 / 7 (7 being the largest odd
 * part of a block size), far above every limit: a multiple of an odd
 * number times its inverse is the quotient, anything else is not small.
 * So one multiply and a mask tell a block start, and a compare with a
 * limit in the same units bounds it: slab_block_scaled_ok.  A free unit
 * has all of these 0, and nothing passes. */
ALWAYS_INLINE uint64_t slab_block_scaled(const struct slab *s, const void *p)
{
    return ((uintptr_t)p - (uintptr_t)s->start) * s->block_inv;
}

ALWAYS_INLINE bool slab_block_scaled_ok(const struct slab *s, uint64_t q, uint64_t limit)
{
    return (q & s->block_mask) == 0 && q < limit;
}

/* True when p is exactly the start of a block of the live slab s. */
ALWAYS_INLINE bool slab_is_block(const struct slab *s, const void *p)
{
    return slab_block_scaled_ok(s, slab_block_scaled(s, p), s->span_limit);
}

/* True when p is a block of the live slab s that was carved: the only
 * blocks hakmem can have handed out from it.  Any thread may ask; blocks
 * a thread was given were carved before it got them, so it sees them. */
ALWAYS_INLINE bool slab_is_carved_block(const struct slab *s, const void *p)
{
    return slab_block_scaled_ok(s, slab_block_scaled(s, p), load_relaxed(&s->carved_limit));
}

ALWAYS_INLINE uint64_t slab_owner(const struct slab *s) { return load_relaxed(&s->owner); }

/* A remote chain as long as the slab: a block was freed twice. */
NORETURN void slab_remote_overflow(struct slab *s, void *b, const char *fn);

/* The free words of a block another thread frees: word 1 before the push
 * (slab_mark_remote_free), word 0 linking it to the chain's head at each
 * try of the push (slab_set_link).  The hardened library writes them all
 * then, as its word 1 follows word 0. */
ALWAYS_INLINE void slab_mark_remote_free(void **b)
{
#ifdef HAKMEM_HARDENED
    (void)b;
#else
    b[1] = (void *)SLAB_FREE_KEY;
#endif
}

/* Pushes b onto s's remote stack.  Returns true when this push cleared
 * SLAB_PARKED, i.e. the caller now owns the slab. */
ALWAYS_INLINE bool slab_remote_push(struct slab *s, void *b, const char *fn)
{
    uintptr_t old = load_relaxed(&s->remote), next;
    do {
        if (unlikely(SLAB_REMOTE_COUNT(old) >= s->capacity))
            slab_remote_overflow(s, b, fn);
        slab_set_link(b, SLAB_REMOTE_HEAD(old));
        next = (uintptr_t)b | ((old & ~(SLAB_REMOTE_ONE - 1)) + SLAB_REMOTE_ONE);
    } while (!cas_weak(&s->remote, &old, next, __ATOMIC_ACQ_REL));
    return (old & SLAB_PARKED) != 0;
}

/* Rings of slabs (a heap's per class, the profiler's): circular lists
 * through next/prev, *ring the head, NULL when empty.  The caller holds
 * whatever guards the ring. */
ALWAYS_INLINE void slab_ring_insert_tail(struct slab **ring, struct slab *s)
{
    struct slab *head = *ring;
    if (head == NULL) {
        s->next = s->prev = s;
        *ring = s;
    } else {
        s->prev = head->prev;
        s->next = head;
        head->prev->next = s;
        head->prev = s;
    }
}

ALWAYS_INLINE void slab_ring_remove(struct slab **ring, struct slab *s)
{
    if (s->next == s) {
        *ring = NULL;
    } else {
        s->prev->next = s->next;
        s->next->prev = s->prev;
        if (*ring == s)
            *ring = s->next;
    }
    s->next = s->prev = NULL;
}

/* Adopter's claim of a parked slab with an empty remote stack. */
ALWAYS_INLINE bool slab_try_claim(struct slab *s)
{
    uintptr_t expect = SLAB_PARKED;
    return cas_strong(&s->remote, &expect, 0, __ATOMIC_ACQUIRE);
}

/* Owner only: parks s if nothing is pending on its remote stack. */
ALWAYS_INLINE bool slab_try_park(struct slab *s, uint64_t self)
{
    store_relaxed(&s->owner, 0);
    uintptr_t expect = 0;
    if (cas_strong(&s->remote, &expect, SLAB_PARKED, __ATOMIC_RELEASE))
        return true;
    store_relaxed(&s->owner, self);
    return false;
}

/* Owner only: adds the chain of remote word w to the free list. */
uint32_t slab_drain_chain(struct slab *s, uintptr_t w);

/* Owner only: moves every remotely freed block to the local free list.
 * Returns how many there were. */
ALWAYS_INLINE uint32_t slab_drain(struct slab *s, uint64_t self)
{
    DIAG_ASSERT(slab_owner(s) == self, "drain of slab %p by heap %llu, owner is %llu", (void *)s,
                (unsigned long long)self, (unsigned long long)slab_owner(s));
    (void)self;
    if (load_relaxed(&s->remote) == 0)
        return 0;
    uintptr_t w = exchange_acquire(&s->remote, 0);
    if (w == 0)
        return 0;
    return slab_drain_chain(s, w);
}

/* Debug builds: poison freed blocks, and check it is intact. */
void slab_debug_poison(struct slab *s, void *p);
void slab_debug_check_poison(struct slab *s, void *p);

/* ---- the hardened library's canaries -------------------------------------
 * A block handed out for n bytes (at most block_size - HARDEN_TAIL) holds
 * HARDEN_FILL in bytes n to n + 7 and, in its last word, its canary: its
 * secret plus n.  free reads n back from the canary and checks the fill
 * there: a write past the end changes the fill first, then the canary,
 * which then gives a size no block has.  It also checks the canary of the
 * block before, which a write before the start reaches first: any value
 * below block_size is one (a freed block keeps the canary of its last
 * use, a carved one gets block_size - 8).  The checks are inline; what
 * they found is told out of line (slab_bad_bounds). */
#ifdef HAKMEM_HARDENED
ALWAYS_INLINE uint64_t *slab_tail(const struct slab *s, const void *b)
{
    return (uint64_t *)((char *)b + s->block_size - 8);
}

/* b is handed out for size bytes. */
ALWAYS_INLINE void slab_stamp(struct slab *s, void *b, size_t size)
{
    *slab_tail(s, b) = harden_block_secret(b) + size;
    uint64_t fill = HARDEN_FILL;
    __builtin_memcpy((char *)b + size, &fill, 8);
}

/* The size the live block b was handed out for, from its canary: above
 * block_size - HARDEN_TAIL when the canary was overwritten. */
ALWAYS_INLINE uint64_t slab_canary_size(const struct slab *s, const void *b)
{
    return *slab_tail(s, b) - harden_block_secret(b);
}

/* Whether the fill after the request of the live block b is intact
 * (size: slab_canary_size, checked). */
ALWAYS_INLINE bool slab_fill_intact(const void *b, uint64_t size)
{
    uint64_t fill;
    __builtin_memcpy(&fill, (const char *)b + size, 8);
    return fill == HARDEN_FILL;
}

/* Whether the live block b of s is within its bounds: its canary, the
 * fill after its request and, unless b starts the slab (q, its
 * slab_block_scaled, is 0), the canary of the block before it. */
ALWAYS_INLINE bool slab_bounds_intact(const struct slab *s, const void *b, uint64_t q)
{
    uint64_t bs = s->block_size, x = harden_block_secret(b);
    uint64_t size = *slab_tail(s, b) - x;
    if (unlikely(size > bs - HARDEN_TAIL || !slab_fill_intact(b, size)))
        return false;
    if (unlikely(q == 0))
        return true;
    return ((const uint64_t *)b)[-1] - (x - bs) < bs;
}
#else
ALWAYS_INLINE void slab_stamp(struct slab *s, void *b, size_t size)
{
    (void)s;
    (void)b;
    (void)size;
}

ALWAYS_INLINE bool slab_bounds_intact(const struct slab *s, const void *b, uint64_t q)
{
    (void)s;
    (void)b;
    (void)q;
    return true;
}
#endif
/* A free by fn of the live block p of s found it out of its bounds
 * (slab_bounds_intact): reports what was written where, and aborts. */
NORETURN void slab_bad_bounds(struct slab *s, void *p, const char *fn);
/* The size the hardened library's live block p was handed out for, its
 * canary and fill checked, for realloc and malloc_usable_size (fn). */
size_t slab_live_size(struct slab *s, void *p, const char *fn);

/* Owner only: takes a block from the free list, for a request of size
 * bytes; NULL when the list is empty (slab_carve refills it), or when its
 * head lacks the key, which is left in place for the caller to report
 * (slab_take).  This is malloc's fast path (the sentinel slab of an idle
 * class has an empty list): it calls nothing, so it needs no stack frame
 * (a call, even to a noreturn function, makes every malloc align the
 * stack first). */
ALWAYS_INLINE void *slab_take_or_null(struct slab *s, size_t size)
{
    void **b = s->free;
    if (unlikely(b == NULL))
        return NULL;
    DIAG_ASSERT(slab_is_block(s, b), "free list of slab %p holds %p, not one of its blocks",
                (void *)s, (void *)b);
    if (unlikely(!slab_free_words_intact(b)))
        return NULL;
    void *next = slab_next(b);
    s->free = next;
    /* The next head is a cache miss waiting for the next call (free lists
     * come back in the program's free order): start it now. */
    __builtin_prefetch(next, 1);
    if (DIAG_GUARDS_ON)
        slab_debug_check_poison(s, b);
    b[1] = NULL; /* no stale double-free key in a live block */
    slab_stamp(s, b, size);
    owner_store(&s->used, s->used + 1);
    if (DIAG_GUARDS_ON) {
        s->free_count--;
        slab_assert_counts(s);
    }
    owner_add(&s->allocs, 1);
    owner_add(&s->requested, size);
    return b;
}

/* Owner only: carves the next blocks past `carved` (about a page of
 * them) onto the front of its free list, which is empty but for the
 * heap profiler's windows (heap.h).  False when none are left.  Done a
 * page at a time, and only once nothing came back from other threads, so
 * memory is touched only as the slab's live blocks need it. */
bool slab_carve(struct slab *s);

/* The length of s's free list, walked by its owner (or the only thread
 * left): SLAB_LIST_BAD when the list holds a pointer that is not a carved
 * block of s (*bad is set to it) or is longer than the carved blocks, a
 * cycle (*bad is NULL).  The one walk of a whole free list. */
#define SLAB_LIST_BAD UINT32_MAX
uint32_t slab_free_list_length(const struct slab *s, void **bad);

/* A fork child's copy of a slab of a vanished thread that may have been
 * inside a fast path: its lists are whole (each push and pop is one
 * store), but `used` may be one off.  Recounts it from the free list;
 * blocks the vanished thread held count as used, so they are never
 * reused.  False when the free list is not sound. */
bool slab_recount(struct slab *s);

/* Releasing an empty slab: every carved block is on its free list once.
 * A double free that went unnoticed at the free (one pushed onto the
 * remote stack while the owner drained it) shows here as a cycle or a
 * missing block, before the memory is reused.  (The hardened library
 * reads every carved block's free words instead, in address order.) */
void slab_check_empty(struct slab *s);

/* Owner only: slab_take_or_null, aborting on a bad free list head. */
ALWAYS_INLINE void *slab_take(struct slab *s, size_t size)
{
    void *b = slab_take_or_null(s, size);
    if (unlikely(b == NULL && s->free != NULL))
        slab_bad_free_block(s, s->free);
    return b;
}

/* Whether block p of s, which carries the free key, is free already: on
 * the free list or the remote stack.  slab_owner_holds is for s's owner,
 * and exact.  slab_other_holds is for any other thread, which may not
 * rely on the owner's list: it answers true only when p was on a list of
 * s during the call, never on a chain it read while the owner changed
 * it; false when unsure (the drain or the next hand-out catches a double
 * free it missed). */
bool slab_owner_holds(struct slab *s, const void *p);
bool slab_other_holds(struct slab *s, const void *p);

#endif /* HAKMEM_SLAB_H */
