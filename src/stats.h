/* stats.h - the global figures behind hak_stats() that are not per-thread
 * counters: bytes in use as last published, and its peak. */
#ifndef HAKMEM_STATS_H
#define HAKMEM_STATS_H

#include "internal.h"

struct hak_stats;

void stats_in_use_add(int64_t delta);
void stats_large_in_use_add(int64_t delta);
/* Fills a complete, current-version struct hak_stats; the caller holds
 * HAK_LOCK_STATS. */
void stats_collect(struct hak_stats *st);
void stats_print_at_exit(int json);

#endif /* HAKMEM_STATS_H */
