/* os_pages.c - mmap/munmap/mremap/madvise wrappers, the accounting of
 * bytes mapped from, kept for reuse and returned to the kernel, and the
 * limits on the mapped total. */
#define _GNU_SOURCE
#include "internal.h"

#include "os_pages.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older C libraries lack the name */
#endif

static uint64_t os_mapped;
static uint64_t os_mapped_peak;
static uint64_t os_returned;
static uint64_t os_limit, os_soft_mark; /* os_set_limits */
static __thread bool os_soft_mark_ignored __attribute__((tls_model("initial-exec")));
static uint64_t os_cached;
/* 1 while a thread sleeps in os_wait_cached_above until os_cached passes
 * os_cached_wake; the futex word it sleeps on. */
static uint32_t os_cached_sleeper;
static uint64_t os_cached_wake;
static long os_fail_countdown = -1;
static __thread uint64_t os_returned_here __attribute__((tls_model("initial-exec")));

static int os_multi_moves = -1; /* probed: -1 not yet, 0 no, 1 yes */
static bool os_single_mapping_moves;
static long os_move_fail_countdown = -1;
static void (*os_failing_move_taken)(void *target, size_t size);

void os_pages_fail_after(long n) { store_release(&os_fail_countdown, n); }
void os_pages_single_mapping_moves(bool on) { store_release(&os_single_mapping_moves, on); }
void os_pages_fail_move_after(long n, void (*taken)(void *target, size_t size))
{
    store_relaxed(&os_failing_move_taken, taken);
    store_release(&os_move_fail_countdown, n);
}

/* Declared first in a function: errno is restored whenever it returns
 * (see os_pages.h). */
static void os_restore_errno(const int *saved) { errno = *saved; }
#define OS_KEEP_ERRNO int os_saved_errno __attribute__((cleanup(os_restore_errno), unused)) = errno

/* Steps a test hook's countdown: true when it is at 0.  A sticky one
 * stays at 0 (every later call is hit too), another goes to -1 (off). */
static bool os_countdown_hit(long *countdown, bool sticky)
{
    long n = load_relaxed(countdown);
    while (n >= 0) {
        if (n == 0 && sticky)
            return true;
        if (cas_weak(countdown, &n, n - 1, __ATOMIC_RELAXED))
            return n == 0;
    }
    return false;
}

static bool os_injected_failure(void) { return os_countdown_hit(&os_fail_countdown, true); }

void os_set_limits(uint64_t limit, uint64_t soft_mark)
{
    store_relaxed(&os_limit, limit);
    store_relaxed(&os_soft_mark, soft_mark);
}

void os_ignore_soft_mark(bool on) { os_soft_mark_ignored = on; }

uint64_t os_mapped_bytes(void) { return load_relaxed(&os_mapped); }

/* Adds size bytes to the mapped total before they are mapped, or refuses
 * (errno ENOMEM) when that would pass the limit, or the soft mark while
 * the caches hold memory.  A compare-and-swap, so that threads mapping at
 * once never pass the limit together. */
static bool os_reserve(size_t size)
{
    uint64_t limit = load_relaxed(&os_limit), mark = load_relaxed(&os_soft_mark);
    uint64_t cur = load_relaxed(&os_mapped);
    for (;;) {
        uint64_t now = cur + size;
        if ((limit != 0 && (now > limit || now < cur)) ||
            (mark != 0 && now > mark && !os_soft_mark_ignored && load_relaxed(&os_cached) != 0)) {
            errno = ENOMEM;
            return false;
        }
        if (cas_weak(&os_mapped, &cur, now, __ATOMIC_RELAXED))
            return true;
    }
}

/* A reservation whose mapping failed. */
static void os_unreserve(size_t size) { fetch_sub_relaxed(&os_mapped, size); }

/* After a mapping succeeded: the peak of the total. */
static void os_sample_peak(void)
{
    uint64_t now = load_relaxed(&os_mapped);
    uint64_t peak = load_relaxed(&os_mapped_peak);
    while (now > peak && !cas_weak(&os_mapped_peak, &peak, now, __ATOMIC_RELAXED)) {
    }
}

/* Counts size bytes given back to the kernel. */
static void os_account_returned(size_t size)
{
    fetch_add_relaxed(&os_returned, size);
    os_returned_here += size;
}

static void os_account_unmap(size_t size)
{
    fetch_sub_relaxed(&os_mapped, size);
    os_account_returned(size);
}

uint64_t os_returned_by_thread(void) { return os_returned_here; }

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

/* An aligned mapping, not accounted. */
static void *os_map_aligned_raw(size_t size, size_t align)
{
    OS_KEEP_ERRNO;
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
    return p;
}

void *os_map_aligned(size_t size, size_t align)
{
    if (!os_reserve(size))
        return NULL;
    void *p = os_map_aligned_raw(size, align);
    if (p == NULL) {
        os_unreserve(size);
        return NULL;
    }
    os_sample_peak();
    return p;
}

void os_unmap(void *p, size_t size)
{
    OS_KEEP_ERRNO;
    munmap(p, size);
    os_account_unmap(size);
}

