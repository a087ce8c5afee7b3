/* process.c - one-time initialisation (safe before main, from any
 * thread), pthread_atfork handlers, and the destructor that prints
 * statistics at exit when HAKMEM_STATS asks for them. */
#define _GNU_SOURCE
#include "internal.h"

#include "process.h"

#include "debug_log.h"
#include "diag.h"
#include "env.h"
#include "heap.h"
#include "lock.h"
#include "slab.h"
#include "stats.h"
#include "superslab.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

_Atomic int hak_init_state;
static bool env_read;
static __thread bool init_running_here __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void) { hak_locks_prefork(); }
static void atfork_parent(void) { hak_locks_postfork_parent(); }
static void atfork_child(void)
{
    hak_locks_postfork_child();
    heap_fork_child();
}

void hak_process_init_slow(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&hak_init_state, &expect, 1)) {
        if (init_running_here)
            return; /* re-entered from our own set-up: go on */
        while (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2)
            sched_yield();
        return;
    }
    init_running_here = true;
    env_read = env_init();
    ss_set_cache_limit(hak_env.cache_bytes / HAK_SS_CACHE_SHARE);
    heap_process_init();
    diag_install_fault_handler();
    atomic_store_explicit(&hak_init_state, 2, memory_order_release);
    init_running_here = false;
    /* May allocate: after the state says the allocator is ready. */
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    HAK_DEBUG_LOG("hakmem started in process %d (debug guards on)", (int)getpid());
}

__attribute__((constructor)) static void hak_process_ctor(void)
{
    hak_process_init();
    if (!env_read && (env_read = env_init()))
        ss_set_cache_limit(hak_env.cache_bytes / HAK_SS_CACHE_SHARE);
}

__attribute__((destructor)) static void hak_process_dtor(void)
{
    HAK_DEBUG_LOG("hakmem shutting down in process %d", (int)getpid());
    for (int i = 0; i < HAK_LOCK_COUNT; i++)
        HAK_DEBUG_LOG("lock %-10s %llu acquisitions, %llu contended", hak_locks[i].name,
                      (unsigned long long)HAK_RELAXED_LOAD(hak_locks[i].acquisitions),
                      (unsigned long long)HAK_RELAXED_LOAD(hak_locks[i].contended));
    if (hak_env.stats != HAK_STATS_OFF)
        stats_print_at_exit(hak_env.stats == HAK_STATS_JSON);
}
