/* override_cxx.c - C++'s global operator new and delete, answered by
 * hakmem directly (unless configured with --disable-override).  The C++
 * library's own operators call malloc and free, one call deeper, and
 * without a size for sized delete; defined here, a C++ program's new and
 * delete reach the fast paths at once, whether hakmem is preloaded or
 * linked.  A program that defines its own operators still wins: the
 * executable comes first in the search order.  Mangled names (Itanium
 * C++ ABI), unversioned like malloc, so that they interpose the C++
 * library's versioned ones.
 *
 * Out of memory, the C++ library's own operator new takes over (found
 * next in the search order with dlsym): it calls the new-handler and
 * malloc again until one succeeds, or throws std::bad_alloc, which C code
 * cannot do. */
#define _GNU_SOURCE
#include "internal.h"

#ifdef HAKMEM_OVERRIDE

#include "api.h"
#include "diag.h"
#include "hakmem.h"

#include <dlfcn.h>

/* std::align_val_t and std::nothrow_t, as the C++ ABI passes them. */
typedef size_t cxx_align_val;
struct cxx_nothrow;

/* The operators, by their mangled names (size_t is unsigned long: m). */
HAK_API void *_Znwm(size_t size);
HAK_API void *_Znam(size_t size);
HAK_API void *_ZnwmRKSt9nothrow_t(size_t size, const struct cxx_nothrow *nt);
HAK_API void *_ZnamRKSt9nothrow_t(size_t size, const struct cxx_nothrow *nt);
HAK_API void *_ZnwmSt11align_val_t(size_t size, cxx_align_val align);
HAK_API void *_ZnamSt11align_val_t(size_t size, cxx_align_val align);
HAK_API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, cxx_align_val align,
                                                 const struct cxx_nothrow *nt);
HAK_API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, cxx_align_val align,
                                                 const struct cxx_nothrow *nt);
HAK_API void _ZdlPv(void *p);
HAK_API void _ZdaPv(void *p);
HAK_API void _ZdlPvm(void *p, size_t size);
HAK_API void _ZdaPvm(void *p, size_t size);
HAK_API void _ZdlPvRKSt9nothrow_t(void *p, const struct cxx_nothrow *nt);
HAK_API void _ZdaPvRKSt9nothrow_t(void *p, const struct cxx_nothrow *nt);
HAK_API void _ZdlPvSt11align_val_t(void *p, cxx_align_val align);
HAK_API void _ZdaPvSt11align_val_t(void *p, cxx_align_val align);
HAK_API void _ZdlPvmSt11align_val_t(void *p, size_t size, cxx_align_val align);
HAK_API void _ZdaPvmSt11align_val_t(void *p, size_t size, cxx_align_val align);
HAK_API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, cxx_align_val align,
                                                 const struct cxx_nothrow *nt);
HAK_API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, cxx_align_val align,
                                                 const struct cxx_nothrow *nt);

/* The operator called `name' of the next object in the search order (the
 * C++ library), to answer a request hakmem could not. */
static COLD void *cxx_next(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL)
        diag_fatal("%s: out of memory, and no C++ library to call the new-handler or throw "
                   "std::bad_alloc",
                   name);
    return fn;
}

static COLD void *cxx_new_failed(const char *name, size_t size)
{
    void *(*next)(size_t) = (void *(*)(size_t))cxx_next(name);
    return next(size);
}

static COLD void *cxx_new_nothrow_failed(const char *name, size_t size,
                                         const struct cxx_nothrow *nt)
{
    void *(*next)(size_t, const struct cxx_nothrow *) =
        (void *(*)(size_t, const struct cxx_nothrow *))cxx_next(name);
    return next(size, nt);
}

static COLD void *cxx_new_aligned_failed(const char *name, size_t size, cxx_align_val align)
{
    void *(*next)(size_t, cxx_align_val) = (void *(*)(size_t, cxx_align_val))cxx_next(name);
    return next(size, align);
}

