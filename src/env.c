/* env.c - parsing HAKMEM_* variables; a misspelt one is reported with the
 * closest known name, since a silent typo costs users hours. */
#include "internal.h"

#include "env.h"

#include "output.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

struct env_settings env_settings = {
    .stats = ENV_STATS_OFF,
    .cache_bytes = (size_t)128 << 20,
    .verbose = false,
};

static const char *const known_vars[] = {"HAKMEM_STATS", "HAKMEM_CACHE_MB", "HAKMEM_VERBOSE"};
#define KNOWN_COUNT (sizeof known_vars / sizeof known_vars[0])

/* Edit distance of two short names (longer ones are cut at 31 chars). */
static unsigned edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    unsigned row[32];
    if (la > 31)
        la = 31;
    if (lb > 31)
        lb = 31;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void warn_unknown(const char *entry, size_t name_len)
{
    const char *best = known_vars[0];
    unsigned best_d = ~0u;
    for (size_t k = 0; k < KNOWN_COUNT; k++) {
        unsigned d = edit_distance(entry, name_len, known_vars[k], strlen(known_vars[k]));
        if (d < best_d) {
            best_d = d;
            best = known_vars[k];
        }
    }
    output_stderr("hakmem: unknown environment variable %.*s ignored; did you mean %s?\n",
                  (int)name_len, entry, best);
}

static bool is_known(const char *entry, size_t name_len)
{
    for (size_t k = 0; k < KNOWN_COUNT; k++)
        if (strlen(known_vars[k]) == name_len && memcmp(entry, known_vars[k], name_len) == 0)
            return true;
    return false;
}

static bool parse_flag(const char *v)
{
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0 && strcmp(v, "no") != 0;
}

bool env_init(void)
{
    if (environ == NULL)
        return false;
    const char *v = getenv("HAKMEM_STATS");
    if (v != NULL && *v != '\0') {
        if (strcmp(v, "json") == 0)
            env_settings.stats = ENV_STATS_JSON;
        else if (strcmp(v, "1") == 0 || strcmp(v, "text") == 0 || strcmp(v, "yes") == 0)
            env_settings.stats = ENV_STATS_TEXT;
        else if (strcmp(v, "0") != 0 && strcmp(v, "no") != 0)
            output_stderr("hakmem: HAKMEM_STATS=%s not understood (use 1, text or json)\n", v);
    }
    v = getenv("HAKMEM_CACHE_MB");
    if (v != NULL && *v != '\0') {
        char *end;
        unsigned long mb = strtoul(v, &end, 10);
        if (*end != '\0' || mb > ((size_t)1 << 20))
            output_stderr("hakmem: HAKMEM_CACHE_MB=%s is not a number of megabytes\n", v);
        else
            env_settings.cache_bytes = (size_t)mb << 20;
    }
    env_settings.verbose = parse_flag(getenv("HAKMEM_VERBOSE"));

    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "HAKMEM_", 7) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (!is_known(*e, len))
            warn_unknown(*e, len);
    }
    return true;
}
