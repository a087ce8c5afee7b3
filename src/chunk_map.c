/* chunk_map.c - the map of hakmem's chunks.  Each byte is written alone
 * (a plain store: no chunk shares its byte), once per SuperSlab or large
 * block mapped or unmapped, and read by free() without a lock. */
#include "internal.h"

#include "chunk_map.h"

uint8_t chunk_kinds[CHUNK_COUNT];

bool chunk_map_set(const void *p, enum chunk_kind kind)
{
    uintptr_t c = (uintptr_t)p >> CHUNK_SHIFT;
    if (c >= CHUNK_COUNT)
        return false;
    store_release(&chunk_kinds[c], (uint8_t)kind);
    return true;
}
