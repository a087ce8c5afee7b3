/* large.h - blocks above 1 MiB (or aligned beyond 64 KiB): one mapping
 * each with a header page first; the user pointer's 2 MiB chunk is marked
 * CHUNK_LARGE (or CHUNK_LARGE_ALIGNED) in the chunk map. */
#ifndef HAKMEM_LARGE_H
#define HAKMEM_LARGE_H

#include "internal.h"

/* zeroed: the caller needs zero-filled memory (calloc), so only a fresh
 * mapping will do, not a cached one. */
void *large_alloc(size_t size, size_t align, bool zeroed);
void large_free(void *p, const char *fn);
void *large_realloc(void *p, size_t size);
size_t large_usable_size(const void *p, const char *fn);

/* Unmaps every cached mapping now.  Returns the bytes. */
size_t large_trim(void);
/* Unmaps the cached mappings unused for a second (LARGE_CACHE_AGE_MS),
 * as large allocations and frees do; lowers *next_ms to when
 * (clock_now_ms) the next one will have been.  Returns the bytes. */
size_t large_purge_idle(uint64_t *next_ms);
/* The bytes of freed mappings kept for reuse (HAKMEM_CACHE_MB, or less
 * under a limit; set at start-up). */
void large_set_cache_limit(size_t bytes);
/* How many mappings are cached. */
unsigned large_cached_count(void);
/* Freed blocks of at least this many usable bytes are unmapped at once,
 * never cached (mallopt M_MMAP_THRESHOLD); SIZE_MAX, the default, caches
 * any block within the budget. */
void large_set_cache_block_max(size_t bytes);

struct large_stats {
    uint64_t live, bytes;
    uint64_t allocs, frees, requested; /* cumulative */
};
void large_stats_read(struct large_stats *st);

#endif /* HAKMEM_LARGE_H */
