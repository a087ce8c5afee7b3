/* superslab.c - carving slabs out of SuperSlabs, giving them back, and the
 * bounded cache of free SuperSlabs.  All of it under one lock: it runs
 * once per slab (64 KiB and more of allocations), never per block. */
#include "internal.h"

#include "superslab.h"

#include "lock.h"
#include "os_pages.h"
#include "size_class.h"

enum ss_list { SS_LIST_NONE, SS_LIST_AVAIL, SS_LIST_FULL, SS_LIST_CACHE };

static struct superslab *ss_lists[4];
static uint64_t ss_live_count, ss_cached_count;
static uint64_t ss_class_slabs[SIZE_CLASS_COUNT];
static uint64_t ss_released_allocs[SIZE_CLASS_COUNT], ss_released_frees[SIZE_CLASS_COUNT];
static uint64_t ss_released_requested;
static size_t ss_dirty_bytes;                    /* free units not yet purged */
static size_t ss_cached_bytes;                   /* what ss_trim would give back (ss_reclaimable) */
static size_t ss_cache_limit = (size_t)64 << 20; /* HAKMEM_CACHE_MB / 2 */
static uint64_t ss_decayed_ms;                   /* last ss_decay pass */

#define SS_LOCK (&lock_table[LOCK_SUPERSLAB])
/* SuperSlabs with free units looked at for a run before the cache or a
 * new mapping: keeps the time spent under the lock bounded. */
#define SS_SCAN_MAX 32
/* Free memory unused this long is returned at the next slab carved or
 * released, whatever the budget; so is checked at most this often. */
#define SS_IDLE_MS 1000

void ss_set_cache_limit(size_t bytes)
{
    lock_acquire(SS_LOCK); /* mallopt may set it while others read it */
    ss_cache_limit = bytes;
    lock_release(SS_LOCK);
}

static void ss_list_remove(struct superslab *ss)
{
    if (ss->h.prev)
        ss->h.prev->h.next = ss->h.next;
    else
        ss_lists[ss->h.list] = ss->h.next;
    if (ss->h.next)
        ss->h.next->h.prev = ss->h.prev;
    ss->h.next = ss->h.prev = NULL;
    ss->h.list = SS_LIST_NONE;
}

static void ss_list_push(struct superslab *ss, enum ss_list list)
{
    ss->h.prev = NULL;
    ss->h.next = ss_lists[list];
    if (ss->h.next)
        ss->h.next->h.prev = ss;
    ss_lists[list] = ss;
    ss->h.list = (uint8_t)list;
}

static void ss_move(struct superslab *ss, enum ss_list list)
{
    if (ss->h.list == list)
        return;
    if (ss->h.list != SS_LIST_NONE)
        ss_list_remove(ss);
    ss_list_push(ss, list);
}

/* What trimming would give back of ss: a cached SuperSlab is unmapped
 * whole, another's dirty free units are purged. */
static size_t ss_reclaimable(const struct superslab *ss)
{
    if (ss->h.list == SS_LIST_CACHE)
        return SS_SIZE;
    return (size_t)__builtin_popcount(ss->h.dirty_units & ss->h.free_units) << SLAB_UNIT_SHIFT;
}

/* ss's reclaimable bytes were `before` and may have changed: the total
 * here and the one os_pages keeps of every cache follow. */
static void ss_account_cached(const struct superslab *ss, size_t before)
{
    size_t after = ss_reclaimable(ss);
    if (after != before) {
        ss_cached_bytes += after - before;
        os_account_cached((int64_t)after - (int64_t)before);
    }
}

/* The unit bookkeeping of one SuperSlab, asserted in debug-guard builds
 * wherever it changes: unit 0 (the header) is never free, only free
 * units are dirty, and the list it is on matches its free units (a list
 * of none while it is being moved or unmapped). */
static void ss_assert_units(const struct superslab *ss)
{
    uint32_t free_units = ss->h.free_units;
    DIAG_ASSERT(!(free_units & 1u), "SuperSlab %p: header unit marked free", (const void *)ss);
    DIAG_ASSERT(!(ss->h.dirty_units & ~free_units), "SuperSlab %p: dirty units %#x not free (%#x)",
                (const void *)ss, ss->h.dirty_units, free_units);
    DIAG_ASSERT(
        ss->h.list == SS_LIST_NONE || ss->h.list == (free_units == SS_ALL_UNITS ? SS_LIST_CACHE
                                                     : free_units               ? SS_LIST_AVAIL
                                                                                : SS_LIST_FULL),
        "SuperSlab %p: on list %u with free units %#x", (const void *)ss, ss->h.list, free_units);
    (void)free_units;
}

