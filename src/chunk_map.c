/* chunk_map.c - leaves of the chunk map are mapped on first use and never
 * freed (8 KiB covers 16 GiB of address space). */
#include "internal.h"

#include "chunk_map.h"
#include "os_pages.h"

_Atomic(chunk_leaf_t *) hak_chunk_map[(size_t)1 << HAK_CHUNK_TOP_BITS];

bool chunk_map_set(const void *p, enum chunk_kind kind)
{
    uintptr_t a = (uintptr_t)p;
    if (a >> HAK_ADDRESS_BITS)
        return false;
    _Atomic(chunk_leaf_t *) *slot = &hak_chunk_map[a >> (HAK_CHUNK_SHIFT + HAK_CHUNK_LEAF_BITS)];
    chunk_leaf_t *leaf = atomic_load_explicit(slot, memory_order_acquire);
    if (leaf == NULL) {
        if (kind == CHUNK_NONE)
            return true;
        chunk_leaf_t *fresh = os_map_aligned(sizeof(chunk_leaf_t), HAK_PAGE_SIZE);
        if (fresh == NULL)
            return false;
        if (atomic_compare_exchange_strong_explicit(slot, &leaf, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            leaf = fresh;
        else
            os_unmap(fresh, sizeof(chunk_leaf_t)); /* another thread won; use its leaf */
    }
    atomic_store_explicit(
        &(*leaf)[(a >> HAK_CHUNK_SHIFT) & (((uintptr_t)1 << HAK_CHUNK_LEAF_BITS) - 1)],
        (uint8_t)kind, memory_order_release);
    return true;
}
