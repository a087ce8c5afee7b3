/* size_class.h - mapping request sizes to size classes. */
#ifndef HAKMEM_SIZE_CLASS_H
#define HAKMEM_SIZE_CLASS_H

#include "internal.h"

#define SIZE_CLASS_COUNT 60
#define SIZE_CLASS_TINY_MAX 1024               /* sizes served by the table lookup */
#define SIZE_CLASS_SMALL_MAX ((size_t)1 << 20) /* largest size-classed block */

extern const uint32_t size_class_bytes[SIZE_CLASS_COUNT];
extern const uint8_t size_class_units[SIZE_CLASS_COUNT];
extern const uint8_t size_class_tiny_index[SIZE_CLASS_TINY_MAX / MIN_ALIGN + 1];

ALWAYS_INLINE unsigned size_class_of_tiny(size_t size)
{
    return size_class_tiny_index[(size + MIN_ALIGN - 1) / MIN_ALIGN];
}

/* size must be in (SIZE_CLASS_TINY_MAX, SIZE_CLASS_SMALL_MAX]. */
ALWAYS_INLINE unsigned size_class_of_mid(size_t size)
{
    size_t s = size - 1;
    unsigned k = 63u - (unsigned)__builtin_clzl(s); /* s in [2^k, 2^(k+1)) */
    return 8u + (k - 7u) * 4u + (unsigned)((s - ((size_t)1 << k)) >> (k - 2u));
}

/* size must be <= SIZE_CLASS_SMALL_MAX. */
ALWAYS_INLINE unsigned size_class_of(size_t size)
{
    return likely(size <= SIZE_CLASS_TINY_MAX) ? size_class_of_tiny(size) : size_class_of_mid(size);
}

#endif /* HAKMEM_SIZE_CLASS_H */
