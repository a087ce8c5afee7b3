/* chunk_map.h - which 2 MiB chunks of the address space are hakmem's.
 * One byte per chunk, in a flat map read without locks: free() tells its
 * own pointers (SuperSlabs, large blocks) from anything else in O(1),
 * with one load and no dependent pointer load on the fast path. */
#ifndef HAKMEM_CHUNK_MAP_H
#define HAKMEM_CHUNK_MAP_H

#include "internal.h"

#define CHUNK_SHIFT 21
#define CHUNK_SIZE ((size_t)1 << CHUNK_SHIFT)
#define CHUNK_ADDRESS_BITS 47
#define CHUNK_COUNT ((size_t)1 << (CHUNK_ADDRESS_BITS - CHUNK_SHIFT))

enum chunk_kind {
    CHUNK_NONE = 0,          /* not hakmem's */
    CHUNK_SUPERSLAB = 1,     /* a SuperSlab starts here */
    CHUNK_LARGE = 2,         /* a large block's mapping starts here, header first */
    CHUNK_LARGE_ALIGNED = 3, /* a large block aligned to >= 2 MiB starts here;
                                its header is the page before */
};

/* One byte per chunk: its enum chunk_kind.  64 MiB of zero-filled BSS,
 * of which only the pages covering chunks in use are ever touched. */
extern uint8_t chunk_kinds[CHUNK_COUNT];

/* The addresses hakmem maps lie below 2^CHUNK_ADDRESS_BITS. */
#define CHUNK_ADDRESS_MASK (((uintptr_t)1 << CHUNK_ADDRESS_BITS) - 1)

/* free()'s test, one load and no range check: true when p's chunk, its
 * address bits above CHUNK_ADDRESS_BITS ignored, is a SuperSlab.  A p
 * with such bits set may alias one of ours; the caller then reaches that
 * SuperSlab's metadata only through ss_of (which drops them too) and
 * refuses p when it is not exactly one of its blocks, which such a p
 * never is (see slab_block_index). */
ALWAYS_INLINE bool chunk_is_superslab(const void *p)
{
    uintptr_t c = ((uintptr_t)p >> CHUNK_SHIFT) & (CHUNK_COUNT - 1);
    /* Published: a block's chunk was marked before the block was handed
     * out; for a foreign p either value is refused later. */
    return load_published(&chunk_kinds[c]) == CHUNK_SUPERSLAB;
}

ALWAYS_INLINE unsigned chunk_kind_of(const void *p)
{
    uintptr_t c = (uintptr_t)p >> CHUNK_SHIFT;
    if (unlikely(c >= CHUNK_COUNT))
        return CHUNK_NONE;
    return load_relaxed(&chunk_kinds[c]);
}

/* Marks the chunk holding p as kind (CHUNK_NONE: not hakmem's).  Callers
 * set a chunk after mapping it and clear it before unmapping.  False for
 * an address beyond the map. */
bool chunk_map_set(const void *p, enum chunk_kind kind);

#endif /* HAKMEM_CHUNK_MAP_H */
