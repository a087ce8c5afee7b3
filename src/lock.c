/* lock.c - global lock table and the contended slow path. */
#include "internal.h"

#include "lock.h"

struct lock lock_table[LOCK_COUNT] = {
    [LOCK_STATS] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "stats"},
    [LOCK_HEAPS] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "heaps"},
    [LOCK_ABANDONED] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "abandoned"},
    [LOCK_PROF] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "prof"},
    [LOCK_SUPERSLAB] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "superslab"},
    [LOCK_LARGE] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "large"},
    [LOCK_OOM] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "oom"},
};

COLD void lock_wait(struct lock *l)
{
    pthread_mutex_lock(&l->mutex);
    owner_add(&l->contended, 1);
}

void lock_all_prefork(void)
{
    for (int i = 0; i < LOCK_COUNT; i++)
        lock_acquire(&lock_table[i]);
}

void lock_all_postfork_parent(void)
{
    for (int i = LOCK_COUNT - 1; i >= 0; i--)
        lock_release(&lock_table[i]);
}

void lock_all_postfork_child(void)
{
    /* The child's one thread is the one that forked, and it holds every
     * lock: releasing them is valid (re-initialising a held mutex is not). */
    for (int i = LOCK_COUNT - 1; i >= 0; i--)
        lock_release(&lock_table[i]);
}
