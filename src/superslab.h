/* superslab.h - 2 MiB naturally aligned regions cut into 32 units of
 * 64 KiB.  Unit 0 holds the metadata of every unit and the SuperSlab
 * header, so a pointer finds its slab by masking and indexing, no lookup. */
#ifndef HAKMEM_SUPERSLAB_H
#define HAKMEM_SUPERSLAB_H

#include "internal.h"

#include "chunk_map.h"
#include "harden.h"
#include "slab.h"

#define SS_SIZE CHUNK_SIZE
#define SS_UNITS 32
/* Units slabs are carved from: 1 to SS_SLAB_UNITS - 1 (unit 0 is the
 * header).  The hardened library keeps the last unit as a guard, and the
 * rest of unit 0 after the metadata (see ss_map_new). */
#define SS_SLAB_UNITS (HARDEN_ON ? SS_UNITS - 1 : SS_UNITS)
#define SS_ALL_UNITS (HARDEN_ON ? 0x7ffffffeu : 0xfffffffeu)
#define SS_MAGIC 0x48414b53534c4142ull /* "HAKSSLAB" */

struct heap;

struct superslab_header {
    uint64_t magic;
    struct superslab *next, *prev; /* on one of the SuperSlab lists */
    uint32_t free_units;           /* bit i: unit i is not carved */
    uint32_t dirty_units;          /* free units whose pages were used */
    uint32_t freed_ms;             /* when a unit was last given back (clock_now_ms) */
    uint8_t list;                  /* which list it is on */
};

/* slabs[i] describes unit i.  Unit 0 holds this struct, never blocks:
 * its entry stays a free unit's, so a pointer into the metadata is
 * refused like any other that is not a block. */
struct superslab {
    struct slab slabs[SS_UNITS];
    struct superslab_header h;
};

_Static_assert(sizeof(struct superslab) <= SLAB_UNIT_SIZE, "SuperSlab metadata must fit unit 0");

/* The SuperSlab p lies in.  Address bits above CHUNK_ADDRESS_BITS are
 * dropped, so that a foreign p that chunk_is_superslab let through (see
 * there) still reaches only metadata of ours. */
ALWAYS_INLINE struct superslab *ss_of(const void *p)
{
    return (struct superslab *)((uintptr_t)p & CHUNK_ADDRESS_MASK & ~(uintptr_t)(SS_SIZE - 1));
}

/* The slab p lies in (valid for any address inside a SuperSlab; a free
 * unit for an address no slab covers).  p shifted and masked is its
 * unit's byte offset in the metadata array, so no index is scaled.  The
 * head was published, under the SuperSlab lock, before any block of the
 * slab was handed out. */
ALWAYS_INLINE struct slab *slab_of(const void *p)
{
    uintptr_t unit_off = ((uintptr_t)p >> (SLAB_UNIT_SHIFT - SLAB_META_SHIFT)) &
                         ((uintptr_t)(SS_UNITS - 1) << SLAB_META_SHIFT);
    struct slab *u = (struct slab *)((uintptr_t)ss_of(p) + unit_off);
    return load_published(&u->head);
}

/* Carves a fresh slab of class cls owned by heap_id; NULL when out of
 * memory.  `hint` is the heap's preferred SuperSlab, updated. */
struct slab *ss_slab_alloc(unsigned cls, uint64_t heap_id, struct superslab **hint);
/* Gives the units of an empty slab back to its SuperSlab; releaser is
 * the id of the heap that owned it last (0: none). */
void ss_slab_release(struct slab *s, uint64_t releaser);

/* Limit of free-but-dirty bytes kept before pages go back to the OS: this
 * share of HAKMEM_CACHE_MB, in addition to the large-block cache.  A
 * program that drops and rebuilds its data each round would otherwise
 * fault it all in again.  Memory left idle for SS_IDLE_MS goes back
 * anyway (see ss_decay). */
#define SS_CACHE_SHARE 2
void ss_set_cache_limit(size_t bytes);

/* Gives back now everything free: cached SuperSlabs are unmapped, the
 * resident free units of the others purged.  Returns the bytes. */
size_t ss_trim(void);
/* Gives back what has been free for a second (SS_IDLE_MS), as the slab
 * paths do at most once a second; lowers *next_ms to when (clock_now_ms)
 * what stays will have been.  Returns the bytes. */
size_t ss_purge_idle(uint64_t *next_ms);

struct ss_stats {
    uint64_t live, cached;
    uint64_t class_slabs[64];
    /* Blocks handed out and freed by their slab's owner, by class: from
     * the live slabs' counters plus those of slabs released since. */
    uint64_t class_allocs[64], class_frees[64];
    uint64_t requested; /* bytes asked for, all classes */
};
void ss_stats_read(struct ss_stats *st);

/* Calls fn on every SuperSlab in use (under the SuperSlab lock). */
void ss_for_each(void (*fn)(struct superslab *ss, void *arg), void *arg);

#endif /* HAKMEM_SUPERSLAB_H */
