/* lock.c - global lock table and the contended slow path. */
#include "internal.h"

#include "lock.h"

struct hak_lock hak_locks[HAK_LOCK_COUNT] = {
    [HAK_LOCK_STATS] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "stats"},
    [HAK_LOCK_HEAPS] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "heaps"},
    [HAK_LOCK_ABANDONED] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "abandoned"},
    [HAK_LOCK_SUPERSLAB] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "superslab"},
    [HAK_LOCK_LARGE] = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "large"},
};

HAK_COLD void hak_lock_wait(struct hak_lock *l)
{
    pthread_mutex_lock(&l->mutex);
    HAK_RELAXED_ADD(l->contended, 1);
}

void hak_locks_prefork(void)
{
    for (int i = 0; i < HAK_LOCK_COUNT; i++)
        hak_lock_acquire(&hak_locks[i]);
}

void hak_locks_postfork_parent(void)
{
    for (int i = HAK_LOCK_COUNT - 1; i >= 0; i--)
        hak_lock_release(&hak_locks[i]);
}

void hak_locks_postfork_child(void)
{
    /* The child's one thread is the one that forked, and it holds every
     * lock: releasing them is valid (re-initialising a held mutex is not). */
    for (int i = HAK_LOCK_COUNT - 1; i >= 0; i--)
        hak_lock_release(&hak_locks[i]);
}
