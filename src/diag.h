/* diag.h - reporting of broken contracts and heap problems. */
#ifndef HAKMEM_DIAG_H
#define HAKMEM_DIAG_H

#include "internal.h"

/* One "hakmem: ..." line on stderr; the process goes on. */
void diag_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Debug-guard builds: the SIGSEGV/SIGBUS reporter. */
void diag_install_fault_handler(void);

#endif /* HAKMEM_DIAG_H */
