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

int process_init_state;
static bool env_read;
static __thread bool init_running_here __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void) { lock_all_prefork(); }
static void atfork_parent(void) { lock_all_postfork_parent(); }
static void atfork_child(void)
{
    lock_all_postfork_child();
    heap_fork_child();
}

void process_init_slow(void)
{
    int expect = 0;
    if (!cas_strong(&process_init_state, &expect, 1, __ATOMIC_ACQ_REL)) {
        if (init_running_here)
            return; /* re-entered from our own set-up: go on */
        while (load_acquire(&process_init_state) != 2)
            sched_yield();
        return;
    }
    init_running_here = true;
    env_read = env_init();
    ss_set_cache_limit(env_settings.cache_bytes / SS_CACHE_SHARE);
    heap_process_init();
    diag_install_fault_handler();
    store_release(&process_init_state, 2);
    init_running_here = false;
    /* May allocate: after the state says the allocator is ready. */
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    DIAG_LOG("hakmem started in process %d (debug guards on)", (int)getpid());
}

__attribute__((constructor)) static void process_ctor(void)
{
    process_init();
    if (!env_read && (env_read = env_init()))
        ss_set_cache_limit(env_settings.cache_bytes / SS_CACHE_SHARE);
}

__attribute__((destructor)) static void process_dtor(void)
{
    DIAG_LOG("hakmem shutting down in process %d", (int)getpid());
    for (int i = 0; i < LOCK_COUNT; i++)
        DIAG_LOG("lock %-10s %llu acquisitions, %llu contended", lock_table[i].name,
                      (unsigned long long)load_relaxed(&lock_table[i].acquisitions),
                      (unsigned long long)load_relaxed(&lock_table[i].contended));
    if (env_settings.stats != ENV_STATS_OFF)
        stats_print_at_exit(env_settings.stats == ENV_STATS_JSON);
}
