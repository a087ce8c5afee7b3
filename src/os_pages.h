/* os_pages.h - the bottom layer: anonymous mappings from the kernel,
 * aligned reservations, and giving pages back. */
#ifndef HAKMEM_OS_PAGES_H
#define HAKMEM_OS_PAGES_H

#include "internal.h"

/* Maps size bytes (a multiple of the page size) aligned to align (a power
 * of two >= the page size).  NULL when the kernel refuses. */
void *os_map_aligned(size_t size, size_t align);
void os_unmap(void *p, size_t size);
/* Returns the physical pages to the kernel; the range stays mapped and
 * reads back as zeros. */
void os_purge(void *p, size_t size);
/* Moves/resizes a mapping to a fresh region aligned to align; NULL on
 * failure (the old mapping is then untouched). */
void *os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align);
/* Resizes in place; false when the pages behind it are taken. */
bool os_remap_inplace(void *p, size_t old_size, size_t new_size);

struct os_stats {
    uint64_t mapped, mapped_peak, returned;
};
void os_stats_read(struct os_stats *st);

/* Test hook (white-box tests only): after n more successful mappings every
 * mapping fails, as if the kernel were out of memory; n < 0 disables. */
void os_pages_fail_after(long n);

#endif /* HAKMEM_OS_PAGES_H */
