/* chunk_map.c - setting and clearing chunk bits; a word covers 64 chunks
 * of different owners, so updates are atomic read-modify-writes (rare:
 * once per SuperSlab or large block). */
#include "internal.h"

#include "chunk_map.h"

uint64_t chunk_superslab_bits[CHUNK_COUNT / 64];
uint64_t chunk_large_bits[CHUNK_COUNT / 64];
uint64_t chunk_large_aligned_bits[CHUNK_COUNT / 64];

bool chunk_map_set(const void *p, enum chunk_kind kind)
{
    uintptr_t c = (uintptr_t)p >> CHUNK_SHIFT;
    if (c >= CHUNK_COUNT)
        return false;
    uint64_t bit = (uint64_t)1 << (c % 64);
    fetch_and_release(&chunk_superslab_bits[c / 64], ~bit);
    fetch_and_release(&chunk_large_bits[c / 64], ~bit);
    fetch_and_release(&chunk_large_aligned_bits[c / 64], ~bit);
    if (kind == CHUNK_SUPERSLAB)
        fetch_or_release(&chunk_superslab_bits[c / 64], bit);
    else if (kind == CHUNK_LARGE)
        fetch_or_release(&chunk_large_bits[c / 64], bit);
    else if (kind == CHUNK_LARGE_ALIGNED)
        fetch_or_release(&chunk_large_aligned_bits[c / 64], bit);
    return true;
}
