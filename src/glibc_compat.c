/* glibc_compat.c - glibc's malloc extensions, answered from hakmem's own
 * figures: a program that asks mallinfo2() or calls malloc_trim() under
 * LD_PRELOAD would otherwise reach glibc's, which describe glibc's empty
 * arena.  hak_trim() is the API's form of malloc_trim().  hakmem(7)
 * says what every field and every mallopt parameter means here. */
#include "internal.h"

#include "glibc_compat.h"

#include "chunk_map.h"
#include "diag.h"
#include "hakmem.h"
#include "harden.h"
#include "heap.h"
#include "large.h"
#include "lock.h"
#include "os_pages.h"
#include "output.h"
#include "process.h"
#include "size_class.h"
#include "stats.h"
#include "superslab.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define STATS_LOCK (&lock_table[LOCK_STATS])

/* The figures mallinfo2, malloc_stats and malloc_info report, in glibc's
 * terms: its "arena" is the memory of small blocks, its "mmap" that of
 * large blocks, each mapped on its own. */
struct compat_figures {
    uint64_t arena;        /* mapped, but for live large blocks */
    uint64_t small_in_use; /* bytes of live small blocks */
    uint64_t free_bytes;   /* arena - small_in_use */
    uint64_t releasable;   /* what hak_trim() gives back, the calling thread's empty slabs aside */
    uint64_t free_regions; /* cached SuperSlabs and large mappings */
    uint64_t large_blocks, large_bytes;
};

static struct hak_stats compat_stats; /* ~2.5 KiB, under LOCK_STATS */

/* Collects compat_stats and f from it; LOCK_STATS held. */
static void compat_collect(struct compat_figures *f)
{
    const struct hak_stats *st = &compat_stats;
    stats_collect(&compat_stats);
    /* bytes_cached is what ss_trim and large_trim would give back. */
    f->releasable = st->bytes_cached;
    f->free_regions = st->superslabs_cached + large_cached_count();
    int64_t small = 0;
    for (unsigned c = 0; c < st->nclasses; c++)
        small += (int64_t)(st->classes[c].allocs - st->classes[c].frees) *
                 (int64_t)st->classes[c].block_size;
    /* Counters of several threads, read one after another, may be a few
     * blocks apart. */
    f->small_in_use = small > 0 ? (uint64_t)small : 0;
    f->arena = st->bytes_mapped > st->large_bytes ? st->bytes_mapped - st->large_bytes : 0;
    f->free_bytes = f->arena > f->small_in_use ? f->arena - f->small_in_use : 0;
    f->large_blocks = st->large_live;
    f->large_bytes = st->large_bytes;
}

struct mallinfo2 compat_mallinfo2(void)
{
    struct compat_figures f;
    struct mallinfo2 mi;
    lock_acquire(STATS_LOCK);
    compat_collect(&f);
    lock_release(STATS_LOCK);
    memset(&mi, 0, sizeof mi); /* no fast bins (smblks, fsmblks); usmblks is unused */
    mi.arena = f.arena;
    mi.ordblks = f.free_regions;
    mi.hblks = f.large_blocks;
    mi.hblkhd = f.large_bytes;
    mi.uordblks = f.small_in_use;
    mi.fordblks = f.free_bytes;
    mi.keepcost = f.releasable;
    return mi;
}

