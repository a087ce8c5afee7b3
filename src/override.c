/* override.c - the malloc family, so that LD_PRELOAD=libhakmem.so.1 and
 * -lhakmem both replace the C library's allocator (unless configured
 * with --disable-override).  These names stay unversioned in the linker
 * script: programs bind to malloc@GLIBC_2.2.5, which only an unversioned
 * definition interposes. */
#define _GNU_SOURCE
#include "internal.h"

#ifdef HAKMEM_OVERRIDE

#include "api.h"
#include "glibc_compat.h"
#include "hakmem.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

HAK_API void *malloc(size_t size) { return api_alloc(size); }
HAK_API void free(void *ptr) { api_free(ptr, "free"); }

/* C23's sized frees: free itself, the size checked only in debug-guard
 * builds (hakmem finds a block's size from the block). */
HAK_API void free_sized(void *ptr, size_t size);
HAK_API void free_aligned_sized(void *ptr, size_t alignment, size_t size);

void free_sized(void *ptr, size_t size)
{
    if (DIAG_GUARDS_ON)
        compat_check_sized_free(ptr, size, 0, "free_sized");
    api_free(ptr, "free_sized");
}

void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    if (DIAG_GUARDS_ON)
        compat_check_sized_free(ptr, size, alignment, "free_aligned_sized");
    api_free(ptr, "free_aligned_sized");
}

HAK_API void *calloc(size_t nmemb, size_t size) { return api_calloc(nmemb, size); }
HAK_API void *realloc(void *ptr, size_t size) { return api_realloc(ptr, size, "realloc"); }

HAK_API void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return api_realloc(ptr, total, "reallocarray");
}

HAK_API int posix_memalign(void **memptr, size_t alignment, size_t size)
{
    return api_posix_memalign(memptr, alignment, size);
}

HAK_API void *aligned_alloc(size_t alignment, size_t size)
{
    return api_aligned_alloc(alignment, size);
}

HAK_API void *memalign(size_t alignment, size_t size)
{
    /* As glibc: an alignment that is not a power of two is rounded up to
     * one, and one above the largest power of two is invalid. */
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = MIN_ALIGN;
    while (a < alignment)
        a <<= 1;
    return api_aligned_alloc(a, size);
}

HAK_API void *valloc(size_t size) { return api_aligned_alloc(OS_PAGE_SIZE, size); }

HAK_API void *pvalloc(size_t size)
{
    size_t rounded = align_up(size ? size : 1, OS_PAGE_SIZE);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return api_aligned_alloc(OS_PAGE_SIZE, rounded);
}

HAK_API size_t malloc_usable_size(void *ptr) { return api_usable_size(ptr, "malloc_usable_size"); }

/* Some programs call glibc's internal names directly.  (Plain functions,
 * not aliases: an alias would have to copy glibc's attributes.) */
HAK_API void *__libc_malloc(size_t size);
HAK_API void __libc_free(void *ptr);
HAK_API void *__libc_calloc(size_t nmemb, size_t size);
HAK_API void *__libc_realloc(void *ptr, size_t size);
HAK_API void *__libc_memalign(size_t alignment, size_t size);
HAK_API void *__libc_valloc(size_t size);
HAK_API void *__libc_pvalloc(size_t size);

void *__libc_malloc(size_t size) { return api_alloc(size); }
void __libc_free(void *ptr) { api_free(ptr, "free"); }
void *__libc_calloc(size_t nmemb, size_t size) { return api_calloc(nmemb, size); }
void *__libc_realloc(void *ptr, size_t size) { return api_realloc(ptr, size, "realloc"); }
void *__libc_memalign(size_t alignment, size_t size) { return memalign(alignment, size); }
void *__libc_valloc(size_t size) { return valloc(size); }
void *__libc_pvalloc(size_t size) { return pvalloc(size); }

#endif /* HAKMEM_OVERRIDE */
