/* reclaim.c - the cache budgets and limits, the purge thread, trimming,
 * and the out-of-memory path.
 *
 * Why a thread, and where it starts.  Memory that sits in the caches
 * once a program stops calling the allocator can only go back if some
 * code of ours runs on its own: a timer signal would interrupt the
 * program's system calls and take a signal number from it, and a POSIX
 * timer of the SIGEV_THREAD kind is a thread anyway.  So one thread,
 * with a small stack and every signal blocked, asleep with no timer while
 * the caches are empty.
 *
 * pthread_create takes the C library's lock on its list of thread stacks
 * and allocates (through us, under LD_PRELOAD), and the C library calls
 * free() with that very lock held (when it drops the TLS of a cached
 * thread stack): a thread started from a free could deadlock on it.  So
 * only an allocation slow path starts the thread, after the allocation,
 * with none of our locks held; a nested allocation (pthread_create's own)
 * finds it starting and goes on.  And since a program may free its memory
 * and never allocate again, the thread is started before it is needed:
 * by the first such allocation with more than RECLAIM_START_MAPPED mapped
 * (the least the caches must have come from before they can hold a few
 * MiB) or more than RECLAIM_WAKE_CACHED in the caches.  Smaller programs
 * never get one. */
#define _GNU_SOURCE
#include "internal.h"

#include "reclaim.h"

#include "cgroup.h"
#include "diag.h"
#include "env.h"
#include "heap.h"
#include "large.h"
#include "lock.h"
#include "os_pages.h"
#include "superslab.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

uint32_t reclaim_state = RECLAIM_NOT_STARTED;
static uint64_t reclaim_purged, reclaim_failed, reclaim_handler_calls;
__thread bool reclaim_starting_thread __attribute__((tls_model("initial-exec")));
static uint32_t reclaim_own_allocs[SIZE_CLASS_COUNT];
static uint64_t reclaim_own_requested;
static uint64_t reclaim_cache_limit = (uint64_t)128 << 20, reclaim_limit, reclaim_soft_mark;
/* The thread starts once more than this is mapped (or the caches hold
 * more than RECLAIM_WAKE_CACHED); a fork child counts from what it
 * inherited. */
static uint64_t reclaim_start_mark = RECLAIM_START_MAPPED;

/* A pass at most this often while the caches hold memory: each walks the
 * SuperSlab lists under their lock.  What became free is back within a
 * second (the idle age) and this. */
#define RECLAIM_PERIOD_MS 250
/* The thread's stack: the passes need a few hundred bytes. */
#define RECLAIM_STACK_BYTES ((size_t)64 << 10)

static uint64_t reclaim_lower(uint64_t a, uint64_t b)
{
    return a == 0 || (b != 0 && b < a) ? b : a;
}

void reclaim_configure(void)
{
    uint64_t cache = env_settings.cache_bytes;
    uint64_t lowest = reclaim_lower(reclaim_lower(cgroup_limits.max, cgroup_limits.high),
                                    env_settings.limit_bytes);
    if (lowest != 0 && cache > lowest / RECLAIM_CACHE_SHARE)
        cache = lowest / RECLAIM_CACHE_SHARE;
    /* Past 90% of the cgroup's lower limit, the caches are emptied before
     * anything more is mapped (memory.high throttles the whole cgroup,
     * memory.max ends in the OOM killer). */
    uint64_t cg = reclaim_lower(cgroup_limits.max, cgroup_limits.high);
    store_relaxed(&reclaim_cache_limit, cache);
    store_relaxed(&reclaim_limit, (uint64_t)env_settings.limit_bytes);
    store_relaxed(&reclaim_soft_mark, cg - cg / 10);
    large_set_cache_limit((size_t)cache);
    ss_set_cache_limit((size_t)cache / SS_CACHE_SHARE);
    os_set_limits(env_settings.limit_bytes, cg - cg / 10);
    if (!env_settings.background) {
        uint32_t expect = RECLAIM_NOT_STARTED;
        cas_strong(&reclaim_state, &expect, RECLAIM_OFF, __ATOMIC_RELAXED);
    }
}

static void reclaim_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
        continue;
}

/* The thread: a pass over both caches, then sleep until what stays will
 * be idle, or, once they are empty, until frees fill them again. */
static void *reclaim_thread_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "hakmem-purge", 0, 0, 0);
    DIAG_LOG("purge thread started");
    for (;;) {
        uint64_t next = UINT64_MAX;
        size_t returned = ss_purge_idle(&next);
        returned += large_purge_idle(&next);
        if (returned != 0)
            fetch_add_relaxed(&reclaim_purged, returned);
        if (next == UINT64_MAX) {
            os_wait_cached_above(RECLAIM_WAKE_CACHED);
            continue;
        }
        uint64_t now = clock_now_ms();
        uint64_t wait = next > now ? next - now + 5 : 0;
        reclaim_sleep_ms(wait > RECLAIM_PERIOD_MS ? wait : RECLAIM_PERIOD_MS);
    }
    return NULL;
}

