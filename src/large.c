/* large.c - one mapping per block, 2 MiB aligned so that the chunk holding
 * the user pointer belongs to this block alone; realloc moves pages with
 * mremap instead of copying. */
#define _GNU_SOURCE
#include "internal.h"

#include "large.h"

#include "chunk_map.h"
#include "debug_log.h"
#include "heap.h"
#include "os_pages.h"
#include "stats.h"

#include <errno.h>
#include <string.h>

#define LARGE_MAGIC 0x48414b4c41524745ull /* "HAKLARGE" */

struct large_header {
    uint64_t magic;
    char *map_base;
    size_t map_size;
    void *user;
    size_t usable;
};

static _Atomic uint64_t large_live_count, large_mapped_bytes, large_allocs, large_frees,
    large_requested;

/* The header lives in the page just before the user pointer's page. */
HAK_INLINE struct large_header *large_header_of(const void *p)
{
    return (struct large_header *)(((uintptr_t)p & ~(HAK_PAGE_SIZE - 1)) - HAK_PAGE_SIZE);
}

static struct large_header *large_lookup(const void *p, const char *fn)
{
    struct large_header *hdr = large_header_of(p);
    if (((uintptr_t)p & (HAK_PAGE_SIZE - 1)) != 0 || hdr->magic != LARGE_MAGIC || hdr->user != p)
        hak_invalid_pointer(fn, p);
    return hdr;
}

static void large_account(int64_t blocks, int64_t bytes, int64_t usable)
{
    atomic_fetch_add_explicit(&large_live_count, (uint64_t)blocks, memory_order_relaxed);
    atomic_fetch_add_explicit(&large_mapped_bytes, (uint64_t)bytes, memory_order_relaxed);
    stats_large_in_use_add(usable);
}

void *large_alloc(size_t size, size_t align)
{
    if (align < HAK_PAGE_SIZE)
        align = HAK_PAGE_SIZE;
    if (size > ((size_t)1 << 46) || align > ((size_t)1 << 40)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t body = hak_align_up(size, HAK_PAGE_SIZE);
    char *base, *user;
    size_t map_size;
    if (align < HAK_CHUNK_SIZE) {
        /* Header page at the chunk start (or further in for alignment). */
        map_size = align + body;
        base = os_map_aligned(map_size, HAK_CHUNK_SIZE);
        if (base == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        user = base + align;
    } else {
        /* The user pointer itself starts a chunk; trim what lies before its
         * header page. */
        char *raw = os_map_aligned(align + body, align);
        if (raw == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        user = raw + align;
        base = user - HAK_PAGE_SIZE;
        os_unmap(raw, (size_t)(base - raw));
        map_size = HAK_PAGE_SIZE + body;
    }
    if (!chunk_map_set(user, CHUNK_LARGE)) {
        os_unmap(base, map_size);
        errno = ENOMEM;
        return NULL;
    }
    struct large_header *hdr = large_header_of(user);
    hdr->magic = LARGE_MAGIC;
    hdr->map_base = base;
    hdr->map_size = map_size;
    hdr->user = user;
    hdr->usable = (size_t)(base + map_size - user);
    large_account(1, (int64_t)map_size, (int64_t)hdr->usable);
    atomic_fetch_add_explicit(&large_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&large_requested, size, memory_order_relaxed);
    HAK_DEBUG_LOG("large block %p: %zu bytes mapped at %p", (void *)user, map_size, (void *)base);
    return user;
}

void large_free(void *p, const char *fn)
{
    struct large_header *hdr = large_lookup(p, fn);
    char *base = hdr->map_base;
    size_t map_size = hdr->map_size;
    large_account(-1, -(int64_t)map_size, -(int64_t)hdr->usable);
    atomic_fetch_add_explicit(&large_frees, 1, memory_order_relaxed);
    hdr->magic = 0;
    /* Unregister before unmapping: the range may be reused at once. */
    chunk_map_set(p, CHUNK_NONE);
    os_unmap(base, map_size);
}

size_t large_usable_size(const void *p, const char *fn) { return large_lookup(p, fn)->usable; }

void *large_realloc(void *p, size_t size)
{
    struct large_header *hdr = large_lookup(p, "realloc");
    if (size > ((size_t)1 << 46)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t offset = (size_t)((char *)p - hdr->map_base);
    size_t new_map = offset + hak_align_up(size, HAK_PAGE_SIZE);
    if (new_map == hdr->map_size)
        return p;
    size_t old_map = hdr->map_size, old_usable = hdr->usable;
    char *base = hdr->map_base;
    if (new_map < old_map) {
        if (!os_remap_inplace(base, old_map, new_map))
            return p; /* shrinking does not fail; keeping the block is safe */
    } else if (!os_remap_inplace(base, old_map, new_map)) {
        /* Move the pages to a fresh 2 MiB-aligned place.  The old chunk is
         * unregistered first: once mremap returns, its addresses are free
         * for any other mapping. */
        chunk_map_set(p, CHUNK_NONE);
        char *moved = os_remap_aligned(base, old_map, new_map, HAK_CHUNK_SIZE);
        if (moved == NULL) {
            chunk_map_set(p, CHUNK_LARGE);
            errno = ENOMEM;
            return NULL;
        }
        base = moved;
        p = base + offset;
        if (!chunk_map_set(p, CHUNK_LARGE))
            hak_fatal("realloc(): cannot register moved block %p", p);
        hdr = large_header_of(p);
    }
    hdr->map_base = base;
    hdr->map_size = new_map;
    hdr->user = p;
    hdr->usable = new_map - offset;
    large_account(0, (int64_t)new_map - (int64_t)old_map,
                  (int64_t)hdr->usable - (int64_t)old_usable);
    return p;
}

void large_stats_read(struct large_stats *st)
{
    st->live = atomic_load_explicit(&large_live_count, memory_order_relaxed);
    st->bytes = atomic_load_explicit(&large_mapped_bytes, memory_order_relaxed);
    st->allocs = atomic_load_explicit(&large_allocs, memory_order_relaxed);
    st->frees = atomic_load_explicit(&large_frees, memory_order_relaxed);
    st->requested = atomic_load_explicit(&large_requested, memory_order_relaxed);
}
