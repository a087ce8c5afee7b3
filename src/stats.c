/* stats.c - hak_stats(): merges the per-thread counters with the layer
 * figures on demand, and prints them as a table or JSON without
 * allocating. */
#include "internal.h"

#include "stats.h"

#include "cgroup.h"
#include "diag.h"
#include "env.h"
#include "hakmem.h"
#include "heap.h"
#include "large.h"
#include "lock.h"
#include "os_pages.h"
#include "output.h"
#include "reclaim.h"
#include "superslab.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int64_t in_use_large;
static int64_t in_use_peak;
static uint64_t peak_sampled_ms;

static void peak_update(int64_t now)
{
    int64_t peak = load_relaxed(&in_use_peak);
    while (now > peak && !cas_weak(&in_use_peak, &peak, now, __ATOMIC_RELAXED)) {
    }
}

void stats_large_in_use_add(int64_t delta) { fetch_add_relaxed(&in_use_large, delta); }

/* Counting bytes in use on every malloc and free would chain every call
 * through one shared memory word; the figure is instead computed
 * exactly from the slab counters, and the peak sampled when memory use
 * grows (a new slab, a large block), at most every 10 ms, and whenever
 * statistics are read. */
void stats_sample_peak(void)
{
    static struct hak_stats scratch; /* under LOCK_STATS */
    uint64_t now = clock_now_ms();
    uint64_t last = load_relaxed(&peak_sampled_ms);
    if (now - last < 10 || !cas_strong(&peak_sampled_ms, &last, now, __ATOMIC_RELAXED))
        return;
    /* Busy: another thread is collecting, which samples for everyone. */
    if (!lock_try_acquire(&lock_table[LOCK_STATS]))
        return;
    stats_collect(&scratch);
    lock_release(&lock_table[LOCK_STATS]);
}

void stats_collect(struct hak_stats *st)
{
    /* Large: static rather than on a small thread stack, which the
     * caller's LOCK_STATS serialises. */
    static struct heap_totals t;
    static struct ss_stats ss;
    static struct reclaim_stats rc;
    struct os_stats os;
    struct large_stats lg;

    memset(st, 0, sizeof *st);
    /* Before the slabs: a block of our own noted in between then counts
     * as the program's for this once, never twice as ours. */
    reclaim_stats_read(&rc);
    heap_totals_read(&t);
    ss_stats_read(&ss);
    os_stats_read(&os);
    large_stats_read(&lg);

    st->size = sizeof *st;
    st->version = HAK_STATS_VERSION;
    st->nclasses = SIZE_CLASS_COUNT;
    int64_t small_in_use = 0;
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++) {
        st->classes[c].block_size = size_class_bytes[c];
        /* Blocks the C library allocated for our own thread are not the
         * program's (reclaim_note_own_block); those the heap profiler's
         * windows hold were not handed out yet (heap.h).  A window that
         * closed between the two reads makes those look fewer: never
         * below none. */
        uint64_t not_handed = rc.own_allocs[c] + t.window_held[c];
        uint64_t allocs = ss.class_allocs[c] > not_handed ? ss.class_allocs[c] - not_handed : 0;
        uint64_t frees = ss.class_frees[c] + t.frees[c];
        st->classes[c].allocs = allocs;
        st->classes[c].frees = frees;
        st->classes[c].slabs = ss.class_slabs[c];
        st->allocs += allocs;
        st->frees += frees;
        small_in_use += (int64_t)(allocs - frees) * (int64_t)size_class_bytes[c];
    }

    int64_t in_use = small_in_use + load_relaxed(&in_use_large);
    if (in_use < 0) /* counters of two threads read at slightly different times */
        in_use = 0;
    peak_update(in_use);
    st->bytes_requested = ss.requested + t.window_requested + lg.requested - rc.own_requested;
    st->bytes_in_use = (uint64_t)in_use;
    st->bytes_in_use_peak = (uint64_t)load_relaxed(&in_use_peak);
    st->bytes_mapped = os.mapped;
    st->bytes_mapped_peak = os.mapped_peak;
    st->bytes_returned = os.returned;
    st->remote_frees = t.remote_frees;
    st->remote_drains = t.drains;
    st->remote_drained = t.drained;
    st->slabs_adopted = t.adopted;
    st->slabs_reclaimed = t.reclaimed;
    st->superslabs_live = ss.live;
    st->superslabs_cached = ss.cached;
    st->allocs += lg.allocs;
    st->frees += lg.frees;
    st->large_live = lg.live;
    st->large_bytes = lg.bytes;
    st->threads_live = t.threads_live;
    st->threads_exited = t.threads_exited;
    st->bytes_cached = os.cached;
    st->cache_limit = rc.cache_limit;
    st->bytes_purged_idle = rc.purged;
    st->mapped_limit = rc.limit;
    st->cgroup_limit = cgroup_limits.max;
    st->cgroup_soft_limit = cgroup_limits.high;
    st->allocs_failed = rc.failed;
    st->oom_handler_calls = rc.handler_calls;
    st->nlocks = LOCK_COUNT;
    for (unsigned i = 0; i < LOCK_COUNT; i++) {
        strncpy(st->locks[i].name, lock_table[i].name, sizeof st->locks[i].name - 1);
        st->locks[i].acquisitions = load_relaxed(&lock_table[i].acquisitions);
        st->locks[i].contended = load_relaxed(&lock_table[i].contended);
    }
}

