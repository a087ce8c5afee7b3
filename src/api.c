/* hakmem.c - the public hak_* API and the parts of the malloc contract
 * that are not fast paths: calloc, realloc, aligned allocation. */
#include "internal.h"

#include "api.h"
#include "diag.h"
#include "hakmem.h"
#include "harden.h"
#include "large.h"
#include "process.h"
#include "prof.h"
#include "reclaim.h"

#include <errno.h>
#include <string.h>

/* ---- shared slow paths -------------------------------------------------- */

/* An allocation that failed for want of memory: trim, ask the handler,
 * try again (reclaim_after_failure).  saved_errno is errno from before
 * the failed attempt: a call that succeeds in the end leaves it so. */
static COLD void *api_failed(enum reclaim_kind kind, size_t size, size_t align, bool zeroed,
                             void *old, int saved_errno)
{
    struct reclaim_request rq = {kind, size, align, zeroed, old};
    void *p = reclaim_after_failure(&rq);
    if (p != NULL)
        errno = saved_errno;
    return p;
}

NOINLINE void *api_alloc_slow(size_t size)
{
    /* A thread's first allocation may be the process's first. */
    process_init();
    int saved_errno = errno;
    void *p;
    if (unlikely(load_relaxed(&prof_active))) {
        p = prof_alloc_small(size);
    } else if ((p = heap_alloc_slow(size)) != NULL) {
        /* Done, and no lock held: where the purge thread may start. */
        reclaim_thread_maybe_start();
    }
    if (unlikely(p == NULL))
        return api_failed(RECLAIM_SMALL, size, 0, false, NULL, saved_errno);
    return p;
}

/* Every large block is handed out here, for the profiler to see. */
static void *api_large(size_t size, size_t align, bool zeroed)
{
    int saved_errno = errno;
    void *p = large_alloc(size, align, zeroed);
    if (unlikely(p == NULL) &&
        (p = api_failed(RECLAIM_LARGE, size, align, zeroed, NULL, saved_errno)) == NULL)
        return NULL;
    if (unlikely(load_relaxed(&prof_active)))
        prof_note_large(p, large_usable_size(p, "malloc"));
    reclaim_thread_maybe_start();
    /* Filled for mallopt(M_PERTURB) as the heap fills its own blocks
     * (calloc's, fresh and zero, is not). */
    if (!zeroed)
        heap_perturb_new_block(p, size);
    return p;
}

NOINLINE void *api_alloc_large(size_t size) { return api_large(size, 0, false); }

/* Out of line, so that hak_free, which inlines the caller, needs no
 * stack frame on its way to large_free. */
static COLD void api_free_large_profiled(void *p, const char *fn)
{
    prof_forget_large(p);
    large_free(p, fn);
}

void api_free_large_or_invalid(void *p, const char *fn)
{
    if (p == NULL)
        return;
    if (chunk_kind_of(p) >= CHUNK_LARGE) {
        if (unlikely(load_relaxed(&prof_active)))
            api_free_large_profiled(p, fn);
        else
            large_free(p, fn);
    } else if (HARDEN_ON && harden_zero_owns(p)) { /* a zero-size block (harden_zero_alloc) */
        harden_zero_free(p, fn);
    } else {
        diag_invalid_pointer(fn, p);
    }
}

void *api_calloc(size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > SIZE_CLASS_SMALL_MAX)
        return api_large(total, 0, true); /* a fresh mapping: already zero */
    void *p = api_alloc(total);
    if (p != NULL) {
        memset(p, 0, total);
        if (unlikely(reclaim_starting_thread))
            reclaim_note_own_block(p, total);
    }
    return p;
}

/* What the program may use of the small block p: its block, or in the
 * hardened library the size it asked for (the fill and the canary
 * follow; see slab_stamp). */
static size_t small_usable(void *p, const char *fn)
{
    struct slab *s = slab_of(p);
    if (HARDEN_ON)
        return slab_live_size(s, p, fn);
    if (!slab_is_carved_block(s, p))
        diag_invalid_pointer(fn, p);
    return s->block_size;
}

/* The most the small block p can hold (usable: small_usable). */
static size_t small_room(void *p, size_t usable)
{
    return HARDEN_ON ? slab_of(p)->block_size - HARDEN_TAIL : usable;
}

/* Large to large.  The profiler sees a free and an allocation. */
static void *api_realloc_large(void *p, size_t size, const char *fn)
{
    bool profiled = unlikely(load_relaxed(&prof_active));
    if (profiled) {
        (void)large_usable_size(p, fn); /* a bad pointer is reported as one */
        prof_forget_large(p);
    }
    int saved_errno = errno;
    void *q = large_realloc(p, size);
    if (unlikely(q == NULL))
        q = api_failed(RECLAIM_REALLOC, size, 0, false, p, saved_errno);
    if (profiled) {
        void *live = q != NULL ? q : p;
        prof_note_large(live, large_usable_size(live, fn));
    }
    if (q != NULL)
        reclaim_thread_maybe_start();
    return q;
}

