/* os_pages.h - the bottom layer: anonymous mappings from the kernel,
 * aligned reservations, and giving pages back.
 *
 * No function here changes errno: what failed is in the return value,
 * and the layers above set errno when they fail the program's request
 * (a call that succeeds after a refused mremap leaves errno alone). */
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
/* Makes [p, p+size) readable and writable again, whatever protection the
 * program gave parts of it; false on failure. */
bool os_make_writable(void *p, size_t size);

/* What os_remap_inplace did with a range.  A range is several mappings
 * when hakmem assembled it, or when the program changed part of it
 * (mprotect, mlock, madvise MADV_HUGEPAGE or MADV_DONTDUMP...). */
enum os_remap {
    OS_REMAP_DONE,    /* resized in place (grown: possibly by a mapping added after it) */
    OS_REMAP_MOVABLE, /* not resized: one mapping, the pages after it taken (or a limit,
                         the kernel's or os_set_limits'): os_remap_aligned may move it */
    OS_REMAP_STUCK,   /* not resized: several mappings with the pages after them taken, or
                         the kernel refused (mlock limit...): only a copy will do */
};
/* Resizes [p, p+old_size), a range of several mappings too, in place. */
enum os_remap os_remap_inplace(void *p, size_t old_size, size_t new_size);
/* Moves [old, old+old_size), which os_remap_inplace just found to be one
 * mapping, to a fresh region of new_size bytes aligned to align: page
 * tables move, pages do not.  NULL on failure; old is then untouched.
 * The target reserved for the move is then given up, not unmapped: a
 * kernel before 6.17 unmaps it before it checks the source, and another
 * thread may have mapped that address since. */
void *os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align);
/* True when one mremap moves a range made of several mappings (Linux
 * 6.17 and later; probed once). */
bool os_moves_across_mappings(void);
/* Moves the pages of [src, src+size) onto [dst, dst+size), which must be
 * mapped: no copy, no page fault.  src must be one mapping, or
 * os_moves_across_mappings().  False on failure, after which what is
 * mapped at either range is unknown: leave both alone (leak, never
 * unmap: the kernel may have unmapped part of them, and another thread
 * may have mapped there since).  Whatever else the caller mapped is
 * still its own. */
bool os_move_pages(void *dst, void *src, size_t size);
/* Takes size bytes off the mapped total: before they are moved into a
 * new mapping, so that the peak does not count them twice, or when they
 * are given up after a failed move. */
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
/* Test hook: after n more moves onto a target (os_remap_aligned,
 * os_move_pages) succeed, the next one fails as on a kernel before 6.17
 * given several mappings: the target is unmapped, taken(target, size)
 * runs (a test maps pages of its own there, as another thread could),
 * and the move fails; n < 0 disables. */
void os_pages_fail_move_after(long n, void (*taken)(void *target, size_t size));

#endif /* HAKMEM_OS_PAGES_H */
