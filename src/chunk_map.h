/* chunk_map.h - which 2 MiB chunks of the address space are hakmem's.
 * One bit per chunk and kind, in flat bitmaps read without locks: free()
 * tells its own pointers (SuperSlabs, large blocks) from anything else in
 * O(1), with no dependent pointer load on the fast path.  The bitmaps are
 * zero-filled BSS (8 MiB each of address space; only the pages covering
 * chunks in use are ever touched). */
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

extern uint64_t chunk_superslab_bits[CHUNK_COUNT / 64];
extern uint64_t chunk_large_bits[CHUNK_COUNT / 64];
extern uint64_t chunk_large_aligned_bits[CHUNK_COUNT / 64];

ALWAYS_INLINE bool chunk_bit(const uint64_t *bits, const void *p)
{
    uintptr_t c = (uintptr_t)p >> CHUNK_SHIFT;
    if (unlikely(c >= CHUNK_COUNT))
        return false;
    return (load_relaxed(&bits[c / 64]) >> (c % 64)) & 1;
}

ALWAYS_INLINE bool chunk_is_superslab(const void *p) { return chunk_bit(chunk_superslab_bits, p); }

ALWAYS_INLINE unsigned chunk_kind_of(const void *p)
{
    if (chunk_bit(chunk_superslab_bits, p))
        return CHUNK_SUPERSLAB;
    if (chunk_bit(chunk_large_bits, p))
        return CHUNK_LARGE;
    if (chunk_bit(chunk_large_aligned_bits, p))
        return CHUNK_LARGE_ALIGNED;
    return CHUNK_NONE;
}

/* Marks the chunk holding p as kind (CHUNK_NONE clears both).  Callers
 * set a chunk after mapping it and clear it before unmapping.  False for
 * an address beyond the map. */
bool chunk_map_set(const void *p, enum chunk_kind kind);

#endif /* HAKMEM_CHUNK_MAP_H */