void os_purge(void *p, size_t size)
{
    OS_KEEP_ERRNO;
    madvise(p, size, MADV_DONTNEED);
    os_account_returned(size);
}

bool os_make_writable(void *p, size_t size)
{
    OS_KEEP_ERRNO;
    return mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
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
    OS_KEEP_ERRNO;
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
    OS_KEEP_ERRNO;
    munmap(p, size);
    os_account_returned(size);
}

/* mremap MREMAP_FIXED of [src, src+old_size) onto dst, a mapping of
 * new_size bytes (or the test hook's failure, as an old kernel fails). */
static bool os_mremap_fixed(void *src, size_t old_size, size_t new_size, void *dst)
{
    if (os_countdown_hit(&os_move_fail_countdown, false)) {
        void (*taken)(void *, size_t) = load_relaxed(&os_failing_move_taken);
        munmap(dst, new_size);
        if (taken != NULL)
            taken(dst, new_size);
        return false;
    }
    return mremap(src, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst;
}

bool os_move_pages(void *dst, void *src, size_t size)
{
    OS_KEEP_ERRNO;
    return os_mremap_fixed(src, size, size, dst);
}

enum os_remap os_remap_inplace(void *p, size_t old_size, size_t new_size)
{
    OS_KEEP_ERRNO;
    char *end = (char *)p + old_size;
    if (new_size < old_size) {
        /* munmap, unlike mremap, also cuts across mappings. */
        if (munmap((char *)p + new_size, old_size - new_size) != 0)
            return OS_REMAP_STUCK;
        os_account_unmap(old_size - new_size);
        return OS_REMAP_DONE;
    }
    size_t growth = new_size - old_size;
    if (os_injected_failure() || !os_reserve(growth))
        return OS_REMAP_MOVABLE;
    if (mremap(p, old_size, new_size, 0) == MAP_FAILED) {
        /* Without MREMAP_FIXED nothing was unmapped.  The kernel checks
         * that the range is one mapping (else EFAULT) before it looks for
         * room after it (ENOMEM). */
        enum os_remap why = errno == ENOMEM ? OS_REMAP_MOVABLE : OS_REMAP_STUCK;
        /* Several mappings: add one right after them, if that room is
         * free. */
        void *more = errno != EFAULT
                         ? MAP_FAILED
                         : mmap(end, growth, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (more != MAP_FAILED && more != end) /* a kernel before 4.17 took the flag for a hint */
            munmap(more, growth);
        if (more != end) {
            os_unreserve(growth);
            return why;
        }
    }
    os_sample_peak();
    return OS_REMAP_DONE;
}

void *os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align)
{
    OS_KEEP_ERRNO;
    /* Reserve an aligned target, then let the kernel move the page tables
     * onto it: no copying, and the alignment survives.  Only the growth
     * is new to the total (and to the limit). */
    size_t growth = new_size - old_size;
    if (!os_reserve(growth))
        return NULL;
    char *target = os_map_aligned_raw(new_size, align);
    if (target == NULL || !os_mremap_fixed(old, old_size, new_size, target)) {
        /* A target the move failed for is given up: see os_pages.h. */
        os_unreserve(growth);
        return NULL;
    }
    os_sample_peak();
    return target;
}

static long os_futex(uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

void os_account_cached(int64_t delta)
{
    /* Sequentially consistent against os_wait_cached_above: either the
     * sleeper sees the new total, or this sees the sleeper. */
    uint64_t now = fetch_add_seq_cst(&os_cached, (uint64_t)delta) + (uint64_t)delta;
    if (delta > 0 && unlikely(load_seq_cst(&os_cached_sleeper) != 0) &&
        now > load_relaxed(&os_cached_wake)) {
        uint32_t one = 1;
        /* One waker makes the system call; a free rarely gets here: only
         * when the caches fill up again after the sleeper emptied them. */
        if (cas_strong(&os_cached_sleeper, &one, 0, __ATOMIC_RELAXED))
            os_futex(&os_cached_sleeper, FUTEX_WAKE, 1);
    }
}

uint64_t os_cached_bytes(void) { return load_relaxed(&os_cached); }

void os_wait_cached_above(uint64_t threshold)
{
    store_relaxed(&os_cached_wake, threshold);
    exchange_seq_cst(&os_cached_sleeper, 1);
    /* Returns at once when the word is no longer 1 (a waker cleared it);
     * a signal or a spurious wake-up only costs one more look. */
    while (load_seq_cst(&os_cached) <= threshold && load_relaxed(&os_cached_sleeper) != 0)
        os_futex(&os_cached_sleeper, FUTEX_WAIT, 1);
    store_relaxed(&os_cached_sleeper, 0);
}

void os_stats_read(struct os_stats *st)
{
    st->mapped = load_relaxed(&os_mapped);
    st->mapped_peak = load_relaxed(&os_mapped_peak);
    st->returned = load_relaxed(&os_returned);
    st->cached = load_relaxed(&os_cached);
}
