/* heap.h - the per-thread heap: each thread's current slab per size class
 * (reached through initial-exec TLS), its other owned slabs, and its
 * statistics counters.  Allocation and same-thread free are plain loads
 * and stores: no atomic read-modify-write, no lock. */
#ifndef HAKMEM_HEAP_H
#define HAKMEM_HEAP_H

#include "internal.h"

#include "diag.h"
#include "size_class.h"
#include "slab.h"
#include "superslab.h"

#include <string.h>

/* Per-thread counters: written only by their thread (relaxed stores),
 * summed by hak_stats() when read.  Allocations and the owner's frees are
 * counted per slab instead (struct slab); `frees` here are the frees
 * this heap pushed onto other threads' slabs. */
struct heap_counters {
    counter_t frees[SIZE_CLASS_COUNT];
    counter_t remote_frees;
    counter_t drains;
    counter_t drained;
    counter_t adopted;
    counter_t reclaimed;
};

struct heap {
    struct slab *current[SIZE_CLASS_COUNT]; /* never NULL: the sentinel when none */
    /* current[] of the tiny classes again, indexed by size / MIN_ALIGN
     * rounded up (every index of a class holds its slab): malloc finds
     * the slab for a tiny size with one load and no class lookup.  Set
     * with current[] by heap_set_current only. */
    struct slab *tiny[SIZE_CLASS_TINY_MAX / MIN_ALIGN + 1];
    uint64_t id; /* unique for the process's life, never reused */
    struct heap_counters c;
    /* Owned slabs other than current, a ring per class scanned at refill:
     * a local free into one of them needs no list work at all. */
    struct slab *owned[SIZE_CLASS_COUNT];
    uint32_t owned_count[SIZE_CLASS_COUNT];
    struct superslab *ss_hint;
    /* Current slabs of several units that a local free emptied and that
     * were kept, newest first (see heap_slab_emptied); maybe reused or
     * gone since: only a hint. */
    struct slab *kept_empty[2];
    /* Set while the heap's thread is in a slow path that edits its lists:
     * a fork child only takes over the heaps of vanished threads that were
     * not (see heap_fork_child). */
    uint8_t busy;
    struct heap *reg_next, *reg_prev;
    /* Sampling windows (see below): NULL unless the heap profiler ever
     * sampled this heap's allocations.  Kept when the heap is reused. */
    struct heap_windows *windows;
};

/* A thread starts on the empty heap: its current slabs are all the
 * sentinel (no free blocks) and its id matches no slab, so the first
 * allocation or free takes the slow path, which sets the thread up. */
extern struct heap heap_empty;
/* The calling thread's heap, and its id beside it: one TLS offset for
 * both, so that free compares a slab's owner with the id without loading
 * the heap first. */
struct heap_thread {
    struct heap *heap;
    uint64_t id; /* heap->id */
};
extern __thread struct heap_thread heap_me __attribute__((tls_model("initial-exec")));

/* malloc's slow path, for size <= SIZE_CLASS_SMALL_MAX, once the process
 * is set up: sets the thread up on its first call, reports a bad free
 * list head of the current slab, else refills.  Finds the class again
 * itself: passing it would cost the fast path a register move. */
void *heap_alloc_slow(size_t size);
/* p is a block start of s if it is a block of s at all, and s is not h's. */
void heap_free_remote(struct heap *h, struct slab *s, void *p, const char *fn);
/* A local free emptied s: gives it back to its SuperSlab, unless it is
 * the current slab of a single unit (the next allocation of the class
 * would want it back, and it holds at most a unit), or one of the few of
 * several units the heap keeps (see heap_keep_empty). */
void heap_slab_emptied(struct slab *s);
/* free()'s fatal ends: p is not a block hakmem handed out, or is the
 * block last freed.  They never return, but are not declared noreturn:
 * free reaches them by a tail jump, where a call to a noreturn function
 * would make every free align the stack first. */
COLD void heap_free_invalid(void *p, const char *fn);
/* A local free of p, which carries the free key: aborts if p is on the
 * slab's lists (a double free), else frees it.  (In the hardened library
 * the key cannot be a coincidence: it aborts at once.) */
COLD void heap_free_keyed(struct slab *s, void *p, const char *fn);
/* The hardened library: a free of p found a write past its end or
 * before its start (see slab_bounds_intact); aborts. */
COLD void heap_free_out_of_bounds(struct slab *s, void *p, const char *fn);

/* p lies in a SuperSlab chunk. */
/* The owner's free of block b of s (checked): onto the free list; an
 * empty slab may go back to its SuperSlab (heap_slab_emptied). */
ALWAYS_INLINE void heap_free_local(struct slab *s, void **b)
{
    if (DIAG_GUARDS_ON)
        slab_debug_poison(s, b);
    slab_set_free_words(b, s->free);
    s->free = b;
    uint32_t used = s->used - 1;
    owner_store(&s->used, used);
    if (DIAG_GUARDS_ON) {
        s->free_count++;
        slab_assert_counts(s);
    }
    if (unlikely(used == 0))
        heap_slab_emptied(s);
}

