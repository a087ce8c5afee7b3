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

/* Set once at start-up when HAKMEM_PROF names a prefix; read on slow
 * paths only. */
extern bool prof_active;

/* Turns sampling on when the environment asks for it (after env_init). */
void prof_start(void);
/* malloc's slow path while profiling (api_alloc_slow). */
void *prof_alloc_small(size_t size);
/* A large block of usable bytes was just handed out: maybe sampled. */
void prof_note_large(void *p, size_t usable);
/* A large block is about to be freed or moved. */
void prof_forget_large(void *p);
/* Writes the profile to path and its folded stacks to path.folded, or
 * to the next numbered files under the prefix when path is NULL.
 * 0, or -1 with errno (ENOTSUP: profiling is off). */
int prof_dump(const char *path);

#endif /* HAKMEM_PROF_H */