/* The totals kept beside the lists: SuperSlabs live and cached, dirty
 * bytes.  A walk of every SuperSlab, so asserted only where the
 * figures are read (ss_stats_read) and at the decay pass (once a
 * second at most). */
static void ss_assert_totals(void)
{
#ifdef HAKMEM_DEBUG_GUARDS
    uint64_t live = 0, cached = 0;
    size_t dirty = 0, reclaimable = 0;
    for (int l = SS_LIST_AVAIL; l <= SS_LIST_CACHE; l++)
        for (const struct superslab *ss = ss_lists[l]; ss != NULL; ss = ss->h.next) {
            ss_assert_units(ss);
            *(l == SS_LIST_CACHE ? &cached : &live) += 1;
            dirty += (size_t)__builtin_popcount(ss->h.dirty_units) << SLAB_UNIT_SHIFT;
            reclaimable += ss_reclaimable(ss);
        }
    DIAG_ASSERT(live == ss_live_count && cached == ss_cached_count && dirty == ss_dirty_bytes &&
                    reclaimable == ss_cached_bytes,
                "SuperSlab totals: %llu live, %llu cached, %zu dirty, %zu reclaimable bytes; "
                "counted %llu, %llu, %zu, %zu",
                (unsigned long long)live, (unsigned long long)cached, dirty, reclaimable,
                (unsigned long long)ss_live_count, (unsigned long long)ss_cached_count,
                ss_dirty_bytes, ss_cached_bytes);
#endif
}

/* First unit of a run of k units set in mask, or 0 (unit 0 is never free). */
static unsigned ss_find_run_in(uint32_t mask, unsigned k)
{
    if (k == 1)
        return mask ? (unsigned)__builtin_ctz(mask) : 0;
    /* Bits that start a run of k: AND the mask with itself shifted. */
    uint32_t run = mask;
    for (unsigned i = 1; i < k && run; i++)
        run &= mask >> i;
    return run ? (unsigned)__builtin_ctz(run) : 0;
}

/* First unit of a run of k free units, or 0.  dirty: only units whose
 * pages are still resident. */
static unsigned ss_find_run(const struct superslab *ss, unsigned k, bool dirty)
{
    return ss_find_run_in(ss->h.free_units & (dirty ? ss->h.dirty_units : ~0u), k);
}

/* A SuperSlab in use with a run of k free units (dirty ones only, if
 * asked): the heap's own first, then a bounded scan of the others. */
static struct superslab *ss_find_avail(struct superslab *hint, unsigned k, bool dirty,
                                       unsigned *unit)
{
    /* The hint may name a SuperSlab unmapped since: the chunk map (whose
     * SuperSlab entries change only under this lock) says if it still is. */
    if (hint != NULL && chunk_kind_of(hint) == CHUNK_SUPERSLAB && hint->h.list == SS_LIST_AVAIL &&
        (*unit = ss_find_run(hint, k, dirty)) != 0)
        return hint;
    unsigned scanned = 0;
    for (struct superslab *c = ss_lists[SS_LIST_AVAIL]; c != NULL && scanned < SS_SCAN_MAX;
         c = c->h.next, scanned++)
        if ((*unit = ss_find_run(c, k, dirty)) != 0)
            return c;
    return NULL;
}

/* The hardened library's guard pages in a new SuperSlab: unit 0 after
 * the metadata, so no block reaches it from below, and the last unit, so
 * none reaches the next chunk (another SuperSlab's metadata, perhaps). */
static bool ss_guard(struct superslab *ss)
{
    size_t meta = align_up(sizeof *ss, OS_PAGE_SIZE);
    return harden_guard((char *)ss + meta, SLAB_UNIT_SIZE - meta) &&
           harden_guard((char *)ss + SS_SIZE - SLAB_UNIT_SIZE, SLAB_UNIT_SIZE);
}