/* p lies in a SuperSlab chunk (see chunk_is_superslab). */
ALWAYS_INLINE void heap_free_small(void *p, const char *fn)
{
    struct slab *s = slab_of(p);
    /* Not a block start: refused at once.  Bounds are checked below, on
     * each path (see slab_block_scaled). */
    uint64_t q = slab_block_scaled(s, p);
    if (unlikely(q & s->block_mask)) {
        heap_free_invalid(p, fn);
        return;
    }
    if (likely(slab_owner(s) == heap_me.id)) {
        void **b = p;
        /* A block never handed out, or past the span: carved_limit never
         * passes span_limit.  The owner wrote it. */
        if (unlikely(q >= s->carved_limit)) {
            heap_free_invalid(p, fn);
            return;
        }
        /* Every free block carries the key, and malloc clears it: a block
         * that has it was freed already, or holds it by coincidence, which
         * heap_free_keyed tells apart by looking for it on the lists. */
        if (unlikely(slab_holds_free_words(b))) {
            heap_free_keyed(s, p, fn);
            return;
        }
        if (HARDEN_ON && unlikely(!slab_bounds_intact(s, b, q))) {
            heap_free_out_of_bounds(s, p, fn);
            return;
        }
        heap_free_local(s, b);
        return;
    }
    heap_free_remote(heap_me.heap, s, p, fn);
}

/* Sampling windows, for the heap profiler (prof.c), which samples one
 * allocation of a class after a random number of others.  The fast path
 * cannot count, so it is given no more blocks than that: the class's
 * current slab becomes a stand-in whose free list holds the next `left`
 * blocks of the real slab (cut from its free list; the real slab, which
 * counts them as used, waits on no list and is current again when the
 * window closes).  Frees of those blocks go to the real slab (slab_of
 * never finds a stand-in), so the fast path runs dry exactly when `left`
 * blocks were handed out, and the slow path decides.
 * The real slab is never released or parked while its window is open:
 * on no list, the refill's parking and heap_repark never see it; not
 * current, heap_keep_empty never releases it; and heap_slab_emptied
 * leaves it alone (at most it forgets inherited pages, as for a kept
 * slab of the ring: empty, it lent the window none of its blocks).
 * Only the heap's own thread (or a fork child, for a vanished thread's
 * heap) opens and closes its windows. */
struct heap_windows {
    struct slab stand_in[SIZE_CLASS_COUNT];
    /* Allocations of the class still to serve before the sampled one;
     * closing a window subtracts what its fast path handed out. */
    uint64_t left[SIZE_CLASS_COUNT];
};

/* The calling thread's heap, set up on first use and marked busy (see
 * heap_fork_child); NULL for a thread whose heap was retired, while
 * heap_perturb_byte is set or the thread still perturbs (heap_alloc_slow
 * follows it), or when no heap can be had. */
struct heap *heap_enter(void);
ALWAYS_INLINE void heap_leave(struct heap *h) { h->busy = 0; }
/* The common slow path while sampling, in one step: the open window of
 * class cls ran dry short of the sampled allocation (h->windows set).
 * Serves this allocation from the window's slab as a refill would (its
 * free list, else its remote frees, else blocks still to carve) and
 * fills the window again from the rest; NULL (nothing done) when the
 * slab has no block left, or when no window is open or it is not dry
 * or the allocation is the sampled one. */
void *heap_window_renew(struct heap *h, unsigned cls, size_t size);
/* Whether the next allocation of class cls is the sampled one: its
 * window is open and ran dry with no allocation left to serve before
 * it, or is closed with none left (h->windows set). */
bool heap_window_sample_next(const struct heap *h, unsigned cls);
/* The caller served that allocation (from elsewhere): the fast path of
 * cls may serve `left` more, from the window's slab (h entered).  Cheaper
 * than closing the window and opening it again. */
void heap_window_rearm(struct heap *h, unsigned cls, uint64_t left);
/* The slow path while sampling when the allocation is not the sampled
 * one and the window's slab has no block left (or no window is open, or
 * it is not dry: the caller skipped the fast path):
 * serves it as the refill would, from the next slab, and lets the fast
 * path of cls hand out the blocks still to serve before the sample from
 * that slab (h entered).  NULL when out of memory. */
void *heap_window_refill(struct heap *h, unsigned cls, size_t size);

/* Gives the calling thread's slabs that hold no live block back to their
 * SuperSlabs (current ones too).  Returns their bytes. */
size_t heap_trim(void);

/* mallopt(M_PERTURB): 0, or the byte that freed small blocks are filled
 * with (past their first 16 bytes, the free-list link and key); new
 * blocks get its complement.  A perturbing thread's heap_me is
 * heap_empty's, so that its every malloc and free misses the fast path
 * and fills in a slow path; threads start and stop following this byte
 * in their slow paths, so the fast paths do not test it. */
extern int heap_perturb_byte;
/* Sets heap_perturb_byte (value & 0xff); the calling thread follows at
 * once, others at their next allocation or free that misses the fast
 * path. */
void heap_set_perturb(int value);
/* Fills the first size bytes of the new block b (or none of NULL) with the
 * complement of the perturb byte, if any: for the allocation paths that
 * do not go through the heap (large blocks). */
ALWAYS_INLINE void heap_perturb_new_block(void *b, size_t size)
{
    int byte = load_relaxed(&heap_perturb_byte);
    if (unlikely(byte != 0) && b != NULL)
        memset(b, byte ^ 0xff, size);
}

/* Thread exit (pthread key destructor) and fork support. */
void heap_thread_exit(void *arg);
void heap_fork_child(void);
void heap_process_init(void);

/* Statistics: sums every heap's counters (live and retired). */
struct heap_totals {
    uint64_t frees[SIZE_CLASS_COUNT]; /* remote frees, by class */
    uint64_t remote_frees, drains, drained, adopted, reclaimed;
    uint64_t threads_live, threads_exited;
    /* The heap profiler's windows (live heaps): blocks of each class they
     * hold, counted as allocated by their slabs but not handed out yet,
     * and the bytes asked for of those they handed out, not yet counted
     * by their slabs. */
    uint64_t window_held[SIZE_CLASS_COUNT], window_requested;
};
void heap_totals_read(struct heap_totals *t);
/* Walks the calling thread's own slabs (hak_check). Returns problems found. */
int heap_check_own(void);

#endif /* HAKMEM_HEAP_H */
