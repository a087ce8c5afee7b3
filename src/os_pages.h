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
/* Moves/resizes a mapping (or a range of several) to a fresh region
 * aligned to align; NULL on failure (the old mapping is then untouched). */
void *os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align);
/* Resizes in place; false when the pages behind it are taken (growing),
 * or on a kernel error. */
bool os_remap_inplace(void *p, size_t old_size, size_t new_size);
/* Moves the pages of [src, src+size) onto [dst, dst+size), which must be
 * mapped: no copy and no page fault, unless the kernel refuses a piece,
 * which is then copied.  src may span several mappings and is unmapped
 * afterwards.  Both page aligned.  False when anything was copied. */
bool os_move_pages(void *dst, void *src, size_t size);

struct os_stats {
    uint64_t mapped, mapped_peak, returned;
};
void os_stats_read(struct os_stats *st);

/* Test hook (white-box tests only): after n more successful mappings every
 * mapping fails, as if the kernel were out of memory; n < 0 disables. */
void os_pages_fail_after(long n);
/* Test hook: os_move_pages moves one page per mremap, as an old kernel
 * does for a range made of many mappings. */
void os_pages_split_moves(bool on);

#endif /* HAKMEM_OS_PAGES_H */