static COLD void *cxx_new_aligned_nothrow_failed(const char *name, size_t size, cxx_align_val align,
                                                 const struct cxx_nothrow *nt)
{
    void *(*next)(size_t, cxx_align_val, const struct cxx_nothrow *) =
        (void *(*)(size_t, cxx_align_val, const struct cxx_nothrow *))cxx_next(name);
    return next(size, align, nt);
}

/* new(0) must return a unique pointer: malloc(0) does. */
#define CXX_NEW(name)                                                                              \
    void *name(size_t size)                                                                        \
    {                                                                                              \
        void *p = api_alloc(size);                                                                 \
        return likely(p != NULL) ? p : cxx_new_failed(#name, size);                                \
    }
#define CXX_NEW_NOTHROW(name)                                                                      \
    void *name(size_t size, const struct cxx_nothrow *nt)                                          \
    {                                                                                              \
        void *p = api_alloc(size);                                                                 \
        return likely(p != NULL) ? p : cxx_new_nothrow_failed(#name, size, nt);                    \
    }
/* An alignment that is not a power of two is undefined behaviour in C++;
 * api_aligned_alloc's EINVAL then goes to the C++ library's operator. */
#define CXX_NEW_ALIGNED(name)                                                                      \
    void *name(size_t size, cxx_align_val align)                                                   \
    {                                                                                              \
        void *p = api_aligned_alloc(align, size);                                                  \
        return likely(p != NULL) ? p : cxx_new_aligned_failed(#name, size, align);                 \
    }
#define CXX_NEW_ALIGNED_NOTHROW(name)                                                              \
    void *name(size_t size, cxx_align_val align, const struct cxx_nothrow *nt)                     \
    {                                                                                              \
        void *p = api_aligned_alloc(align, size);                                                  \
        return likely(p != NULL) ? p : cxx_new_aligned_nothrow_failed(#name, size, align, nt);     \
    }

CXX_NEW(_Znwm)
CXX_NEW(_Znam)
CXX_NEW_NOTHROW(_ZnwmRKSt9nothrow_t)
CXX_NEW_NOTHROW(_ZnamRKSt9nothrow_t)
CXX_NEW_ALIGNED(_ZnwmSt11align_val_t)
CXX_NEW_ALIGNED(_ZnamSt11align_val_t)
CXX_NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t)
CXX_NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t)

/* Every delete is free: hakmem finds a block's size and alignment from
 * the pointer, so the sized and aligned forms need neither. */
void _ZdlPv(void *p) { api_free(p, "operator delete"); }
void _ZdaPv(void *p) { api_free(p, "operator delete[]"); }
void _ZdlPvm(void *p, size_t size)
{
    (void)size;
    api_free(p, "operator delete");
}
void _ZdaPvm(void *p, size_t size)
{
    (void)size;
    api_free(p, "operator delete[]");
}
void _ZdlPvRKSt9nothrow_t(void *p, const struct cxx_nothrow *nt)
{
    (void)nt;
    api_free(p, "operator delete");
}
void _ZdaPvRKSt9nothrow_t(void *p, const struct cxx_nothrow *nt)
{
    (void)nt;
    api_free(p, "operator delete[]");
}
void _ZdlPvSt11align_val_t(void *p, cxx_align_val align)
{
    (void)align;
    api_free(p, "operator delete");
}
void _ZdaPvSt11align_val_t(void *p, cxx_align_val align)
{
    (void)align;
    api_free(p, "operator delete[]");
}
void _ZdlPvmSt11align_val_t(void *p, size_t size, cxx_align_val align)
{
    (void)size;
    (void)align;
    api_free(p, "operator delete");
}
void _ZdaPvmSt11align_val_t(void *p, size_t size, cxx_align_val align)
{
    (void)size;
    (void)align;
    api_free(p, "operator delete[]");
}
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, cxx_align_val align, const struct cxx_nothrow *nt)
{
    (void)align;
    (void)nt;
    api_free(p, "operator delete");
}
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, cxx_align_val align, const struct cxx_nothrow *nt)
{
    (void)align;
    (void)nt;
    api_free(p, "operator delete[]");
}

#endif /* HAKMEM_OVERRIDE */
