/* cgroup.h - the memory limits of the process's cgroup, read once at
 * start-up: cgroup v2 (memory.max, memory.high) or a v1 memory
 * controller (memory.limit_in_bytes, memory.soft_limit_in_bytes), also
 * in the hybrid layout where v1 controllers sit beside a v2 tree. */
#ifndef HAKMEM_CGROUP_H
#define HAKMEM_CGROUP_H

#include "internal.h"

struct cgroup_limits {
    unsigned version; /* 2 or 1; 0: no memory cgroup found */
    uint64_t max;     /* the hard limit, bytes (0: none) */
    uint64_t high;    /* the soft limit, bytes (0: none) */
};

/* The limits seen by cgroup_read (all zero before it, or without one). */
extern struct cgroup_limits cgroup_limits;

/* Finds the memory cgroup (/proc/self/cgroup, /proc/self/mountinfo) and
 * reads its limits and its ancestors' (the lowest of each applies).  With
 * open/read only: it runs inside the first allocation. */
void cgroup_read(void);

#endif /* HAKMEM_CGROUP_H */