static struct superslab *ss_map_new(void)
{
    struct superslab *ss = os_map_aligned(SS_SIZE, SS_SIZE);
    if (ss == NULL)
        return NULL;
    if (HARDEN_ON && !ss_guard(ss)) {
        os_unmap(ss, SS_SIZE);
        return NULL;
    }
    if (!chunk_map_set(ss, CHUNK_SUPERSLAB)) {
        os_unmap(ss, SS_SIZE);
        return NULL;
    }
    ss->h.magic = SS_MAGIC;
    ss->h.free_units = SS_ALL_UNITS;
    ss->h.dirty_units = 0;
    for (unsigned u = 0; u < SS_UNITS; u++)
        slab_init_free_unit(&ss->slabs[u]);
    return ss;
}

static void ss_purge_dirty(struct superslab *ss)
{
    size_t before = ss_reclaimable(ss);
    uint32_t dirty = ss->h.dirty_units & ss->h.free_units;
    while (dirty) {
        unsigned first = (unsigned)__builtin_ctz(dirty);
        unsigned len = 0;
        while (first + len < SS_UNITS && (dirty >> (first + len)) & 1u)
            len++;
        os_purge((char *)ss + ((size_t)first << SLAB_UNIT_SHIFT), (size_t)len << SLAB_UNIT_SHIFT);
        uint32_t bits = (len == 32 ? 0xffffffffu : ((1u << len) - 1u)) << first;
        dirty &= ~bits;
        ss->h.dirty_units &= ~bits;
        ss_dirty_bytes -= (size_t)len << SLAB_UNIT_SHIFT;
    }
    ss_account_cached(ss, before);
}

/* Takes a cached SuperSlab off every list and out of the chunk map, so
 * nothing can reach it any more, and chains it on *doomed: the caller
 * unmaps it once it has dropped the lock (ss_unmap_doomed). */
static void ss_forget_cached(struct superslab *ss, struct superslab **doomed)
{
    ss_cached_bytes -= SS_SIZE;
    os_account_cached(-(int64_t)SS_SIZE);
    ss_list_remove(ss);
    ss_cached_count--;
    ss_dirty_bytes -= (size_t)__builtin_popcount(ss->h.dirty_units) << SLAB_UNIT_SHIFT;
    /* Unregistered before the unmap: the address may be reused by another
     * thread's mapping as soon as munmap returns. */
    chunk_map_set(ss, CHUNK_NONE);
    ss->h.magic = 0;
    ss->h.next = *doomed;
    *doomed = ss;
}

static void ss_unmap_doomed(struct superslab *doomed)
{
    while (doomed != NULL) {
        struct superslab *next = doomed->h.next;
        os_unmap(doomed, SS_SIZE);
        doomed = next;
    }
}

/* Returns what has been free for SS_IDLE_MS: cached SuperSlabs are
 * unmapped (by the caller, after the lock: see ss_forget_cached), the
 * free units of the others purged.  A SuperSlab's free units count as
 * idle from its latest release.  *next_ms is lowered to when what stays
 * will be idle.  Returns the bytes given back. */
static size_t ss_decay_pass(uint64_t now, struct superslab **doomed, uint64_t *next_ms)
{
    size_t before = ss_cached_bytes;
    ss_decayed_ms = now;
    ss_assert_totals();
    struct superslab *ss, *next;
    for (int l = SS_LIST_AVAIL; l <= SS_LIST_CACHE; l++)
        for (ss = ss_lists[l]; ss != NULL && ss_cached_bytes > 0; ss = next) {
            next = ss->h.next;
            if (ss_reclaimable(ss) == 0)
                continue;
            uint32_t idle = (uint32_t)now - ss->h.freed_ms;
            if (idle < SS_IDLE_MS) {
                if (now + (SS_IDLE_MS - idle) < *next_ms)
                    *next_ms = now + (SS_IDLE_MS - idle);
            } else if (l == SS_LIST_CACHE) {
                ss_forget_cached(ss, doomed);
            } else {
                ss_purge_dirty(ss);
            }
        }
    return before - ss_cached_bytes;
}

/* The pass from the slab paths: at most once per SS_IDLE_MS, so the walk
 * costs nothing per slab. */
static void ss_decay(struct superslab **doomed)
{
    uint64_t now = clock_now_ms(), next = UINT64_MAX;
    if (now - ss_decayed_ms < SS_IDLE_MS || ss_cached_bytes == 0)
        return;
    (void)ss_decay_pass(now, doomed, &next);
}

