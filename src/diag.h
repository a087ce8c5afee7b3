/* diag.h - the one error-reporting header, at the bottom of the layers:
 * broken contracts end the process with one line, problems found by
 * hak_check are reported, and the debug-guard build's log line and
 * assertions compile to nothing in every other build (so a release
 * library carries none of their strings). */
#ifndef HAKMEM_DIAG_H
#define HAKMEM_DIAG_H

#include "internal.h"

/* Reports a broken contract (invalid pointer, double free, corrupted
 * metadata) on one stderr line starting "hakmem: " and aborts.  Present in
 * every build: silent heap corruption is worse than a crash. */
NORETURN COLD void diag_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "fn(): invalid pointer p": p is not a block hakmem handed out. */
NORETURN void diag_invalid_pointer(const char *fn, const void *p);
/* One "hakmem: ..." line on stderr; the process goes on. */
void diag_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef HAKMEM_DEBUG_GUARDS
#define DIAG_GUARDS_ON 1
void diag_debug_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The one debug print: shown when HAKMEM_VERBOSE=1; every message starts
 * "hakmem-debug: ". */
#define DIAG_LOG(...) diag_debug_log(__VA_ARGS__)
/* An invariant, checked where the data it speaks of changes: on failure
 * names it and aborts. */
#define DIAG_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (unlikely(!(cond)))                                                                     \
            diag_fatal(__VA_ARGS__);                                                               \
    } while (0)
#else
#define DIAG_GUARDS_ON 0
#define DIAG_LOG(...) ((void)0)
#define DIAG_ASSERT(cond, ...) ((void)0)
#endif

#endif /* HAKMEM_DIAG_H */
