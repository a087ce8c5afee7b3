/* large.c - one mapping per block, 2 MiB aligned so that the chunk holding
 * the user pointer belongs to this block alone; realloc moves pages with
 * mremap instead of copying (but copies a block made of several mappings,
 * which mremap cannot move and resize at once).  Freed mappings are kept
 * a short while in a small cache, and a request none of them covers is
 * assembled from several by moving their pages: a program that frees and
 * allocates big blocks in a loop would otherwise fault every page in
 * again each time. */
#define _GNU_SOURCE
#include "internal.h"

#include "large.h"

#include "chunk_map.h"
#include "diag.h"
#include "harden.h"
#include "lock.h"
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

/* The cache of freed mappings (LOCK_LARGE).  Bounded three ways: a
 * few entries, a byte budget (HAKMEM_CACHE_MB), and an age: an entry
 * unused for LARGE_CACHE_AGE_MS is unmapped at the next large allocation
 * or free. */
#define LARGE_CACHE_SLOTS 16
#define LARGE_CACHE_AGE_MS 1000

struct large_cached {
    char *base;
    size_t size;
    uint64_t freed_ms;
};
static struct large_cached large_cache[LARGE_CACHE_SLOTS];
static unsigned large_cache_count;
static size_t large_cache_bytes;
static size_t large_cache_limit = (size_t)128 << 20; /* large_set_cache_limit */
#define LARGE_LOCK (&lock_table[LOCK_LARGE])

void large_set_cache_limit(size_t bytes) { large_cache_limit = bytes; }

/* Every change of large_cache_bytes, also told to os_pages (the total of
 * every cache). */
static void large_cache_account(int64_t delta)
{
    large_cache_bytes += (size_t)delta;
    os_account_cached(delta);
}

/* Takes entry i out of the cache (under the lock). */
static struct large_cached large_cache_take(unsigned i)
{
    struct large_cached e = large_cache[i];
    large_cache[i] = large_cache[--large_cache_count];
    large_cache_account(-(int64_t)e.size);
    return e;
}

/* Removes what is too old, or over the budget (oldest first), into out;
 * returns how many.  The caller unmaps them after dropping the lock. */
static unsigned large_cache_expire(uint64_t now, size_t budget, struct large_cached *out)
{
    unsigned n = 0;
    for (unsigned i = 0; i < large_cache_count;) {
        if (now - large_cache[i].freed_ms >= LARGE_CACHE_AGE_MS)
            out[n++] = large_cache_take(i);
        else
            i++;
    }
    while (large_cache_bytes > budget && large_cache_count > 0) {
        unsigned oldest = 0;
        for (unsigned i = 1; i < large_cache_count; i++)
            if (large_cache[i].freed_ms < large_cache[oldest].freed_ms)
                oldest = i;
        out[n++] = large_cache_take(oldest);
    }
    return n;
}

static void large_unmap_all(struct large_cached *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        os_unmap(list[i].base, list[i].size);
}

/* Takes from the cache the entries to make a mapping of at least need
 * bytes, into parts; returns how many.  The smallest entry large enough
 * when there is one, else the largest ones until need is covered (only
 * the largest, to be grown, when several cannot be moved into one:
 * !assemble).  An entry over twice what is still missing is cut
 * at a chunk boundary, its tail staying cached (so itself chunk aligned).
 * Under the lock. */
static unsigned large_cache_pick(size_t need, bool assemble, struct large_cached *parts)
{
    unsigned n = 0;
    size_t got = 0;
    while (got < need && large_cache_count > 0 && (assemble || n == 0)) {
        size_t missing = need - got;
        int pick = -1;
        for (unsigned i = 0; i < large_cache_count; i++) {
            size_t s = large_cache[i].size, best = pick < 0 ? 0 : large_cache[pick].size;
            bool fits = s >= missing, best_fits = pick >= 0 && best >= missing;
            if (pick < 0 || (fits && (!best_fits || s < best)) || (!fits && !best_fits && s > best))
                pick = (int)i;
        }
        if (pick < 0)
            break;
        struct large_cached e = large_cache_take((unsigned)pick);
        size_t cut = align_up(missing, CHUNK_SIZE);
        if (e.size / 2 > missing && cut < e.size) {
            large_cache[large_cache_count++] =
                (struct large_cached){e.base + cut, e.size - cut, e.freed_ms};
            large_cache_account((int64_t)(e.size - cut));
            e.size = cut;
        }
        parts[n++] = e;
        got += e.size;
    }
    return n;
}

