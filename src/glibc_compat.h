/* glibc_compat.h - what the C library's malloc offers beyond the C
 * standard (mallinfo2, malloc_trim, malloc_stats, malloc_info, mallopt),
 * answered from hakmem's own figures, and the checks of C23's sized
 * frees.  The compat_* functions are in every build, so white-box tests
 * reach them; only the override build exports the glibc names, since
 * without it malloc is the C library's and so are these. */
#ifndef HAKMEM_GLIBC_COMPAT_H
#define HAKMEM_GLIBC_COMPAT_H

#include "internal.h"

#include <malloc.h>
#include <stdio.h>

struct mallinfo2 compat_mallinfo2(void);
/* mallinfo2 with every field saturated at INT_MAX. */
struct mallinfo compat_mallinfo(void);
/* hak_trim(); 1 when it gave memory back, else 0.  pad is ignored. */
int compat_malloc_trim(size_t pad);
/* A short summary on stderr; never allocates. */
void compat_malloc_stats(void);
/* One XML document on fp; EINVAL (returned, and in errno) for options
 * other than 0 or a NULL fp. */
int compat_malloc_info(int options, FILE *fp);
/* 1 for every parameter glibc 2.36 defines (0 for an M_MXFAST it would
 * refuse), 0 for any other. */
int compat_mallopt(int param, int value);
/* free_sized and free_aligned_sized in debug-guard builds: aborts,
 * naming fn, when size (or alignment, when not 0) cannot be that of the
 * block p (see hakmem(7)). */
void compat_check_sized_free(void *p, size_t size, size_t alignment, const char *fn);

#endif /* HAKMEM_GLIBC_COMPAT_H */