HAK_API int hak_stats(struct hak_stats *st, size_t size)
{
    struct hak_stats full;
    if (st == NULL || size < offsetof(struct hak_stats, bytes_requested)) {
        errno = EINVAL;
        return -1;
    }
    lock_acquire(&lock_table[LOCK_STATS]);
    stats_collect(&full);
    lock_release(&lock_table[LOCK_STATS]);
    size_t n = size < sizeof full ? size : sizeof full;
    full.size = n;
    memcpy(st, &full, n);
    /* A caller built against a newer, larger struct: what this library
     * does not know reads as zero. */
    if (size > n)
        memset((char *)st + n, 0, size - n);
    return 0;
}

/* The scalar figures of struct hak_stats in print order: the field, whose
 * name is also the JSON key, and the table's label. */
static const struct stats_field {
    const char *key, *label;
    size_t offset;
} stats_fields[] = {
#define STATS_FIELD(name, label)                                                                   \
    {                                                                                              \
#name, label, offsetof(struct hak_stats, name)                                             \
    }
    STATS_FIELD(bytes_requested, "bytes requested"),
    STATS_FIELD(bytes_in_use, "bytes in use"),
    STATS_FIELD(bytes_in_use_peak, "bytes in use (peak)"),
    STATS_FIELD(bytes_mapped, "bytes mapped"),
    STATS_FIELD(bytes_mapped_peak, "bytes mapped (peak)"),
    STATS_FIELD(bytes_returned, "bytes returned to OS"),
    STATS_FIELD(allocs, "allocations"),
    STATS_FIELD(frees, "frees"),
    STATS_FIELD(remote_frees, "remote frees"),
    STATS_FIELD(remote_drains, "remote drains"),
    STATS_FIELD(remote_drained, "blocks drained"),
    STATS_FIELD(slabs_adopted, "slabs adopted"),
    STATS_FIELD(slabs_reclaimed, "slabs reclaimed on free"),
    STATS_FIELD(superslabs_live, "superslabs live"),
    STATS_FIELD(superslabs_cached, "superslabs cached"),
    STATS_FIELD(large_live, "large blocks live"),
    STATS_FIELD(large_bytes, "large bytes mapped"),
    STATS_FIELD(threads_live, "threads live"),
    STATS_FIELD(threads_exited, "threads exited"),
    STATS_FIELD(bytes_cached, "bytes cached"),
    STATS_FIELD(cache_limit, "cache limit"),
    STATS_FIELD(bytes_purged_idle, "bytes purged when idle"),
    STATS_FIELD(mapped_limit, "mapping limit"),
    STATS_FIELD(cgroup_limit, "cgroup limit"),
    STATS_FIELD(cgroup_soft_limit, "cgroup soft limit"),
    STATS_FIELD(allocs_failed, "allocations failed"),
    STATS_FIELD(oom_handler_calls, "oom handler calls"),
#undef STATS_FIELD
};
#define STATS_FIELD_COUNT (sizeof stats_fields / sizeof stats_fields[0])

