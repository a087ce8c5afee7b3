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

/* A block about to leave the free list lacks the key every freed block
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

/* Pushes b onto s's remote stack.  Returns true when this push cleared
 * SLAB_PARKED, i.e. the caller now owns the slab. */
ALWAYS_INLINE bool slab_remote_push(struct slab *s, void *b, const char *fn)
{
    uintptr_t old = load_relaxed(&s->remote), next;
    do {
        if (unlikely(SLAB_REMOTE_COUNT(old) >= s->capacity))
            slab_remote_overflow(s, b, fn);
        ((void **)b)[0] = SLAB_REMOTE_HEAD(old);
        next = (uintptr_t)b | ((old & ~(SLAB_REMOTE_ONE - 1)) + SLAB_REMOTE_ONE);
    } while (!cas_weak(&s->remote, &old, next, __ATOMIC_ACQ_REL));
    return (old & SLAB_PARKED) != 0;
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
    if (unlikely(b[1] != (void *)SLAB_FREE_KEY))
        return NULL;
    s->free = b[0];
    /* The next head is a cache miss waiting for the next call (free lists
     * come back in the program's free order): start it now. */
    __builtin_prefetch(b[0], 1);
    if (DIAG_GUARDS_ON)
        slab_debug_check_poison(s, b);
    b[1] = NULL; /* no stale double-free key in a live block */
    owner_store(&s->used, s->used + 1);
    if (DIAG_GUARDS_ON) {
        s->free_count--;
        slab_assert_counts(s);
    }
    owner_add(&s->allocs, 1);
    owner_add(&s->requested, size);
    return b;
}

/* Owner only, with an empty free list: carves the next blocks past
 * `carved` (about a page of them) onto it.  False when none are left.
 * Done a page at a time, and only once nothing came back from other
 * threads, so memory is touched only as the slab's live blocks need it. */
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
 * missing block, before the memory is reused. */
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
