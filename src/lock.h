/* lock.h - the allocator's few global locks, all on slow paths, each
 * counting its acquisitions and contended acquisitions for hak_stats. */
#ifndef HAKMEM_LOCK_H
#define HAKMEM_LOCK_H

#include "internal.h"

#include <pthread.h>

struct hak_lock {
    pthread_mutex_t mutex;
    _Atomic uint64_t acquisitions; /* written under the lock, read by stats */
    _Atomic uint64_t contended;
    const char *name;
};

/* The global locks, in the order they may nest (and are taken at fork). */
enum hak_lock_id {
    HAK_LOCK_STATS,     /* hak_stats() and the printers */
    HAK_LOCK_HEAPS,     /* thread heap registry */
    HAK_LOCK_ABANDONED, /* per-class lists of abandoned slabs */
    HAK_LOCK_SUPERSLAB, /* SuperSlab unit bitmaps and lists */
    HAK_LOCK_LARGE,     /* the cache of freed large mappings */
    HAK_LOCK_COUNT
};

extern struct hak_lock hak_locks[HAK_LOCK_COUNT];

void hak_lock_wait(struct hak_lock *l);

HAK_INLINE void hak_lock_acquire(struct hak_lock *l)
{
    if (unlikely(pthread_mutex_trylock(&l->mutex) != 0))
        hak_lock_wait(l);
    HAK_RELAXED_ADD(l->acquisitions, 1);
}

/* Takes the lock only if it is free (counted as an acquisition then). */
HAK_INLINE bool hak_lock_try_acquire(struct hak_lock *l)
{
    if (pthread_mutex_trylock(&l->mutex) != 0)
        return false;
    HAK_RELAXED_ADD(l->acquisitions, 1);
    return true;
}

HAK_INLINE void hak_lock_release(struct hak_lock *l) { pthread_mutex_unlock(&l->mutex); }

/* fork(2) support: take every lock in order / release / reset in child. */
void hak_locks_prefork(void);
void hak_locks_postfork_parent(void);
void hak_locks_postfork_child(void);

#endif /* HAKMEM_LOCK_H */
