/* env.h - the handful of HAKMEM_* settings (hakmem(7)), from the
 * environment and from /etc/hakmem.conf (hakmem.conf(5)). */
#ifndef HAKMEM_ENV_H
#define HAKMEM_ENV_H

#include "internal.h"

/* The longest HAKMEM_PROF prefix, with room for what a file name adds. */
#define ENV_PATH_MAX 1024

enum env_stats_mode { ENV_STATS_OFF, ENV_STATS_TEXT, ENV_STATS_JSON };

struct env_settings {
    enum env_stats_mode stats; /* HAKMEM_STATS */
    size_t cache_bytes;        /* HAKMEM_CACHE_MB: the large-block cache; SuperSlabs get 1/2 */
    size_t limit_bytes;        /* HAKMEM_LIMIT_MB: the most ever mapped; 0 none */
    bool background;           /* HAKMEM_BACKGROUND: the purge thread may run */
    bool verbose;              /* HAKMEM_VERBOSE (debug-guard builds) */
    /* HAKMEM_PROF: the file prefix of heap profiles; empty when off. */
    char prof_prefix[ENV_PATH_MAX];
    uint64_t prof_rate; /* HAKMEM_PROF_RATE: mean bytes between samples */
    int prof_signal;    /* HAKMEM_PROF_SIGNAL: dump on this signal; 0 none */
};

extern struct env_settings env_settings;

/* The settings file: the same NAME=value settings as the environment,
 * which wins over it. */
#define ENV_CONF_PATH "/etc/hakmem.conf"

/* Reads the settings file, then the variables, and warns once about
 * unknown HAKMEM_* names in either.  When the first allocation comes
 * before the C library has set up `environ` (a preinit function, a
 * sanitizer runtime), there is nothing to read yet: env_init returns
 * false and is called again from the constructor. */
bool env_init(void);

/* Opens a file of the system read-only (O_CLOEXEC), for the few read at
 * start-up without allocating; -1 with errno on failure.  The test-only
 * library variant built with HAKMEM_TEST_ROOT opens path under that
 * directory instead (tests/unit/local.mk), so that tests can give it
 * a settings file and a cgroup tree of their own; no build a user runs
 * reads anything but the real path. */
int env_open_file(const char *path);

#endif /* HAKMEM_ENV_H */
