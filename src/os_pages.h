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
/* Moves/resizes one mapping to a fresh region aligned to align; NULL on
 * failure (the old mapping is then untouched). */
void *os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align);
/* Resizes in place, a range of several mappings too (growing one adds a
 * mapping after them); false when the pages behind it are taken, or on a
 * kernel error. */
bool os_remap_inplace(void *p, size_t old_size, size_t new_size);
/* True when one mremap moves a range made of several mappings (Linux
 * 6.17 and later; probed once). */
bool os_moves_across_mappings(void);
/* Moves the pages of [src, src+size) onto [dst, dst+size), which must be
 * mapped: no copy, no page fault.  src must be one mapping, or
 * os_moves_across_mappings().  False on failure, after which what is
 * mapped at either range is unknown: leave both alone (leak, never
 * unmap: the kernel may have unmapped part of them, and another thread
 * may have mapped there since). */
bool os_move_pages(void *dst, void *src, size_t size);
/* Takes size bytes off the mapped total before they are moved into a new
 * mapping, so that the peak does not count them twice. */
void os_forget_mapped(size_t size);
/* Unmaps what os_forget_mapped already took off the total. */
void os_unmap_forgotten(void *p, size_t size);

/* Limits on the mapped total, set at start-up (0: none).  A mapping
 * that would take the total past `limit` fails (NULL, errno ENOMEM).
 * One that would take it past `soft_mark` fails too while the caches
 * above hold memory (os_cached_bytes() > 0): the caller gives theirs back
 * and tries again with the mark ignored (os_ignore_soft_mark), so memory
 * is never mapped past the mark while freed memory sits idle.  This
 * layer only refuses; what to give back is decided above it. */
void os_set_limits(uint64_t limit, uint64_t soft_mark);
/* While on, the calling thread's mappings are not refused for the soft
 * mark (only for the limit). */
void os_ignore_soft_mark(bool on);
uint64_t os_mapped_bytes(void);

/* Freed memory kept mapped for reuse: the SuperSlab and large-block
 * caches report here, as they change, the bytes they would give back if
 * trimmed.  The soft mark above and the purge thread (which sleeps in
 * os_wait_cached_above) go by the total. */
void os_account_cached(int64_t delta);
uint64_t os_cached_bytes(void);
/* Sleeps until the cached total passes threshold (at once if it already
 * has).  For one thread of the allocator's own; os_account_cached wakes
 * it. */
void os_wait_cached_above(uint64_t threshold);

/* Bytes the calling thread gave back to the kernel (unmapped or purged),
 * cumulative: what one hak_trim() call returned, whatever other threads
 * return meanwhile. */
uint64_t os_returned_by_thread(void);

struct os_stats {
    uint64_t mapped, mapped_peak, returned, cached;
};
void os_stats_read(struct os_stats *st);

/* Test hook (white-box tests only): after n more successful mappings every
 * mapping fails, as if the kernel were out of memory; n < 0 disables. */
void os_pages_fail_after(long n);
/* Test hook: os_moves_across_mappings() answers false, as on a kernel
 * before 6.17. */
void os_pages_single_mapping_moves(bool on);

#endif /* HAKMEM_OS_PAGES_H */
