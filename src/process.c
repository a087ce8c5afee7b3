/* process.c - one-time process set-up (safe before main, from any
 * thread), the pthread_atfork handlers, and the debug-guard build's
 * fault reporter. */
#define _GNU_SOURCE
#include "internal.h"

#include "process.h"

#include "cgroup.h"
#include "chunk_map.h"
#include "diag.h"
#include "env.h"
#include "harden.h"
#include "heap.h"
#include "lock.h"
#include "output.h"
#include "prof.h"
#include "reclaim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
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
    reclaim_fork_child();
    if (HARDEN_ON)
        harden_fork_child();
}

#ifdef HAKMEM_DEBUG_GUARDS
static void fault_handler(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    const void *addr = info->si_addr;
    unsigned kind = chunk_kind_of(addr);
    output_stderr("hakmem-debug: %s at address %p, %s\n", sig == SIGSEGV ? "SIGSEGV" : "SIGBUS",
                  addr,
                  kind == CHUNK_SUPERSLAB ? "inside a hakmem SuperSlab"
                  : kind != CHUNK_NONE    ? "inside a hakmem large block"
                                          : "not in hakmem's memory");
    /* Re-raise with the default action so the process dies as it would
     * have (core dump, exit status). */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Debug-guard builds: says whether a SIGSEGV or SIGBUS hit hakmem's
 * memory, where the program has not installed a handler of its own. */
static void install_fault_reporter(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    struct sigaction old;
    if (sigaction(SIGSEGV, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        sigaction(SIGSEGV, &sa, NULL);
    if (sigaction(SIGBUS, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        sigaction(SIGBUS, &sa, NULL);
}
#else
static void install_fault_reporter(void) {}
#endif

void process_init_slow(void)
{
    /* It runs inside the program's first allocation, which must leave
     * errno as it was (strtoul, sigaction...). */
    int saved_errno = errno;
    int expect = 0;
    if (!cas_strong(&process_init_state, &expect, 1, __ATOMIC_ACQ_REL)) {
        if (init_running_here)
            return; /* re-entered from our own set-up: go on */
        while (load_acquire(&process_init_state) != 2)
            sched_yield();
        errno = saved_errno;
        return;
    }
    init_running_here = true;
    if (HARDEN_ON) /* before any block exists */
        harden_init();
    env_read = env_init();
    cgroup_read();
    reclaim_configure();
    heap_process_init();
    if (env_read)
        prof_start();
    install_fault_reporter();
    store_release(&process_init_state, 2);
    init_running_here = false;
    /* May allocate: after the state says the allocator is ready. */
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    DIAG_LOG("hakmem started in process %d (debug guards on)", (int)getpid());
    errno = saved_errno;
}

__attribute__((constructor)) static void process_ctor(void)
{
    process_init();
    if (!env_read && (env_read = env_init())) {
        reclaim_configure();
        prof_start();
    }
}
