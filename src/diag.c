/* diag.c - fatal errors and reports (every build) and the debug-guard
 * build's log line; all of it formatted without allocating. */
#include "internal.h"

#include "diag.h"

#include "env.h"
#include "output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* One stderr line: prefix, the formatted message, a newline. */
static void diag_vline(const char *prefix, const char *fmt, va_list ap)
{
    char line[400];
    vsnprintf(line, sizeof line, fmt, ap);
    output_stderr("%s%s\n", prefix, line);
}

void diag_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vline("hakmem: ", fmt, ap);
    va_end(ap);
    abort();
}

void diag_invalid_pointer(const char *fn, const void *p)
{
    diag_fatal("%s(): invalid pointer %p", fn, p);
}

void diag_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vline("hakmem: ", fmt, ap);
    va_end(ap);
}

#ifdef HAKMEM_DEBUG_GUARDS
void diag_debug_log(const char *fmt, ...)
{
    if (!env_settings.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_vline("hakmem-debug: ", fmt, ap);
    va_end(ap);
}
#endif