/* Several cached mappings moved side by side into a fresh chunk-aligned
 * one of total bytes (page tables move, pages do not; what they do not
 * cover is fresh).  NULL if the kernel refuses: the part whose move
 * failed and its place in the new mapping are given up, not unmapped
 * (see os_move_pages); everything else is unmapped. */
static COLD char *large_assemble(struct large_cached *parts, unsigned nparts, size_t total)
{
    size_t moved = 0;
    for (unsigned i = 0; i < nparts; i++)
        moved += parts[i].size;
    os_forget_mapped(moved); /* they become part of the new mapping */
    char *base = os_map_aligned(total, CHUNK_SIZE);
    size_t off = 0;
    unsigned i = 0;
    for (; base != NULL && i < nparts; i++) {
        if (!os_move_pages(base + off, parts[i].base, parts[i].size)) {
            size_t after = off + parts[i].size;
            if (off > 0)
                os_unmap(base, off); /* the parts moved before it */
            if (after < total)
                os_unmap(base + after, total - after);
            os_forget_mapped(parts[i].size);
            base = NULL;
        }
        off += parts[i].size;
    }
    for (; i < nparts; i++)
        os_unmap_forgotten(parts[i].base, parts[i].size); /* untouched */
    return base;
}

/* The largest cached mapping grown to need bytes, on kernels that move
 * one mapping at a time: in place when the pages after it are free, else
 * moved to a fresh chunk-aligned place.  NULL when neither works (it was
 * split into several mappings by the program before it was freed, or the
 * kernel refuses); the entry is then unmapped. */
static COLD char *large_cache_grow(struct large_cached e, size_t need)
{
    enum os_remap r = os_remap_inplace(e.base, e.size, need);
    if (r == OS_REMAP_DONE)
        return e.base;
    char *grown = r == OS_REMAP_MOVABLE ? os_remap_aligned(e.base, e.size, need, CHUNK_SIZE) : NULL;
    if (grown == NULL)
        os_unmap(e.base, e.size);
    return grown;
}

/* A mapping of at least need bytes made of cached ones, so that its pages
 * are already faulted in: one entry used as it is, several assembled, or
 * (on kernels that move one mapping at a time) the largest grown.  *size
 * is set to its size. */
static char *large_cache_get(size_t need, size_t *size)
{
    struct large_cached stale[LARGE_CACHE_SLOTS], parts[LARGE_CACHE_SLOTS];
    bool assemble = os_moves_across_mappings();
    lock_acquire(LARGE_LOCK);
    unsigned n = large_cache_expire(clock_now_ms(), large_cache_limit, stale);
    unsigned nparts = large_cache_pick(need, assemble, parts);
    lock_release(LARGE_LOCK);
    large_unmap_all(stale, n);
    if (nparts == 0)
        return NULL;
    char *base;
    if (nparts == 1 && parts[0].size >= need) {
        base = parts[0].base;
        *size = parts[0].size;
    } else if (!assemble) {
        base = large_cache_grow(parts[0], need);
        *size = need;
    } else {
        size_t total = 0;
        for (unsigned i = 0; i < nparts; i++)
            total += parts[i].size;
        *size = total > need ? total : need;
        base = large_assemble(parts, nparts, *size);
    }
    /* The program may have made some of these pages read-only (mprotect)
     * before it freed them; a new block is writable throughout. */
    if (base != NULL && !os_make_writable(base, *size)) {
        os_unmap(base, *size);
        base = NULL;
    }
    return base;
}

size_t large_trim(void)
{
    struct large_cached all[LARGE_CACHE_SLOTS];
    size_t released = 0;
    lock_acquire(LARGE_LOCK);
    unsigned n = large_cache_count;
    for (unsigned i = 0; i < n; i++) {
        all[i] = large_cache_take(0);
        released += all[i].size;
    }
    lock_release(LARGE_LOCK);
    large_unmap_all(all, n);
    return released;
}

size_t large_purge_idle(uint64_t *next_ms)
{
    struct large_cached stale[LARGE_CACHE_SLOTS];
    size_t returned = 0;
    lock_acquire(LARGE_LOCK);
    /* The clock read under the lock, as where freed_ms is written. */
    unsigned n = large_cache_expire(clock_now_ms(), large_cache_limit, stale);
    for (unsigned i = 0; i < large_cache_count; i++)
        if (large_cache[i].freed_ms + LARGE_CACHE_AGE_MS < *next_ms)
            *next_ms = large_cache[i].freed_ms + LARGE_CACHE_AGE_MS;
    lock_release(LARGE_LOCK);
    for (unsigned i = 0; i < n; i++)
        returned += stale[i].size;
    large_unmap_all(stale, n);
    return returned;
}

