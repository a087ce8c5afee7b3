/* harden.h - the hardened library's primitives (libhakmem-hardened.so.1,
 * the same sources compiled with -DHAKMEM_HARDENED): the per-process
 * secrets, the fill word, guard pages, the random order of carved blocks
 * and the zero-size blocks.  Nothing here knows a slab: slab.h applies the
 * secrets to its blocks (links, check words, canaries), superslab.c and
 * large.c place the guard pages.  In the default build HARDEN_ON and
 * HARDEN_TAIL are 0 and nothing of this is compiled: callers reach it only
 * under HAKMEM_HARDENED or behind `if (HARDEN_ON)`, so the default
 * library's code is unchanged. */
#ifndef HAKMEM_HARDEN_H
#define HAKMEM_HARDEN_H

#include "internal.h"

#ifdef HAKMEM_HARDENED
#define HARDEN_ON 1
#else
#define HARDEN_ON 0
#endif

/* Bytes a small block keeps after the request: a fill word where the
 * request ends, which a write past the end changes first, and the
 * canary in the block's last word, which records the request's size.  A
 * request of n bytes takes the class of n + HARDEN_TAIL. */
#define HARDEN_TAIL ((size_t)(HARDEN_ON ? 16 : 0))
/* The guard page after every large block. */
#define HARDEN_LARGE_GUARD ((size_t)(HARDEN_ON ? OS_PAGE_SIZE : 0))

/* Where a request ends and in the bytes 16-23 of a free block.  Not a
 * secret: what it guards is seen by the first write past it, and the
 * canary behind it is secret. */
#define HARDEN_FILL 0xfdfdfdfdfdfdfdfdull

#ifdef HAKMEM_HARDENED
struct harden_secrets {
    /* Added to a block's address: the value its free-list link is mixed
     * with, and the base of its canary (harden_block_secret). */
    uintptr_t block;
    /* A free block's word 1 is its word 0 xor this. */
    uintptr_t check;
    /* check ^ HARDEN_FILL: word 2 of a free block holds the fill. */
    uintptr_t check_fill;
    /* Seeds each thread's random bits (harden_random). */
    uint64_t order;
};
/* Hidden, so that a load of a secret is one instruction. */
extern struct harden_secrets harden_secrets __attribute__((visibility("hidden")));

/* Block b's secret: the process secret mixed with b's address (an add,
 * so that the secret of the block bs bytes below is this minus bs). */
ALWAYS_INLINE uintptr_t harden_block_secret(const void *b)
{
    return harden_secrets.block + (uintptr_t)b;
}
#endif /* HAKMEM_HARDENED */

/* The functions exist in the hardened library only (harden.c compiles to
 * nothing in the default one), where callers reach them behind
 * `if (HARDEN_ON)`. */

/* Draws the secrets (getrandom; the clock and addresses when it fails).
 * Called once, first thing at process set-up, before any block exists. */
void harden_init(void);

/* Guard pages: [p, p + n) (page aligned) made inaccessible, or
 * accessible again.  False when the kernel refuses. */
bool harden_guard(void *p, size_t n);
bool harden_unguard(void *p, size_t n);

/* 64 random bits, from a sequence of the calling thread's own, seeded
 * from the secret: the order of blocks carved together. */
uint64_t harden_random(void);
/* In a fork child: its thread's random bits start again. */
void harden_fork_child(void);

/* Zero-size blocks: distinct addresses in a reserved range that is
 * neither readable nor writable, never reused.  harden_zero_alloc
 * returns NULL once the range is used up (the caller then hands out an
 * ordinary block).  harden_zero_owns says whether p lies in the range;
 * harden_zero_free frees such a p, aborting on a double free or a
 * pointer that is not a zero-size block, naming fn. */
void *harden_zero_alloc(void);
bool harden_zero_owns(const void *p);
void harden_zero_free(void *p, const char *fn);

#endif /* HAKMEM_HARDEN_H */