void *api_realloc(void *p, size_t size, const char *fn)
{
    if (p == NULL)
        return api_alloc(size);
    if (size == 0) {
        /* glibc: realloc(p, 0) frees p and returns NULL. */
        api_free(p, fn);
        return NULL;
    }
    unsigned kind = chunk_kind_of(p);
    size_t old;
    if (kind == CHUNK_SUPERSLAB) {
        old = small_usable(p, fn);
        size_t room = small_room(p, old);
        /* Keep the block while it fits and over 3/8 of it is used: with
         * classes 25% apart, halving a request lands at 40-50% of its
         * block, and a move there copies half a block to save half a
         * block that the next grow would want back. */
        if (size <= room && (room <= 64 || size > room / 4 + room / 8)) {
            if (HARDEN_ON) /* the fill and the canary move to the new end */
                slab_stamp(slab_of(p), p, size);
            return p;
        }
    } else if (kind >= CHUNK_LARGE) {
        /* A size api_alloc would not give a slab stays large (the
         * hardened library's blocks also hold HARDEN_TAIL bytes). */
        if (size > SIZE_CLASS_SMALL_MAX - HARDEN_TAIL)
            return api_realloc_large(p, size, fn);
        old = large_usable_size(p, fn);
    } else if (HARDEN_ON && harden_zero_owns(p)) {
        old = 0;
    } else {
        diag_invalid_pointer(fn, p);
    }
    /* Shrinking never fails, as glibc's does not: when no smaller block
     * can be had at once (no trimming, no out-of-memory handler:
     * heap_alloc_slow, not api_alloc), the block stays, a large one
     * giving back its tail, and errno as it was.  (The profiler's path
     * instead while profiling, whose sampling windows close otherwise.) */
    int saved_errno = errno;
    void *q;
    if (size > old)
        q = api_alloc(size);
    else if (unlikely(load_relaxed(&prof_active)))
        q = prof_alloc_small(size);
    else
        q = heap_alloc_slow(size);
    if (q == NULL) {
        if (size > old)
            return NULL; /* errno is ENOMEM; p is untouched */
        errno = saved_errno;
        return kind == CHUNK_SUPERSLAB ? p : large_realloc(p, size);
    }
    memcpy(q, p, size < old ? size : old);
    api_free(p, fn);
    return q;
}

static bool is_power_of_two(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* alignment: a power of two (checked by the callers). */
static void *aligned_alloc_checked(size_t alignment, size_t size)
{
    if (alignment <= MIN_ALIGN)
        return api_alloc(size);
    if (alignment <= SLAB_UNIT_SIZE && size <= SIZE_CLASS_SMALL_MAX - HARDEN_TAIL) {
        /* Slabs start on 64 KiB boundaries, so every block of a class
         * whose size is a multiple of the alignment is aligned.  (In the
         * hardened library the block keeps HARDEN_TAIL bytes after the
         * request, and the fill and canary go where this one ends.) */
        size_t need = size + HARDEN_TAIL < alignment ? alignment : size + HARDEN_TAIL;
        for (unsigned c = size_class_of(need); c < SIZE_CLASS_COUNT; c++)
            if (size_class_bytes[c] % alignment == 0) {
                void *p = api_alloc(size_class_bytes[c] - HARDEN_TAIL);
                if (HARDEN_ON && p != NULL)
                    slab_stamp(slab_of(p), p, size);
                return p;
            }
    }
    return api_large(size, alignment, false);
}

void *api_aligned_alloc(size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_alloc_checked(alignment, size);
}

int api_posix_memalign(void **memptr, size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = aligned_alloc_checked(alignment, size);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *memptr = p;
    return 0;
}

size_t api_usable_size(const void *p, const char *fn)
{
    if (p == NULL)
        return 0;
    unsigned kind = chunk_kind_of(p);
    if (kind == CHUNK_SUPERSLAB)
        return small_usable((void *)p, fn);
    if (kind >= CHUNK_LARGE)
        return large_usable_size(p, fn);
    if (HARDEN_ON && harden_zero_owns(p))
        return 0;
    diag_invalid_pointer(fn, p);
}

/* ---- the hak_* API ------------------------------------------------------ */

HAK_API void *hak_malloc(size_t size) { return api_alloc(size); }
HAK_API void hak_free(void *ptr) { api_free(ptr, "hak_free"); }
HAK_API void *hak_calloc(size_t nmemb, size_t size) { return api_calloc(nmemb, size); }
HAK_API void *hak_realloc(void *ptr, size_t size) { return api_realloc(ptr, size, "hak_realloc"); }
HAK_API void *hak_aligned_alloc(size_t alignment, size_t size)
{
    return api_aligned_alloc(alignment, size);
}
HAK_API int hak_posix_memalign(void **memptr, size_t alignment, size_t size)
{
    return api_posix_memalign(memptr, alignment, size);
}
HAK_API size_t hak_usable_size(const void *ptr) { return api_usable_size(ptr, "hak_usable_size"); }
HAK_API unsigned hak_version(void) { return HAKMEM_VERSION; }
HAK_API hak_oom_handler hak_set_oom_handler(hak_oom_handler handler, void *arg, void **old_arg)
{
    return reclaim_set_oom_handler(handler, arg, old_arg);
}
HAK_API const char *hak_version_string(void) { return PACKAGE_VERSION; }
HAK_API int hak_prof_dump(const char *path) { return prof_dump(path); }
