/* lock.h - the allocator's few global locks, all on slow paths, each
 * counting its acquisitions and contended acquisitions for hak_stats. */
#ifndef HAKMEM_LOCK_H
#define HAKMEM_LOCK_H

#include "internal.h"

#include <pthread.h>

struct lock {
    pthread_mutex_t mutex;
    uint64_t acquisitions; /* written under the lock, read by stats */
    uint64_t contended;
    const char *name;
};

/* The global locks, in the order they may nest (and are taken at fork).
 * The heap profiler takes and gives back its slabs with LOCK_PROF held
 * (LOCK_SUPERSLAB inside it); its signal handler only tries LOCK_PROF,
 * so it never waits for a lock the thread it interrupted may hold. */
enum lock_id {
    LOCK_STATS,     /* hak_stats() and the printers */
    LOCK_HEAPS,     /* thread heap registry */
    LOCK_ABANDONED, /* per-class lists of abandoned slabs */
    LOCK_PROF,      /* the heap profiler's records and slabs */
    LOCK_SUPERSLAB, /* SuperSlab unit bitmaps and lists */
    LOCK_LARGE,     /* the cache of freed large mappings */
    LOCK_OOM,       /* the out-of-memory handler and its argument */
    LOCK_COUNT
};

extern struct lock lock_table[LOCK_COUNT];

void lock_wait(struct lock *l);

ALWAYS_INLINE void lock_acquire(struct lock *l)
{
    if (unlikely(pthread_mutex_trylock(&l->mutex) != 0))
        lock_wait(l);
    owner_add(&l->acquisitions, 1);
}

/* Takes the lock only if it is free (counted as an acquisition then). */
ALWAYS_INLINE bool lock_try_acquire(struct lock *l)
{
    if (pthread_mutex_trylock(&l->mutex) != 0)
        return false;
    owner_add(&l->acquisitions, 1);
    return true;
}

ALWAYS_INLINE void lock_release(struct lock *l) { pthread_mutex_unlock(&l->mutex); }

/* fork(2) support: take every lock in order / release / reset in child. */
void lock_all_prefork(void);
void lock_all_postfork_parent(void);
void lock_all_postfork_child(void);

#endif /* HAKMEM_LOCK_H */
