/* stats.h - the global figures behind hak_stats() that are not counted
 * per thread or per slab: large blocks in use, and the in-use peak. */
#ifndef HAKMEM_STATS_H
#define HAKMEM_STATS_H

#include "internal.h"

struct hak_stats;

/* Samples bytes in use for the peak figure (rate-limited; any thread). */
void stats_sample_peak(void);
void stats_large_in_use_add(int64_t delta);
/* Fills a complete, current-version struct hak_stats; the caller holds
 * LOCK_STATS. */
void stats_collect(struct hak_stats *st);

#endif /* HAKMEM_STATS_H */
