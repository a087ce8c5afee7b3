/* env.h - the handful of HAKMEM_* environment variables (hakmem(7)). */
#ifndef HAKMEM_ENV_H
#define HAKMEM_ENV_H

#include "internal.h"

enum env_stats_mode { ENV_STATS_OFF, ENV_STATS_TEXT, ENV_STATS_JSON };

struct env_settings {
    enum env_stats_mode stats; /* HAKMEM_STATS */
    size_t cache_bytes;        /* HAKMEM_CACHE_MB: the large-block cache; SuperSlabs get 1/2 */
    bool verbose;              /* HAKMEM_VERBOSE (debug-guard builds) */
};

extern struct env_settings env_settings;

/* Reads the variables and warns once about unknown HAKMEM_* names.  When
 * the first allocation comes before the C library has set up `environ`
 * (a preinit function, a sanitizer runtime), there is nothing to read
 * yet: env_init returns false and is called again from the constructor. */
bool env_init(void);

#endif /* HAKMEM_ENV_H */
