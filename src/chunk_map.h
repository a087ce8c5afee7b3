/* chunk_map.h - which 2 MiB chunks of the address space are hakmem's.
 * A two-level table read without locks: free() uses it to tell its own
 * pointers (SuperSlabs, large blocks) from anything else in O(1). */
#ifndef HAKMEM_CHUNK_MAP_H
#define HAKMEM_CHUNK_MAP_H

#include "internal.h"

#define HAK_CHUNK_SHIFT 21
#define HAK_CHUNK_SIZE ((size_t)1 << HAK_CHUNK_SHIFT)
#define HAK_ADDRESS_BITS 47
#define HAK_CHUNK_LEAF_BITS 13
#define HAK_CHUNK_TOP_BITS (HAK_ADDRESS_BITS - HAK_CHUNK_SHIFT - HAK_CHUNK_LEAF_BITS)

enum chunk_kind {
    CHUNK_NONE = 0,      /* not hakmem's */
    CHUNK_SUPERSLAB = 1, /* a SuperSlab starts here */
    CHUNK_LARGE = 2,     /* a large block's user pointer lies in this chunk */
};

typedef _Atomic uint8_t chunk_leaf_t[(size_t)1 << HAK_CHUNK_LEAF_BITS];
extern _Atomic(chunk_leaf_t *) hak_chunk_map[(size_t)1 << HAK_CHUNK_TOP_BITS];

HAK_INLINE unsigned chunk_kind_of(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (unlikely(a >> HAK_ADDRESS_BITS))
        return CHUNK_NONE;
    chunk_leaf_t *leaf = atomic_load_explicit(
        &hak_chunk_map[a >> (HAK_CHUNK_SHIFT + HAK_CHUNK_LEAF_BITS)], memory_order_acquire);
    if (unlikely(leaf == NULL))
        return CHUNK_NONE;
    return atomic_load_explicit(
        &(*leaf)[(a >> HAK_CHUNK_SHIFT) & (((uintptr_t)1 << HAK_CHUNK_LEAF_BITS) - 1)],
        memory_order_relaxed);
}

/* Marks the chunk holding p; false when a leaf could not be mapped.
 * Callers set a chunk after mapping it and clear it before unmapping. */
bool chunk_map_set(const void *p, enum chunk_kind kind);

#endif /* HAKMEM_CHUNK_MAP_H */
