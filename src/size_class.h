/* size_class.h - mapping request sizes to size classes. */
#ifndef HAKMEM_SIZE_CLASS_H
#define HAKMEM_SIZE_CLASS_H

#include "internal.h"

#define HAK_NUM_CLASSES 60
#define HAK_TINY_MAX 1024               /* sizes served by the table lookup */
#define HAK_SMALL_MAX ((size_t)1 << 20) /* largest size-classed block */

extern const uint32_t hak_class_size[HAK_NUM_CLASSES];
extern const uint8_t hak_class_units[HAK_NUM_CLASSES];
extern const uint8_t hak_tiny_class[HAK_TINY_MAX / HAK_MIN_ALIGN + 1];

HAK_INLINE unsigned size_class_of_tiny(size_t size)
{
    return hak_tiny_class[(size + HAK_MIN_ALIGN - 1) / HAK_MIN_ALIGN];
}

/* size must be in (HAK_TINY_MAX, HAK_SMALL_MAX]. */
HAK_INLINE unsigned size_class_of_mid(size_t size)
{
    size_t s = size - 1;
    unsigned k = 63u - (unsigned)__builtin_clzl(s); /* s in [2^k, 2^(k+1)) */
    return 8u + (k - 7u) * 4u + (unsigned)((s - ((size_t)1 << k)) >> (k - 2u));
}

/* size must be <= HAK_SMALL_MAX. */
HAK_INLINE unsigned size_class_of(size_t size)
{
    return likely(size <= HAK_TINY_MAX) ? size_class_of_tiny(size) : size_class_of_mid(size);
}

#endif /* HAKMEM_SIZE_CLASS_H */
