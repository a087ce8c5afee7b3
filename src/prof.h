/* prof.h - the sampled heap profiler (HAKMEM_PROF, hakmem(7)): one
 * allocation in about every HAKMEM_PROF_RATE bytes records its call
 * stack until it is freed; the live records are written as a heap
 * profile pprof reads, and as folded stacks for flame graphs.
 * Nothing here is reached from a fast path: small allocations are
 * sampled through the heap's windows (heap.h), and sampled blocks come
 * from slabs no heap owns, so their frees take the remote path. */
#ifndef HAKMEM_PROF_H
#define HAKMEM_PROF_H

#include "internal.h"

#include "heap.h"
#include "size_class.h"

/* Set once at start-up when HAKMEM_PROF names a prefix; read on slow
 * paths only. */
extern bool prof_active;

/* Turns sampling on when the environment asks for it (after env_init). */
void prof_start(void);
/* Set while the calling thread is in the profiler, whose own allocations
 * (none are expected) are not sampled. */
extern __thread bool prof_busy __attribute__((tls_model("initial-exec")));

/* prof_alloc_small's other cases: the window is closed (or none was
 * open), for the sample or the next window. */
void *prof_alloc_small_slow(size_t size);

/* malloc's slow path while profiling (api_alloc_slow): NULL with errno
 * ENOMEM when out of memory.  Starts the purge thread when it is due, as
 * api_alloc_slow does otherwise.  Most calls find a window run dry whose
 * slab has more blocks: inline, that case takes one call. */
ALWAYS_INLINE void *prof_alloc_small(size_t size)
{
    struct heap *h = heap_me.heap;
    void *b;
    /* No memory is mapped there, so the purge thread is not due. */
    if (likely(h->windows != NULL) && !prof_busy &&
        (b = heap_window_renew(h, size_class_of(size), size)) != NULL)
        return b;
    return prof_alloc_small_slow(size);
}
/* A large block of usable bytes was just handed out: maybe sampled. */
void prof_note_large(void *p, size_t usable);
/* A large block is about to be freed or moved. */
void prof_forget_large(void *p);
/* Writes the profile to path and its folded stacks to path.folded, or
 * to the next numbered files under the prefix when path is NULL.
 * 0, or -1 with errno (ENOTSUP: profiling is off). */
int prof_dump(const char *path);

#endif /* HAKMEM_PROF_H */