unsigned large_cached_count(void)
{
    lock_acquire(LARGE_LOCK);
    unsigned n = large_cache_count;
    lock_release(LARGE_LOCK);
    return n;
}

static size_t large_cache_block_max = SIZE_MAX;

void large_set_cache_block_max(size_t bytes) { store_relaxed(&large_cache_block_max, bytes); }

/* Keeps a freed default-aligned mapping (its block is all but the header
 * page), or unmaps it. */
static void large_cache_put(char *base, size_t size)
{
    struct large_cached stale[LARGE_CACHE_SLOTS + 1];
    size_t budget = large_cache_limit;
    unsigned n = 0;
    if (size > budget || size - OS_PAGE_SIZE >= load_relaxed(&large_cache_block_max)) {
        os_unmap(base, size);
        return;
    }
    lock_acquire(LARGE_LOCK);
    uint64_t now = clock_now_ms();
    if (large_cache_count == LARGE_CACHE_SLOTS)
        large_cache[0].freed_ms = 0; /* make room: the first entry expires now */
    n = large_cache_expire(now, budget - size, stale);
    large_cache[large_cache_count++] = (struct large_cached){base, size, now};
    large_cache_account((int64_t)size);
    lock_release(LARGE_LOCK);
    large_unmap_all(stale, n);
}

static uint64_t large_live_count, large_mapped_bytes, large_allocs, large_frees, large_requested;

/* The header is the first page of the mapping.  A CHUNK_LARGE chunk is
 * where a mapping starts, so its first page is always mapped, whatever p
 * points at; a CHUNK_LARGE_ALIGNED chunk starts with the block itself,
 * its header the page before, so any other p is refused unread.  The
 * caller has checked that p's chunk is one of the two. */
static struct large_header *large_lookup(const void *p, const char *fn)
{
    uintptr_t chunk = (uintptr_t)p & ~(uintptr_t)(CHUNK_SIZE - 1);
    struct large_header *hdr = (struct large_header *)chunk;
    if (chunk_kind_of(p) == CHUNK_LARGE_ALIGNED) {
        if ((uintptr_t)p != chunk)
            diag_invalid_pointer(fn, p);
        hdr = (struct large_header *)(chunk - OS_PAGE_SIZE);
    }
    if (hdr->magic != LARGE_MAGIC || hdr->user != p)
        diag_invalid_pointer(fn, p);
    return hdr;
}

static void large_account(int64_t blocks, int64_t bytes, int64_t usable)
{
    fetch_add_relaxed(&large_live_count, (uint64_t)blocks);
    fetch_add_relaxed(&large_mapped_bytes, (uint64_t)bytes);
    stats_large_in_use_add(usable);
}

void *large_alloc(size_t size, size_t align, bool zeroed)
{
    if (align < OS_PAGE_SIZE)
        align = OS_PAGE_SIZE;
    if (size > ((size_t)1 << 46) || align > ((size_t)1 << 40)) {
        errno = ENOMEM;
        return NULL;
    }
    /* At least a page: the chunk marked for the block must be mapped.
     * The hardened library's guard page follows it. */
    size_t body = align_up(size ? size : 1, OS_PAGE_SIZE) + HARDEN_LARGE_GUARD;
    char *base, *user;
    size_t map_size;
    enum chunk_kind kind = CHUNK_LARGE;
    if (align < CHUNK_SIZE) {
        /* The header page starts the chunk; the block follows at align. */
        map_size = align + body;
        base = align == OS_PAGE_SIZE && !zeroed ? large_cache_get(map_size, &map_size) : NULL;
        if (base == NULL)
            base = os_map_aligned(map_size, CHUNK_SIZE);
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
        base = user - OS_PAGE_SIZE;
        os_unmap(raw, (size_t)(base - raw));
        map_size = OS_PAGE_SIZE + body;
        kind = CHUNK_LARGE_ALIGNED;
    }
    if ((HARDEN_ON && !harden_guard(base + map_size - OS_PAGE_SIZE, OS_PAGE_SIZE)) ||
        !chunk_map_set(user, kind)) {
        os_unmap(base, map_size);
        errno = ENOMEM;
        return NULL;
    }
    struct large_header *hdr = (struct large_header *)base;
    hdr->magic = LARGE_MAGIC;
    hdr->map_base = base;
    hdr->map_size = map_size;
    hdr->user = user;
    hdr->usable = (size_t)(base + map_size - user) - HARDEN_LARGE_GUARD;
    large_account(1, (int64_t)map_size, (int64_t)hdr->usable);
    fetch_add_relaxed(&large_allocs, 1);
    fetch_add_relaxed(&large_requested, size);
    stats_sample_peak();
    DIAG_LOG("large block %p: %zu bytes mapped at %p", (void *)user, map_size, (void *)base);
    return user;
}

