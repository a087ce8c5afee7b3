/* reclaim.h - getting memory back: the cache budgets and limits set at
 * start-up from the settings and the memory cgroup; the purge thread,
 * which returns what the caches hold once it has been idle for a second,
 * even in a process that never calls malloc again; and what an
 * allocation does when memory runs out (trim everything, ask the
 * program's handler, try once more).  It only ever handles the shared
 * caches (SuperSlabs, large blocks) and the calling thread's own slabs,
 * never another thread's slab (invariant 1). */
#ifndef HAKMEM_RECLAIM_H
#define HAKMEM_RECLAIM_H

#include "internal.h"

#include "size_class.h"

/* The purge thread is started by the first allocation slow path that
 * finds more than this mapped (a fork child: more than it inherited),
 * or more than RECLAIM_WAKE_CACHED in the caches: before that, the
 * caches cannot hold more than a few MiB.  (An allocation, never a
 * free: see reclaim.c.) */
#define RECLAIM_START_MAPPED ((uint64_t)8 << 20)
/* Once the caches are empty it sleeps, with no timer, until frees take
 * them past this. */
#define RECLAIM_WAKE_CACHED ((uint64_t)4 << 20)
/* Caches are kept to this share of the lowest limit known (cgroup or
 * HAKMEM_LIMIT_MB): a tenth. */
#define RECLAIM_CACHE_SHARE 10

enum reclaim_state { RECLAIM_NOT_STARTED, RECLAIM_STARTING, RECLAIM_RUNNING, RECLAIM_OFF };
extern uint32_t reclaim_state;

void reclaim_thread_start(void);

/* Called by allocation slow paths once the allocation is done and no
 * lock is held: starts the purge thread when it is due.  One load once
 * it runs or is off. */
ALWAYS_INLINE void reclaim_thread_maybe_start(void)
{
    if (unlikely(load_relaxed(&reclaim_state) == RECLAIM_NOT_STARTED))
        reclaim_thread_start();
}

/* True in the thread starting the purge thread, while it is in
 * pthread_create: the C library allocates the new thread's TLS vector
 * there (one calloc), through us under LD_PRELOAD.  That block is the
 * allocator's own, not the program's: api_calloc hands it to
 * reclaim_note_own_block, and the statistics leave it out, so that a
 * program comparing them before and after some work does not find a
 * block it never allocated. */
extern __thread bool reclaim_starting_thread __attribute__((tls_model("initial-exec")));
void reclaim_note_own_block(const void *p, size_t size);

/* Applies the settings (env_settings) and the cgroup's limits: the cache
 * budgets, the mapping limit and the soft mark, whether the thread may
 * run.  At process set-up, and again once the environment is readable. */
void reclaim_configure(void);

/* Gives back everything cached, and the calling thread's empty slabs,
 * now.  Returns the bytes. */
size_t reclaim_trim(void);

/* An allocation that failed (NULL, errno ENOMEM), to be tried again. */
enum reclaim_kind {
    RECLAIM_SMALL,  /* heap_alloc_slow(size) */
    RECLAIM_LARGE,  /* large_alloc(size, align, zeroed) */
    RECLAIM_REALLOC /* large_realloc(old, size) */
};
struct reclaim_request {
    enum reclaim_kind kind;
    size_t size, align;
    bool zeroed;
    void *old;
};
/* What a failed allocation does: unless it can never succeed, trims
 * (reclaim_trim) and tries again past the soft mark; if that fails too,
 * calls the out-of-memory handler, and tries once more if it asks to.
 * The block, or NULL with errno ENOMEM. */
void *reclaim_after_failure(const struct reclaim_request *rq);

/* The program's out-of-memory handler (hak_set_oom_handler): returns the
 * one it replaces, and its argument in *old_arg when old_arg is not NULL. */
typedef int reclaim_oom_handler(size_t size, void *arg);
reclaim_oom_handler *reclaim_set_oom_handler(reclaim_oom_handler *fn, void *arg, void **old_arg);

/* fork() child: the purge thread did not survive; the child starts its
 * own once it has mapped 8 MiB more than it inherited, or its caches
 * hold more than 4 MiB (never under ThreadSanitizer). */
void reclaim_fork_child(void);

struct reclaim_stats {
    uint64_t cache_limit;   /* the large-block budget in force (the SuperSlab one is half) */
    uint64_t limit;         /* HAKMEM_LIMIT_MB in bytes, 0 none */
    uint64_t soft_mark;     /* mapped bytes past which the caches are emptied first, 0 none */
    uint64_t purged;        /* bytes the purge thread gave back, cumulative */
    uint64_t failed;        /* allocations that returned NULL for want of memory */
    uint64_t handler_calls; /* calls of the out-of-memory handler */
    /* Blocks of the allocator's own (reclaim_note_own_block), by class. */
    uint32_t own_allocs[SIZE_CLASS_COUNT];
    uint64_t own_requested;
};
void reclaim_stats_read(struct reclaim_stats *st);

#endif /* HAKMEM_RECLAIM_H */