size_t ss_purge_idle(uint64_t *next_ms)
{
    struct superslab *doomed = NULL;
    size_t returned = 0;
    lock_acquire(SS_LOCK);
    /* The clock read under the lock, as where freed_ms is written: no
     * SuperSlab can then seem freed after now (and idle for ages). */
    if (ss_cached_bytes > 0)
        returned = ss_decay_pass(clock_now_ms(), &doomed, next_ms);
    lock_release(SS_LOCK);
    ss_unmap_doomed(doomed);
    return returned;
}

struct slab *ss_slab_alloc(unsigned cls, uint64_t heap_id, struct superslab **hint)
{
    unsigned k = size_class_units[cls];
    struct superslab *ss = NULL, *doomed = NULL;
    unsigned unit = 0;

    lock_acquire(SS_LOCK);
    ss_decay(&doomed);
    /* Units whose pages are still resident first, wherever they are (a
     * cached SuperSlab too): a clean run grows the footprint while dirty
     * holes sit idle.  Then any free run, then the cache, then the
     * kernel. */
    struct superslab *cached = ss_lists[SS_LIST_CACHE];
    ss = ss_find_avail(*hint, k, true, &unit);
    if (ss == NULL && (cached == NULL || ss_find_run(cached, k, true) == 0))
        ss = ss_find_avail(*hint, k, false, &unit);
    size_t before = ss == NULL ? (cached ? SS_SIZE : 0) : ss_reclaimable(ss);
    if (ss == NULL && (ss = cached) != NULL) {
        ss_list_remove(ss);
        ss_cached_count--;
        ss_live_count++;
        if ((unit = ss_find_run(ss, k, true)) == 0)
            unit = ss_find_run(ss, k, false);
    }
    if (ss == NULL) {
        ss = ss_map_new();
        if (ss == NULL) {
            lock_release(SS_LOCK);
            ss_unmap_doomed(doomed);
            return NULL;
        }
        ss_live_count++;
        unit = 1;
    }
    uint32_t bits = ((k == 32 ? 0xffffffffu : (1u << k) - 1u)) << unit;
    DIAG_ASSERT((ss->h.free_units & bits) == bits,
                "SuperSlab %p: units %#x taken, not all free (%#x)", (void *)ss, bits,
                ss->h.free_units);
    ss->h.free_units &= ~bits;
    /* Resident pages another heap's slab left: see slab_forget_inherited. */
    bool inherited = false;
    for (unsigned i = 0; i < k; i++)
        if ((ss->h.dirty_units >> (unit + i)) & 1u && ss->slabs[unit + i].released_by != heap_id)
            inherited = true;
    if (ss->h.dirty_units & bits) {
        ss_dirty_bytes -= (size_t)__builtin_popcount(ss->h.dirty_units & bits) << SLAB_UNIT_SHIFT;
        ss->h.dirty_units &= ~bits;
    }
    ss_move(ss, ss->h.free_units ? SS_LIST_AVAIL : SS_LIST_FULL);
    ss_account_cached(ss, before);
    ss_assert_units(ss);
    ss_class_slabs[cls]++;
    slab_init(&ss->slabs[unit], (char *)ss + ((size_t)unit << SLAB_UNIT_SHIFT), cls, heap_id);
    ss->slabs[unit].inherited = inherited;
    *hint = ss;
    lock_release(SS_LOCK);
    ss_unmap_doomed(doomed);
    return &ss->slabs[unit];
}