void reclaim_thread_start(void)
{
    uint32_t expect = RECLAIM_NOT_STARTED;
    if ((os_mapped_bytes() <= load_relaxed(&reclaim_start_mark) &&
         os_cached_bytes() <= RECLAIM_WAKE_CACHED) ||
        !cas_strong(&reclaim_state, &expect, RECLAIM_STARTING, __ATOMIC_ACQ_REL))
        return;
    int saved_errno = errno;
    /* The thread inherits the mask: every signal blocked, so that none
     * meant for the program is ever delivered to it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_t thread;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, RECLAIM_STACK_BYTES);
        reclaim_starting_thread = true;
        rc = pthread_create(&thread, &attr, reclaim_thread_main, NULL);
        if (rc == EINVAL) {
            /* The C library counts static TLS against the stack size: a
             * program with a lot of it needs the default size. */
            pthread_attr_destroy(&attr);
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            rc = pthread_create(&thread, &attr, reclaim_thread_main, NULL);
        }
        reclaim_starting_thread = false;
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* Not again after a failure: every slow path would try. */
    store_release(&reclaim_state, rc == 0 ? RECLAIM_RUNNING : RECLAIM_OFF);
    if (rc != 0)
        DIAG_LOG("purge thread not started: error %d", rc);
    errno = saved_errno;
}

void reclaim_note_own_block(const void *p, size_t size)
{
    if (!chunk_is_superslab(p))
        return; /* a large block: not what pthread_create allocates */
    fetch_add_relaxed(&reclaim_own_allocs[slab_of(p)->cls], 1);
    fetch_add_relaxed(&reclaim_own_requested, size);
}

size_t reclaim_trim(void)
{
    /* The thread's own empty slabs first, so that their SuperSlabs can go
     * back whole. */
    size_t released = heap_trim();
    released += ss_trim();
    released += large_trim();
    return released;
}

/* ---- when memory runs out ------------------------------------------- */

static reclaim_oom_handler *reclaim_handler; /* LOCK_OOM, with its argument */
static void *reclaim_handler_arg;
/* Set while the calling thread runs the handler: an allocation the
 * handler makes that fails does not call it again. */
static __thread bool reclaim_in_handler __attribute__((tls_model("initial-exec")));
#define OOM_LOCK (&lock_table[LOCK_OOM])

/* No memory freed could make room for these (large_alloc refuses them
 * before mapping anything, or they are past the limit themselves). */
#define RECLAIM_SIZE_MAX ((size_t)1 << 46)
#define RECLAIM_ALIGN_MAX ((size_t)1 << 40)

reclaim_oom_handler *reclaim_set_oom_handler(reclaim_oom_handler *fn, void *arg, void **old_arg)
{
    lock_acquire(OOM_LOCK);
    reclaim_oom_handler *old = reclaim_handler;
    if (old_arg != NULL)
        *old_arg = reclaim_handler_arg;
    reclaim_handler = fn;
    reclaim_handler_arg = arg;
    lock_release(OOM_LOCK);
    return old;
}

static void *reclaim_attempt(const struct reclaim_request *rq)
{
    switch (rq->kind) {
    case RECLAIM_SMALL: return heap_alloc_slow(rq->size);
    case RECLAIM_LARGE: return large_alloc(rq->size, rq->align, rq->zeroed);
    case RECLAIM_REALLOC: return large_realloc(rq->old, rq->size);
    }
    return NULL;
}

/* One more try after trimming: past the soft mark (the caches were just
 * emptied, so the mark has done its work), never past the limit. */
static void *reclaim_retry(const struct reclaim_request *rq)
{
    os_ignore_soft_mark(true);
    void *p = reclaim_attempt(rq);
    os_ignore_soft_mark(false);
    return p;
}

COLD void *reclaim_after_failure(const struct reclaim_request *rq)
{
    uint64_t limit = load_relaxed(&reclaim_limit);
    void *p = NULL;
    if (rq->size <= RECLAIM_SIZE_MAX && rq->align <= RECLAIM_ALIGN_MAX &&
        (limit == 0 || rq->size <= limit)) {
        reclaim_trim();
        p = reclaim_retry(rq);
        if (p == NULL && !reclaim_in_handler) {
            lock_acquire(OOM_LOCK);
            reclaim_oom_handler *fn = reclaim_handler;
            void *arg = reclaim_handler_arg;
            lock_release(OOM_LOCK);
            if (fn != NULL) {
                fetch_add_relaxed(&reclaim_handler_calls, 1);
                reclaim_in_handler = true;
                int again = fn(rq->size, arg);
                reclaim_in_handler = false;
                /* What the handler freed is in the caches: out of them
                 * first, then the one more try. */
                if (again) {
                    reclaim_trim();
                    p = reclaim_retry(rq);
                }
            }
        }
    }
    if (p == NULL) {
        fetch_add_relaxed(&reclaim_failed, 1);
        errno = ENOMEM;
    }
    return p;
}

void reclaim_fork_child(void)
{
    if (load_relaxed(&reclaim_state) == RECLAIM_OFF)
        return;
    /* The child needs a thread once it maps 8 MiB of its own, or frees
     * enough to fill the caches, not merely for being as large as its
     * parent: a child that execs or exits soon never starts one.
     * ThreadSanitizer ends a process that starts a thread after a
     * multi-threaded fork, so its builds leave the child without. */
    store_relaxed(&reclaim_start_mark, os_mapped_bytes() + RECLAIM_START_MAPPED);
    store_relaxed(&reclaim_state, TSAN_BUILD ? RECLAIM_OFF : RECLAIM_NOT_STARTED);
}

void reclaim_stats_read(struct reclaim_stats *st)
{
    st->cache_limit = load_relaxed(&reclaim_cache_limit);
    st->limit = load_relaxed(&reclaim_limit);
    st->soft_mark = load_relaxed(&reclaim_soft_mark);
    st->purged = load_relaxed(&reclaim_purged);
    st->failed = load_relaxed(&reclaim_failed);
    st->handler_calls = load_relaxed(&reclaim_handler_calls);
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++)
        st->own_allocs[c] = load_relaxed(&reclaim_own_allocs[c]);
    st->own_requested = load_relaxed(&reclaim_own_requested);
}