static unsigned long long stats_field_value(const struct hak_stats *st, size_t i)
{
    uint64_t v;
    memcpy(&v, (const char *)st + stats_fields[i].offset, sizeof v);
    return (unsigned long long)v;
}

static void print_table(struct output *o, const struct hak_stats *st)
{
    output_printf(o, "hakmem %s statistics\n", hak_version_string());
    for (size_t i = 0; i < STATS_FIELD_COUNT; i++)
        output_printf(o, "  %-22s %20llu\n", stats_fields[i].label, stats_field_value(st, i));
    output_printf(o, "  %-12s %16s %16s\n", "lock", "acquisitions", "contended");
    for (unsigned i = 0; i < st->nlocks; i++)
        output_printf(o, "  %-12s %16llu %16llu\n", st->locks[i].name,
                      (unsigned long long)st->locks[i].acquisitions,
                      (unsigned long long)st->locks[i].contended);
    output_printf(o, "  %10s %16s %16s %8s\n", "class size", "allocs", "frees", "slabs");
    for (unsigned c = 0; c < st->nclasses; c++) {
        const struct hak_stats_class *k = &st->classes[c];
        if (k->allocs == 0 && k->frees == 0 && k->slabs == 0)
            continue;
        output_printf(o, "  %10llu %16llu %16llu %8llu\n", (unsigned long long)k->block_size,
                      (unsigned long long)k->allocs, (unsigned long long)k->frees,
                      (unsigned long long)k->slabs);
    }
}

static void print_json(struct output *o, const struct hak_stats *st)
{
    output_printf(o, "{\"version\":\"%s\",\"stats_version\":%u,", hak_version_string(),
                  st->version);
    for (size_t i = 0; i < STATS_FIELD_COUNT; i++)
        output_printf(o, "\"%s\":%llu,", stats_fields[i].key, stats_field_value(st, i));
    output_printf(o, "\"locks\":[");
    for (unsigned i = 0; i < st->nlocks; i++)
        output_printf(o, "%s{\"name\":\"%s\",\"acquisitions\":%llu,\"contended\":%llu}",
                      i ? "," : "", st->locks[i].name,
                      (unsigned long long)st->locks[i].acquisitions,
                      (unsigned long long)st->locks[i].contended);
    output_printf(o, "],\"classes\":[");
    for (unsigned c = 0; c < st->nclasses; c++) {
        const struct hak_stats_class *k = &st->classes[c];
        output_printf(o, "%s{\"block_size\":%llu,\"allocs\":%llu,\"frees\":%llu,\"slabs\":%llu}",
                      c ? "," : "", (unsigned long long)k->block_size,
                      (unsigned long long)k->allocs, (unsigned long long)k->frees,
                      (unsigned long long)k->slabs);
    }
    output_printf(o, "]}\n");
}

static int stats_print(FILE *fp, int json)
{
    static struct hak_stats st; /* ~2.5 KiB: kept off small thread stacks */
    struct output o;
    if (fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    lock_acquire(&lock_table[LOCK_STATS]);
    stats_collect(&st);
    output_open(&o, fp);
    if (json)
        print_json(&o, &st);
    else
        print_table(&o, &st);
    int rc = output_close(&o);
    lock_release(&lock_table[LOCK_STATS]);
    return rc;
}

HAK_API int hak_stats_print(FILE *fp) { return stats_print(fp, 0); }
HAK_API int hak_stats_print_json(FILE *fp) { return stats_print(fp, 1); }

/* At exit: the statistics HAKMEM_STATS asks for, and (debug-guard
 * builds, HAKMEM_VERBOSE=1) the lock counts. */
__attribute__((destructor)) static void stats_at_exit(void)
{
    DIAG_LOG("hakmem shutting down in process %d", (int)getpid());
    for (int i = 0; i < LOCK_COUNT; i++)
        DIAG_LOG("lock %-10s %llu acquisitions, %llu contended", lock_table[i].name,
                 (unsigned long long)load_relaxed(&lock_table[i].acquisitions),
                 (unsigned long long)load_relaxed(&lock_table[i].contended));
    if (env_settings.stats != ENV_STATS_OFF)
        (void)stats_print(stderr, env_settings.stats == ENV_STATS_JSON);
}
