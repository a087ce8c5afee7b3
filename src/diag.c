/* diag.c - fatal errors and reports (every build) and the debug-guard
 * build's log line; all of it formatted without allocating. */
#include "internal.h"

#include "diag.h"

#include "env.h"
#include "output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* One stderr line: prefix, the message formatted from the caller's
 * variadic arguments (after fmt), a newline. */
#define DIAG_LINE(prefix, fmt)                                                                     \
    do {                                                                                           \
        char line_[400];                                                                           \
        va_list ap_;                                                                               \
        va_start(ap_, fmt);                                                                        \
        vsnprintf(line_, sizeof line_, fmt, ap_);                                                  \
        va_end(ap_);                                                                               \
        output_stderr("%s%s\n", prefix, line_);                                                    \
    } while (0)

void diag_fatal(const char *fmt, ...)
{
    DIAG_LINE("hakmem: ", fmt);
    abort();
}

void diag_invalid_pointer(const char *fn, const void *p)
{
    diag_fatal("%s(): invalid pointer %p", fn, p);
}

void diag_report(const char *fmt, ...) { DIAG_LINE("hakmem: ", fmt); }

#ifdef HAKMEM_DEBUG_GUARDS
void diag_debug_log(const char *fmt, ...)
{
    if (env_settings.verbose)
        DIAG_LINE("hakmem-debug: ", fmt);
}
#endif
