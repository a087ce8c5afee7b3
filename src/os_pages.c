/* os_pages.c - mmap/munmap/mremap/madvise wrappers and the accounting of
 * bytes mapped from and returned to the kernel. */
#define _GNU_SOURCE
#include "internal.h"

#include "os_pages.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older C libraries lack the name */
#endif

static uint64_t os_mapped;
static uint64_t os_mapped_peak;
static uint64_t os_returned;
static long os_fail_countdown = -1;

static int os_multi_moves = -1; /* probed: -1 not yet, 0 no, 1 yes */
static bool os_single_mapping_moves;

void os_pages_fail_after(long n) { store_release(&os_fail_countdown, n); }
void os_pages_single_mapping_moves(bool on) { store_release(&os_single_mapping_moves, on); }

static bool os_injected_failure(void)
{
    long n = load_relaxed(&os_fail_countdown);
    while (n >= 0) {
        if (n == 0)
            return true;
        if (cas_weak(&os_fail_countdown, &n, n - 1, __ATOMIC_RELAXED))
            return false;
    }
    return false;
}

static void os_account_map(size_t size)
{
    uint64_t now = fetch_add_relaxed(&os_mapped, size) + size;
    uint64_t peak = load_relaxed(&os_mapped_peak);
    while (now > peak && !cas_weak(&os_mapped_peak, &peak, now, __ATOMIC_RELAXED)) {
    }
}

static void os_account_unmap(size_t size)
{
    fetch_sub_relaxed(&os_mapped, size);
    fetch_add_relaxed(&os_returned, size);
}

static void *os_mmap_raw(size_t size)
{
    if (os_injected_failure()) {
        errno = ENOMEM;
        return NULL;
    }
    /* No MAP_NORESERVE: the kernel's overcommit check must refuse a
     * request no machine could back, so malloc returns NULL with ENOMEM
     * instead of a pointer that is killed on first touch. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *os_map_aligned(size_t size, size_t align)
{
    if (size > SIZE_MAX - align)
        return NULL;
    /* Over-map by the alignment and trim both ends: no address hint games,
     * and the trimmed pages were never touched. */
    size_t span = align > OS_PAGE_SIZE ? size + align : size;
    char *raw = os_mmap_raw(span);
    if (raw == NULL)
        return NULL;
    char *p = (char *)align_up((uintptr_t)raw, align);
    size_t head = (size_t)(p - raw);
    size_t tail = span - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(p + size, tail);
    os_account_map(size);
    return p;
}

void os_unmap(void *p, size_t size)
{
    munmap(p, size);
    os_account_unmap(size);
}

void os_purge(void *p, size_t size)
{
    madvise(p, size, MADV_DONTNEED);
    fetch_add_relaxed(&os_returned, size);
}

/* Linux 6.17 and later move a range made of several mappings with one
 * mremap (blocks assembled from cached ones are such ranges); older
 * kernels unmap the target and then fail with EFAULT.  Probed once, by
 * moving a range of two mappings onto a reservation.  A target an old
 * kernel may have unmapped is never unmapped again afterwards (another
 * thread may have mapped that address since): two pages of address
 * space, once. */
static bool os_probe_multi_moves(void)
{
    const size_t pg = OS_PAGE_SIZE;
    const int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;
    char *range = mmap(NULL, 2 * pg, rw, anon, -1, 0);
    char *other = mmap(NULL, pg, rw, anon, -1, 0);
    char *target = mmap(NULL, 2 * pg, PROT_NONE, anon, -1, 0);
    bool ok = false, target_tried = false;
    if (range != MAP_FAILED && other != MAP_FAILED && target != MAP_FAILED) {
        /* Pages touched in two mappings cannot merge into one. */
        range[0] = 1;
        other[0] = 2;
        if (mremap(other, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, range + pg) != MAP_FAILED) {
            other = MAP_FAILED;
            target_tried = true;
            if (mremap(range, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, target) !=
                MAP_FAILED) {
                ok = target[0] == 1 && target[pg] == 2;
                range = MAP_FAILED;
            }
        }
    }
    if (range != MAP_FAILED)
        munmap(range, 2 * pg);
    if (other != MAP_FAILED)
        munmap(other, pg);
    if (target != MAP_FAILED && (ok || !target_tried))
        munmap(target, 2 * pg);
    return ok;
}

bool os_moves_across_mappings(void)
{
    if (load_relaxed(&os_single_mapping_moves))
        return false;
    int known = load_relaxed(&os_multi_moves);
    if (known < 0) {
        known = os_probe_multi_moves();
        store_relaxed(&os_multi_moves, known);
    }
    return known;
}

void os_forget_mapped(size_t size) { fetch_sub_relaxed(&os_mapped, size); }

void os_unmap_forgotten(void *p, size_t size)
{
    munmap(p, size);
    fetch_add_relaxed(&os_returned, size);
}

bool os_move_pages(void *dst, void *src, size_t size)
{
    return mremap(src, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED;
}

bool os_remap_inplace(void *p, size_t old_size, size_t new_size)
{
    char *end = (char *)p + old_size;
    if (new_size < old_size) {
        /* munmap, unlike mremap, also cuts across mappings. */
        if (munmap((char *)p + new_size, old_size - new_size) != 0)
            return false;
        os_account_unmap(old_size - new_size);
        return true;
    }
    if (os_injected_failure())
        return false;
    if (mremap(p, old_size, new_size, 0) == MAP_FAILED) {
        /* Without MREMAP_FIXED nothing was unmapped.  Several mappings
         * (EFAULT): add one right after them, if that room is free. */
        if (errno != EFAULT)
            return false;
        void *more = mmap(end, new_size - old_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (more == MAP_FAILED)
            return false;
        if (more != end) { /* a kernel before 4.17 took the flag for a hint */
            munmap(more, new_size - old_size);
            return false;
        }
    }
    os_account_map(new_size - old_size);
    return true;
}

void *os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align)
{
    /* Reserve an aligned target, then let the kernel move the page tables
     * onto it: no copying, and the alignment survives. */
    char *target = os_map_aligned(new_size, align);
    if (target == NULL)
        return NULL;
    void *moved = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (moved == MAP_FAILED) {
        os_unmap(target, new_size);
        return NULL;
    }
    /* The target's accounting now stands for the moved mapping. */
    fetch_sub_relaxed(&os_mapped, old_size);
    return moved;
}

void os_stats_read(struct os_stats *st)
{
    st->mapped = load_relaxed(&os_mapped);
    st->mapped_peak = load_relaxed(&os_mapped_peak);
    st->returned = load_relaxed(&os_returned);
}
