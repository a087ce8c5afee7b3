/* process.h - process-wide set-up (once, on first use), fork handling and
 * the at-exit statistics. */
#ifndef HAKMEM_PROCESS_H
#define HAKMEM_PROCESS_H

#include "internal.h"

extern int process_init_state; /* 0 none, 1 running, 2 done */

void process_init_slow(void);

ALWAYS_INLINE void process_init(void)
{
    if (likely(load_acquire(&process_init_state) == 2))
        return;
    process_init_slow();
}

#endif /* HAKMEM_PROCESS_H */
