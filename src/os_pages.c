/* os_pages.c - mmap/munmap/mremap/madvise wrappers and the accounting of
 * bytes mapped from and returned to the kernel. */
#define _GNU_SOURCE
#include "internal.h"

#include "os_pages.h"

#include "chunk_map.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static _Atomic uint64_t os_mapped;
static _Atomic uint64_t os_mapped_peak;
static _Atomic uint64_t os_returned;
static _Atomic long os_fail_countdown = -1;

static _Atomic bool os_split_moves;

void os_pages_fail_after(long n) { atomic_store(&os_fail_countdown, n); }
void os_pages_split_moves(bool on) { atomic_store(&os_split_moves, on); }

static bool os_injected_failure(void)
{
    long n = atomic_load_explicit(&os_fail_countdown, memory_order_relaxed);
    while (n >= 0) {
        if (n == 0)
            return true;
        if (atomic_compare_exchange_weak(&os_fail_countdown, &n, n - 1))
            return false;
    }
    return false;
}

static void os_account_map(size_t size)
{
    uint64_t now = atomic_fetch_add_explicit(&os_mapped, size, memory_order_relaxed) + size;
    uint64_t peak = atomic_load_explicit(&os_mapped_peak, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&os_mapped_peak, &peak, now, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static void os_account_unmap(size_t size)
{
    atomic_fetch_sub_explicit(&os_mapped, size, memory_order_relaxed);
    atomic_fetch_add_explicit(&os_returned, size, memory_order_relaxed);
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
    size_t span = align > HAK_PAGE_SIZE ? size + align : size;
    char *raw = os_mmap_raw(span);
    if (raw == NULL)
        return NULL;
    char *p = (char *)hak_align_up((uintptr_t)raw, align);
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
    atomic_fetch_add_explicit(&os_returned, size, memory_order_relaxed);
}

/* mremap works on one mapping at a time (on kernels before 6.17 even to
 * move): a range made of several, as blocks assembled from cached ones
 * are, fails with EFAULT.  Then it is moved in halves, cut at chunk
 * boundaries (where assembled blocks have theirs) while it spans chunks,
 * then at pages.  A piece the kernel will not move (out of memory for page
 * tables, or the test hook) is copied, so no byte is ever lost; src ends
 * unmapped.  Returns false if anything was copied. */
static bool os_move_or_copy(char *dst, char *src, size_t size)
{
    bool whole = size == HAK_PAGE_SIZE || !atomic_load_explicit(&os_split_moves, memory_order_relaxed);
    if (whole && mremap(src, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED)
        return true;
    if ((!whole || errno == EFAULT) && size > HAK_PAGE_SIZE) {
        size_t unit = size > HAK_CHUNK_SIZE ? HAK_CHUNK_SIZE : HAK_PAGE_SIZE;
        size_t half = (size / 2 + unit - 1) / unit * unit;
        if (half >= size)
            half = size - unit;
        bool first = os_move_or_copy(dst, src, half);
        return os_move_or_copy(dst + half, src + half, size - half) && first;
    }
    memcpy(dst, src, size);
    munmap(src, size);
    return false;
}

bool os_move_pages(void *dst, void *src, size_t size)
{
    bool moved = os_move_or_copy(dst, src, size);
    atomic_fetch_sub_explicit(&os_mapped, size, memory_order_relaxed);
    return moved;
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
        if (errno != EFAULT)
            return false;
        /* Several mappings: add one right after them, if that room is free.
         * (A kernel without MAP_FIXED_NOREPLACE takes it as a hint.) */
        void *more = mmap(end, new_size - old_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (more == MAP_FAILED)
            return false;
        if (more != end) {
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
    if (mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target) == MAP_FAILED) {
        if (errno != EFAULT || new_size < old_size) {
            os_unmap(target, new_size);
            return NULL;
        }
        os_move_or_copy(target, old, old_size);
    }
    /* The target's accounting now stands for the moved mapping. */
    atomic_fetch_sub_explicit(&os_mapped, old_size, memory_order_relaxed);
    return target;
}

void os_stats_read(struct os_stats *st)
{
    st->mapped = atomic_load_explicit(&os_mapped, memory_order_relaxed);
    st->mapped_peak = atomic_load_explicit(&os_mapped_peak, memory_order_relaxed);
    st->returned = atomic_load_explicit(&os_returned, memory_order_relaxed);
}
