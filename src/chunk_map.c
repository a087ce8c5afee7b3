/* chunk_map.c - setting and clearing chunk bits; a word covers 64 chunks
 * of different owners, so updates are atomic read-modify-writes (rare:
 * once per SuperSlab or large block). */
#include "internal.h"

#include "chunk_map.h"

uint64_t hak_superslab_bits[HAK_CHUNK_COUNT / 64];
uint64_t hak_large_bits[HAK_CHUNK_COUNT / 64];
uint64_t hak_large_aligned_bits[HAK_CHUNK_COUNT / 64];

bool chunk_map_set(const void *p, enum chunk_kind kind)
{
    uintptr_t c = (uintptr_t)p >> HAK_CHUNK_SHIFT;
    if (c >= HAK_CHUNK_COUNT)
        return false;
    uint64_t bit = (uint64_t)1 << (c % 64);
    __atomic_fetch_and(&hak_superslab_bits[c / 64], ~bit, __ATOMIC_RELEASE);
    __atomic_fetch_and(&hak_large_bits[c / 64], ~bit, __ATOMIC_RELEASE);
    __atomic_fetch_and(&hak_large_aligned_bits[c / 64], ~bit, __ATOMIC_RELEASE);
    if (kind == CHUNK_SUPERSLAB)
        __atomic_fetch_or(&hak_superslab_bits[c / 64], bit, __ATOMIC_RELEASE);
    else if (kind == CHUNK_LARGE)
        __atomic_fetch_or(&hak_large_bits[c / 64], bit, __ATOMIC_RELEASE);
    else if (kind == CHUNK_LARGE_ALIGNED)
        __atomic_fetch_or(&hak_large_aligned_bits[c / 64], bit, __ATOMIC_RELEASE);
    return true;
}