void ss_slab_release(struct slab *s, uint64_t releaser)
{
    struct superslab *ss = ss_of(s);
    unsigned unit = (unsigned)(s - ss->slabs);
    unsigned k = s->units;
    uint32_t bits = ((k == 32 ? 0xffffffffu : (1u << k) - 1u)) << unit;
    struct superslab *doomed = NULL;

    /* A double free that reached the slab through its remote stack while
     * the owner drained it may have gone unseen at the free (see
     * slab_other_holds); it shows here, before the memory is reused.
     * (In the hardened library, one whose first free had not yet
     * written the free words: two frees of the block in flight at once.)
     * Frees by the owner alone were all checked at the free. */
    if (DIAG_GUARDS_ON || s->drained != 0)
        slab_check_empty(s);
    lock_acquire(SS_LOCK);
    size_t before = ss_reclaimable(ss);
    DIAG_ASSERT(s->head == s && s->block_size != 0 && !(ss->h.free_units & bits),
                "SuperSlab %p: release of units %#x, not a live slab (free units %#x)", (void *)ss,
                bits, ss->h.free_units);
    ss_class_slabs[s->cls]--;
    ss_released_allocs[s->cls] += s->allocs;
    ss_released_frees[s->cls] += s->allocs - s->drained; /* used is 0 */
    ss_released_requested += s->requested;
    slab_clear(s, releaser);
    ss->h.free_units |= bits;
    ss->h.dirty_units |= bits;
    ss->h.freed_ms = (uint32_t)clock_now_ms();
    ss_dirty_bytes += (size_t)k << SLAB_UNIT_SHIFT;
    bool all_free = ss->h.free_units == SS_ALL_UNITS;
    if (all_free) {
        ss_list_remove(ss);
        ss_live_count--;
        ss_list_push(ss, SS_LIST_CACHE);
        ss_cached_count++;
    } else {
        ss_move(ss, SS_LIST_AVAIL);
    }
    ss_account_cached(ss, before);
    ss_assert_units(ss);
    /* ss itself was freed just now: the decay leaves it alone. */
    ss_decay(&doomed);
    if (all_free && ss_cached_count * SS_SIZE > ss_cache_limit)
        ss_forget_cached(ss, &doomed);
    else if (ss_dirty_bytes > ss_cache_limit)
        ss_purge_dirty(ss);
    lock_release(SS_LOCK);
    ss_unmap_doomed(doomed);
}

size_t ss_trim(void)
{
    struct superslab *doomed = NULL, *ss, *next;
    size_t released = 0;
    lock_acquire(SS_LOCK);
    for (ss = ss_lists[SS_LIST_CACHE]; ss != NULL; ss = next) {
        next = ss->h.next;
        ss_forget_cached(ss, &doomed);
        released += SS_SIZE;
    }
    for (ss = ss_lists[SS_LIST_AVAIL]; ss != NULL && ss_dirty_bytes > 0; ss = ss->h.next) {
        size_t before = ss_dirty_bytes;
        ss_purge_dirty(ss);
        released += before - ss_dirty_bytes;
    }
    lock_release(SS_LOCK);
    ss_unmap_doomed(doomed);
    return released;
}

void ss_stats_read(struct ss_stats *st)
{
    lock_acquire(SS_LOCK);
    ss_assert_totals();
    st->live = ss_live_count;
    st->cached = ss_cached_count;
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++) {
        st->class_slabs[c] = ss_class_slabs[c];
        st->class_allocs[c] = ss_released_allocs[c];
        st->class_frees[c] = ss_released_frees[c];
    }
    st->requested = ss_released_requested;
    /* Live slabs: their owners keep counting while this reads (relaxed,
     * word-sized loads), so the figures are a moment's snapshot. */
    for (int l = SS_LIST_AVAIL; l <= SS_LIST_FULL; l++)
        for (struct superslab *ss = ss_lists[l]; ss != NULL; ss = ss->h.next)
            for (unsigned u = 1; u < SS_UNITS; u++) {
                const struct slab *s = &ss->slabs[u];
                if (s->block_size == 0 || s->head != s)
                    continue;
                st->class_allocs[s->cls] += load_relaxed(&s->allocs);
                /* The owner's frees; remote ones are counted by heaps. */
                uint64_t allocs = load_relaxed(&s->allocs);
                uint64_t kept = load_relaxed(&s->used) + load_relaxed(&s->drained);
                st->class_frees[s->cls] += allocs > kept ? allocs - kept : 0;
                st->requested += load_relaxed(&s->requested);
            }
    lock_release(SS_LOCK);
}

void ss_for_each(void (*fn)(struct superslab *ss, void *arg), void *arg)
{
    lock_acquire(SS_LOCK);
    for (int l = SS_LIST_AVAIL; l <= SS_LIST_FULL; l++)
        for (struct superslab *ss = ss_lists[l]; ss != NULL; ss = ss->h.next)
            fn(ss, arg);
    lock_release(SS_LOCK);
}
