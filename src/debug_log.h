/* debug_log.h - the one logging macro and the integrity-check macro.
 * Both compile to nothing unless configured with --enable-debug-guards, so
 * a release library carries none of their strings. */
#ifndef HAKMEM_DEBUG_LOG_H
#define HAKMEM_DEBUG_LOG_H

#include "internal.h"

#ifdef HAKMEM_DEBUG_GUARDS
#define DIAG_GUARDS_ON 1
void diag_debug_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Printed when HAKMEM_VERBOSE=1; every message starts "hakmem-debug: ". */
#define DIAG_LOG(...) diag_debug_log(__VA_ARGS__)
/* An integrity check: on failure names the check and aborts. */
#define DIAG_ASSERT(cond, ...)                                                                       \
    do {                                                                                           \
        if (unlikely(!(cond)))                                                                     \
            diag_fatal(__VA_ARGS__);                                                                \
    } while (0)
#else
#define DIAG_GUARDS_ON 0
#define DIAG_LOG(...) ((void)0)
#define DIAG_ASSERT(cond, ...) ((void)0)
#endif

/* Reports a broken contract (invalid pointer, double free, corrupted
 * metadata) on one stderr line starting "hakmem: " and aborts.  Present in
 * every build: silent heap corruption is worse than a crash. */
NORETURN COLD void diag_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* HAKMEM_DEBUG_LOG_H */
