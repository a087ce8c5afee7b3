/* diag.c - fatal errors (every build), non-fatal reports, and the
 * debug-guard diagnostics: verbose log lines and the fault reporter. */
#define _GNU_SOURCE
#include "internal.h"

#include "diag.h"

#include "chunk_map.h"
#include "debug_log.h"
#include "env.h"
#include "heap.h"
#include "output.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_fatal(const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    output_stderr("hakmem: %s\n", line);
    abort();
}

void diag_invalid_pointer(const char *fn, const void *p)
{
    diag_fatal("%s(): invalid pointer %p", fn, p);
}

void diag_report(const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    output_stderr("hakmem: %s\n", line);
}

#ifdef HAKMEM_DEBUG_GUARDS
void diag_debug_log(const char *fmt, ...)
{
    char line[400];
    if (!env_settings.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    output_stderr("hakmem-debug: %s\n", line);
}

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

void diag_install_fault_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    /* Only where the program has not installed its own handler. */
    struct sigaction old;
    if (sigaction(SIGSEGV, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        sigaction(SIGSEGV, &sa, NULL);
    if (sigaction(SIGBUS, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        sigaction(SIGBUS, &sa, NULL);
}
#else
void diag_install_fault_handler(void) {}
#endif
