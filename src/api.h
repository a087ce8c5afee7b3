/* api.h - the entry points shared by the hak_* API (hakmem.c) and the
 * malloc family (override.c): fast paths inline, the rest out of line. */
#ifndef HAKMEM_API_H
#define HAKMEM_API_H

#include "internal.h"

#include "chunk_map.h"
#include "heap.h"
#include "size_class.h"

/* The slow path of api_alloc_small: sets the process up on its first
 * call, then heap_alloc_slow. */
void *api_alloc_slow(size_t size);
void *api_alloc_large(size_t size);
/* free() of NULL, of a large block, or of a pointer not hakmem's. */
void api_free_large_or_invalid(void *p, const char *fn);
void *api_calloc(size_t nmemb, size_t size);
void *api_realloc(void *p, size_t size, const char *fn);
void *api_aligned_alloc(size_t alignment, size_t size);
int api_posix_memalign(void **memptr, size_t alignment, size_t size);
size_t api_usable_size(const void *p, const char *fn);

/* size <= SIZE_CLASS_SMALL_MAX, and s the thread's current slab for it: a
 * block from s.  The sentinel slab of a class the thread has not used
 * (or of a thread not set up yet) has an empty list, so those take the
 * slow path too. */
ALWAYS_INLINE void *api_alloc_from(struct slab *s, size_t size)
{
    void *b = slab_take_or_null(s, size);
    if (likely(b != NULL))
        return b;
    return api_alloc_slow(size);
}

/* The hardened library's blocks keep HARDEN_TAIL bytes after the request
 * (slab.h, the canaries); a request of 0 bytes takes the class of
 * HARDEN_TAIL, whose slab is always the sentinel: the slow path gives it
 * a block that cannot be read or written. */
ALWAYS_INLINE void *api_alloc(size_t size)
{
    if (likely(size <= SIZE_CLASS_TINY_MAX - HARDEN_TAIL))
        return api_alloc_from(heap_me.heap->tiny[(size + HARDEN_TAIL + MIN_ALIGN - 1) / MIN_ALIGN],
                              size);
    if (likely(size <= SIZE_CLASS_SMALL_MAX - HARDEN_TAIL))
        return api_alloc_from(heap_me.heap->current[size_class_of_mid(size + HARDEN_TAIL)], size);
    return api_alloc_large(size);
}

ALWAYS_INLINE void api_free(void *p, const char *fn)
{
    /* NULL lies in no chunk of ours (nothing is mapped at 0): it takes
     * the slow path, which returns, and costs the fast path nothing. */
    if (likely(chunk_is_superslab(p))) {
        heap_free_small(p, fn);
        return;
    }
    api_free_large_or_invalid(p, fn);
}

#endif /* HAKMEM_API_H */