/* The hardened library's guard page ends the mapping [base, base +
 * map_size): made accessible again before the mapping is cached, as it
 * is reused whole.  False when the kernel refuses (the mapping is then
 * unmapped, not cached). */
static bool large_unguard(char *base, size_t map_size)
{
    return !HARDEN_ON || harden_unguard(base + map_size - OS_PAGE_SIZE, OS_PAGE_SIZE);
}

void large_free(void *p, const char *fn)
{
    struct large_header *hdr = large_lookup(p, fn);
    char *base = hdr->map_base;
    size_t map_size = hdr->map_size;
    large_account(-1, -(int64_t)map_size, -(int64_t)hdr->usable);
    fetch_add_relaxed(&large_frees, 1);
    hdr->magic = 0;
    /* Unregister before unmapping: the range may be reused at once.  (A
     * cached mapping stays unregistered too: freeing p again is invalid.) */
    chunk_map_set(p, CHUNK_NONE);
    if ((char *)p - base == (ptrdiff_t)OS_PAGE_SIZE && ((uintptr_t)base & (CHUNK_SIZE - 1)) == 0 &&
        large_unguard(base, map_size))
        large_cache_put(base, map_size);
    else
        os_unmap(base, map_size);
}

size_t large_usable_size(const void *p, const char *fn) { return large_lookup(p, fn)->usable; }

/* A block that can neither grow where it is nor move (several mappings:
 * mremap cannot move them and resize them at once): copied to a new
 * block. */
static COLD void *large_realloc_copy(void *p, size_t size, size_t old_usable)
{
    void *q = large_alloc(size, OS_PAGE_SIZE, false);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old_usable < size ? old_usable : size);
    large_free(p, "realloc");
    return q;
}

void *large_realloc(void *p, size_t size)
{
    struct large_header *hdr = large_lookup(p, "realloc");
    if (size > ((size_t)1 << 46)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t offset = (size_t)((char *)p - hdr->map_base);
    size_t new_map = offset + align_up(size, OS_PAGE_SIZE) + HARDEN_LARGE_GUARD;
    if (new_map == hdr->map_size)
        return p;
    /* The hardened library's guard page ends the mapping, and mremap
     * resizes no range of two protections: a new block, its guard page
     * after it.  Shrinking does not fail: with no new block the old one
     * stays, and errno as it was. */
    if (HARDEN_ON) {
        int saved_errno = errno;
        void *q = large_realloc_copy(p, size, hdr->usable);
        if (q == NULL && new_map < hdr->map_size) {
            errno = saved_errno;
            return p;
        }
        return q;
    }
    size_t old_map = hdr->map_size, old_usable = hdr->usable;
    char *base = hdr->map_base;
    enum chunk_kind kind = chunk_kind_of(p);
    enum os_remap r = os_remap_inplace(base, old_map, new_map);
    if (r != OS_REMAP_DONE && new_map < old_map)
        return p; /* shrinking does not fail; keeping the block is safe */
    if (r == OS_REMAP_STUCK)
        return large_realloc_copy(p, size, old_usable);
    if (r == OS_REMAP_MOVABLE) {
        /* Move the pages to a fresh 2 MiB-aligned place.  The old chunk is
         * unregistered first: once mremap returns, its addresses are free
         * for any other mapping. */
        chunk_map_set(p, CHUNK_NONE);
        char *moved = os_remap_aligned(base, old_map, new_map, CHUNK_SIZE);
        if (moved == NULL) {
            chunk_map_set(p, kind);
            return large_realloc_copy(p, size, old_usable);
        }
        /* The moved mapping starts a chunk, header first, the block within
         * its first chunk (offset < 2 MiB): an ordinary large block now. */
        base = moved;
        p = base + offset;
        if (!chunk_map_set(p, CHUNK_LARGE))
            diag_fatal("realloc(): cannot register moved block %p", p);
        hdr = (struct large_header *)base;
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
    st->live = load_relaxed(&large_live_count);
    st->bytes = load_relaxed(&large_mapped_bytes);
    st->allocs = load_relaxed(&large_allocs);
    st->frees = load_relaxed(&large_frees);
    st->requested = load_relaxed(&large_requested);
}
