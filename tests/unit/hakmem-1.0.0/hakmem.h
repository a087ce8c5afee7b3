/* hakmem.h - public interface of the hakmem memory allocator.
 *
 * Link with -lhakmem (pkg-config --cflags --libs hakmem).  Every function
 * here is thread-safe.  See hak_malloc(3), hak_stats(3) and hakmem(7).
 *
 * Environment variables read by the library (all documented in hakmem(7)):
 *   HAKMEM_STATS       "1" (or "text") prints statistics to stderr at exit,
 *                      "json" prints them as JSON.
 *   HAKMEM_CACHE_MB    megabytes of freed memory kept mapped for reuse before
 *                      it is returned to the OS (default 128): freed large
 *                      blocks (one unused for a second is unmapped at the
 *                      next large allocation or free), and up to a
 *                      eighth of it in free SuperSlabs and slab pages.
 *   HAKMEM_VERBOSE     "1" prints start-up, shutdown and diagnostic messages
 *                      (only in builds configured with --enable-debug-guards).
 * Any other variable whose name starts with HAKMEM_ is reported once on
 * stderr, naming the closest known variable.
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 1
#define HAKMEM_VERSION_MINOR 0
#define HAKMEM_VERSION_PATCH 0
/* One number that compares in release order: 0xMMmmpp. */
#define HAKMEM_VERSION \
    ((HAKMEM_VERSION_MAJOR << 16) | (HAKMEM_VERSION_MINOR << 8) | HAKMEM_VERSION_PATCH)

#if defined(HAKMEM_BUILDING_LIBRARY) && defined(__GNUC__)
#define HAK_API __attribute__((visibility("default")))
#else
#define HAK_API
#endif

#if defined(__GNUC__) && !defined(HAKMEM_BUILDING_LIBRARY)
#define HAK_ATTR_MALLOC __attribute__((malloc))
#define HAK_ATTR_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define HAK_ATTR_MALLOC
#define HAK_ATTR_ALLOC_SIZE(...)
#endif

/* ---- Allocation ------------------------------------------------------ */

/* Same contracts as the C library functions of the same name without the
 * prefix.  Failure returns NULL with errno set to ENOMEM (EINVAL for a bad
 * alignment).  Every block is aligned to at least alignof(max_align_t). */
HAK_API void *hak_malloc(size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(1);
HAK_API void *hak_calloc(size_t nmemb, size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(1, 2);
HAK_API void *hak_realloc(void *ptr, size_t size) HAK_ATTR_ALLOC_SIZE(2);
HAK_API void hak_free(void *ptr);

/* alignment must be a power of two; unlike C11 aligned_alloc, size need
 * not be a multiple of it.  Bad alignment: NULL with errno = EINVAL. */
HAK_API void *hak_aligned_alloc(size_t alignment, size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(2);
/* posix_memalign(3) semantics: returns 0, EINVAL or ENOMEM; errno untouched. */
HAK_API int hak_posix_memalign(void **memptr, size_t alignment, size_t size);

/* Bytes usable in the block (>= the size asked for); 0 for NULL. */
HAK_API size_t hak_usable_size(const void *ptr);

/* ---- Version --------------------------------------------------------- */

/* HAKMEM_VERSION of the library actually loaded. */
HAK_API unsigned hak_version(void);
/* "1.0.0" */
HAK_API const char *hak_version_string(void);

/* ---- Integrity ------------------------------------------------------- */

/* Walks every SuperSlab and slab and validates the metadata the calling
 * thread may read without stopping others (magic numbers, counts, the
 * calling thread's own free lists).  Returns 0 when the heap is
 * consistent, -1 (and prints the first problem to stderr) otherwise. */
HAK_API int hak_check(void);

/* ---- Statistics (see hak_stats(3)) ----------------------------------- */

#define HAK_STATS_VERSION 1
#define HAK_STATS_MAX_CLASSES 64
#define HAK_STATS_MAX_LOCKS 8

struct hak_stats_class {
    uint64_t block_size; /* bytes per block of this size class */
    uint64_t allocs;     /* blocks handed out, cumulative */
    uint64_t frees;      /* blocks given back, cumulative */
    uint64_t slabs;      /* slabs of this class currently carved */
};

struct hak_stats_lock {
    char name[16];        /* NUL-terminated, e.g. "superslab" */
    uint64_t acquisitions;
    uint64_t contended;   /* acquisitions that found the lock taken */
};

/* Compatibility rule: fields are only ever appended.  The caller passes
 * sizeof(struct hak_stats) as it was compiled; the library fills at most
 * that many bytes, stores in `size` how many it filled, and leaves the
 * rest of a newer, larger struct zeroed.  Arrays have fixed bounds; the
 * `nclasses` and `nlocks` fields say how many entries are meaningful. */
struct hak_stats {
    uint64_t size;    /* bytes filled by the library */
    uint32_t version; /* HAK_STATS_VERSION of the library */
    uint32_t nclasses;

    uint64_t bytes_requested;   /* sum of sizes asked for, cumulative */
    uint64_t bytes_in_use;      /* usable bytes of live blocks now */
    uint64_t bytes_in_use_peak; /* high-water mark of bytes_in_use (*) */
    uint64_t bytes_mapped;      /* bytes mapped from the OS now */
    uint64_t bytes_mapped_peak;
    uint64_t bytes_returned;    /* bytes given back (munmap, MADV_DONTNEED), cumulative */

    uint64_t allocs;            /* all allocations, cumulative */
    uint64_t frees;             /* all frees, cumulative */
    uint64_t remote_frees;      /* frees pushed on another thread's slab */
    uint64_t remote_drains;     /* remote stacks emptied by their owner */
    uint64_t remote_drained;    /* blocks those drains recovered */
    uint64_t slabs_adopted;     /* abandoned slabs claimed by an allocating thread */
    uint64_t slabs_reclaimed;   /* parked slabs claimed by a freeing thread */
    uint64_t superslabs_live;   /* SuperSlabs in use */
    uint64_t superslabs_cached; /* free SuperSlabs kept for reuse */
    uint64_t large_live;        /* blocks mapped on their own (> 1 MiB) */
    uint64_t large_bytes;       /* bytes mapped for them */
    uint64_t threads_live;      /* thread heaps in use */
    uint64_t threads_exited;    /* thread heaps retired, cumulative */

    uint32_t nlocks;
    uint32_t reserved0;
    struct hak_stats_lock locks[HAK_STATS_MAX_LOCKS];
    struct hak_stats_class classes[HAK_STATS_MAX_CLASSES];
};
/* (*) sampled exactly when memory use grows (a thread takes a new slab,
 * a large block is mapped), at most every 10 ms, and at every hak_stats()
 * call: a spike shorter than that may be missed.  Counting every malloc
 * and free into one figure would slow every call down. */

/* Fills *st (see the compatibility rule).  Returns 0, or -1 with errno =
 * EINVAL when st is NULL or size is smaller than the fixed header (16). */
HAK_API int hak_stats(struct hak_stats *st, size_t size);
/* Readable table / one JSON object.  Never allocates.  0 or -1 (EOF). */
HAK_API int hak_stats_print(FILE *fp);
HAK_API int hak_stats_print_json(FILE *fp);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_H */