static int compat_saturated(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

struct mallinfo compat_mallinfo(void)
{
    struct mallinfo2 m = compat_mallinfo2();
    struct mallinfo mi;
    mi.arena = compat_saturated(m.arena);
    mi.ordblks = compat_saturated(m.ordblks);
    mi.smblks = compat_saturated(m.smblks);
    mi.hblks = compat_saturated(m.hblks);
    mi.hblkhd = compat_saturated(m.hblkhd);
    mi.usmblks = compat_saturated(m.usmblks);
    mi.fsmblks = compat_saturated(m.fsmblks);
    mi.uordblks = compat_saturated(m.uordblks);
    mi.fordblks = compat_saturated(m.fordblks);
    mi.keepcost = compat_saturated(m.keepcost);
    return mi;
}

HAK_API size_t hak_trim(void)
{
    /* Counted by what this thread gives the kernel, not by what the three
     * report: a slab that heap_trim gives back may empty a SuperSlab that
     * is unmapped at once, over the cache budget, before ss_trim runs. */
    uint64_t before = os_returned_by_thread();
    (void)heap_trim(); /* into their SuperSlabs, which ss_trim empties */
    (void)ss_trim();
    (void)large_trim();
    return (size_t)(os_returned_by_thread() - before);
}

int compat_malloc_trim(size_t pad)
{
    /* glibc keeps pad bytes at the top of its heap; hakmem has no top. */
    (void)pad;
    return hak_trim() != 0;
}

void compat_malloc_stats(void)
{
    struct compat_figures f;
    struct output o;
    lock_acquire(STATS_LOCK);
    compat_collect(&f);
    output_open(&o, stderr);
    /* glibc's labels, so that what reads its summary reads this one. */
    output_printf(&o, "Arena 0:\n");
    output_printf(&o, "system bytes     = %10llu\n", (unsigned long long)f.arena);
    output_printf(&o, "in use bytes     = %10llu\n", (unsigned long long)f.small_in_use);
    output_printf(&o, "Total (incl. mmap):\n");
    output_printf(&o, "system bytes     = %10llu\n", (unsigned long long)(f.arena + f.large_bytes));
    output_printf(&o, "in use bytes     = %10llu\n",
                  (unsigned long long)(f.small_in_use + f.large_bytes));
    output_printf(&o, "mmap regions     = %10llu\n", (unsigned long long)f.large_blocks);
    output_printf(&o, "mmap bytes       = %10llu\n", (unsigned long long)f.large_bytes);
    output_printf(&o, "releasable bytes = %10llu\n", (unsigned long long)f.releasable);
    (void)output_close(&o);
    lock_release(STATS_LOCK);
}

/* The "total" and "system" elements glibc ends a heap and the document
 * with; mmap_count < 0 leaves out the mmap total (a heap has none). */
static void compat_xml_totals(struct output *o, uint64_t free_count, uint64_t free_bytes,
                              long long mmap_count, uint64_t mmap_bytes, uint64_t system,
                              uint64_t system_max)
{
    output_printf(o, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
    output_printf(o, "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n",
                  (unsigned long long)free_count, (unsigned long long)free_bytes);
    if (mmap_count >= 0)
        output_printf(o, "<total type=\"mmap\" count=\"%lld\" size=\"%llu\"/>\n", mmap_count,
                      (unsigned long long)mmap_bytes);
    output_printf(o, "<system type=\"current\" size=\"%llu\"/>\n", (unsigned long long)system);
    output_printf(o, "<system type=\"max\" size=\"%llu\"/>\n", (unsigned long long)system_max);
    output_printf(o, "<aspace type=\"total\" size=\"%llu\"/>\n", (unsigned long long)system);
    output_printf(o, "<aspace type=\"mprotect\" size=\"%llu\"/>\n", (unsigned long long)system);
}

int compat_malloc_info(int options, FILE *fp)
{
    struct compat_figures f;
    struct output o;
    /* glibc returns EINVAL (its manual says -1 and errno): both here. */
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return EINVAL;
    }
    lock_acquire(STATS_LOCK);
    compat_collect(&f);
    const struct hak_stats *st = &compat_stats;
    output_open(&o, fp);
    output_printf(&o, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
    /* A size element per size class in use: glibc's count and total are
     * its free blocks (never carved ones included) and their bytes; the
     * blocks in use and the slabs follow. */
    uint64_t free_blocks = 0;
    for (unsigned c = 0; c < st->nclasses && c < SIZE_CLASS_COUNT; c++) {
        const struct hak_stats_class *k = &st->classes[c];
        uint64_t live = k->allocs > k->frees ? k->allocs - k->frees : 0;
        if (k->slabs == 0 && live == 0)
            continue;
        uint64_t per_slab = ((uint64_t)size_class_units[c] << SLAB_UNIT_SHIFT) / k->block_size;
        uint64_t free = k->slabs * per_slab > live ? k->slabs * per_slab - live : 0;
        free_blocks += free;
        output_printf(&o,
                      "  <size from=\"%llu\" to=\"%llu\" total=\"%llu\" count=\"%llu\" "
                      "in_use=\"%llu\" slabs=\"%llu\"/>\n",
                      c == 0 ? 0ull : (unsigned long long)size_class_bytes[c - 1] + 1,
                      (unsigned long long)k->block_size, (unsigned long long)(free * k->block_size),
                      (unsigned long long)free, (unsigned long long)live,
                      (unsigned long long)k->slabs);
    }
    output_printf(&o, "</sizes>\n");
    compat_xml_totals(&o, free_blocks + f.free_regions, f.free_bytes, -1, 0, f.arena,
                      st->bytes_mapped_peak);
    output_printf(&o, "</heap>\n");
    compat_xml_totals(&o, free_blocks + f.free_regions, f.free_bytes, (long long)f.large_blocks,
                      f.large_bytes, st->bytes_mapped, st->bytes_mapped_peak);
    output_printf(&o,
                  "<hakmem version=\"%s\" in_use=\"%llu\" in_use_peak=\"%llu\" "
                  "releasable=\"%llu\" superslabs=\"%llu\" superslabs_cached=\"%llu\" "
                  "threads=\"%llu\"/>\n</malloc>\n",
                  hak_version_string(), (unsigned long long)st->bytes_in_use,
                  (unsigned long long)st->bytes_in_use_peak, (unsigned long long)f.releasable,
                  (unsigned long long)st->superslabs_live,
                  (unsigned long long)st->superslabs_cached, (unsigned long long)st->threads_live);
    int rc = output_close(&o);
    lock_release(STATS_LOCK);
    return rc;
}

/* glibc refuses an M_MXFAST above its largest fast bin, 80 words. */
#define COMPAT_MXFAST_MAX (80 * sizeof(size_t) / 4)

int compat_mallopt(int param, int value)
{
    /* Set up first: the set-up must not overwrite what is set here. */
    process_init();
    switch (param) {
    case M_TRIM_THRESHOLD:
        /* As glibc, a negative value is a huge one: never trim. */
        ss_set_cache_limit((size_t)value);
        return 1;
    case M_MMAP_THRESHOLD: large_set_cache_block_max((size_t)value); return 1;
    case M_PERTURB: heap_set_perturb(value); return 1;
    case M_MXFAST: return (size_t)value <= COMPAT_MXFAST_MAX;
    case M_NLBLKS:
    case M_GRAIN:
    case M_KEEP:
    case M_TOP_PAD:
    case M_MMAP_MAX:
    case M_CHECK_ACTION:
    case M_ARENA_TEST:
    case M_ARENA_MAX: return 1; /* nothing of hakmem's to set */
    default: return 0;
    }
}

void compat_check_sized_free(void *p, size_t size, size_t alignment, const char *fn)
{
    size_t usable, least;
    if (p == NULL)
        return;
    unsigned kind = chunk_kind_of(p);
    if (kind == CHUNK_SUPERSLAB && HARDEN_ON) {
        /* The hardened library's canary records the size asked for. */
        usable = least = slab_live_size(slab_of(p), p, fn);
    } else if (kind == CHUNK_SUPERSLAB) {
        struct slab *s = slab_of(p);
        if (!slab_is_carved_block(s, p))
            diag_invalid_pointer(fn, p);
        usable = s->block_size;
        /* malloc(size) takes size's class; realloc keeps a block for
         * sizes down to 3/8 of it, any size in one of 64 bytes or less
         * (api_realloc); an aligned block's class says nothing. */
        least = alignment != 0 || usable <= 64 ? 0 : usable / 4 + usable / 8 + 1;
    } else if (HARDEN_ON && harden_zero_owns(p)) {
        usable = least = 0; /* a zero-size block (harden_zero_alloc) */
    } else if (kind >= CHUNK_LARGE) {
        usable = large_usable_size(p, fn);
        /* the sizes api_alloc does not give a slab (see HARDEN_TAIL) */
        least = alignment != 0 ? 0 : SIZE_CLASS_SMALL_MAX - HARDEN_TAIL + 1;
    } else {
        diag_invalid_pointer(fn, p);
    }
    if (alignment != 0 && ((alignment & (alignment - 1)) != 0 || (uintptr_t)p % alignment != 0))
        diag_fatal("%s(): %p cannot be a block aligned to %zu", fn, p, alignment);
    if (size < least || size > usable)
        diag_fatal("%s(): %zu bytes cannot be the size of block %p (%zu usable)", fn, size, p,
                   usable);
}

#ifdef HAKMEM_OVERRIDE
/* The glibc names, unversioned like malloc (see override.c). */
HAK_API struct mallinfo2 mallinfo2(void) { return compat_mallinfo2(); }
HAK_API struct mallinfo mallinfo(void) { return compat_mallinfo(); }
HAK_API int malloc_trim(size_t pad) { return compat_malloc_trim(pad); }
HAK_API void malloc_stats(void) { compat_malloc_stats(); }
HAK_API int malloc_info(int options, FILE *fp) { return compat_malloc_info(options, fp); }
HAK_API int mallopt(int param, int value) { return compat_mallopt(param, value); }
#endif
