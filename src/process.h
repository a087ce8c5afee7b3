/* process.h - process-wide set-up (once, on first use), fork handling and
 * the at-exit statistics. */
#ifndef HAKMEM_PROCESS_H
#define HAKMEM_PROCESS_H

#include "internal.h"

extern _Atomic int hak_init_state; /* 0 none, 1 running, 2 done */

void hak_process_init_slow(void);

HAK_INLINE void hak_process_init(void)
{
    if (likely(atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2))
        return;
    hak_process_init_slow();
}

#endif /* HAKMEM_PROCESS_H */
