/* env.c - the HAKMEM_* settings, from /etc/hakmem.conf and then the
 * environment, through one table; a misspelt name is reported with the
 * closest known one wherever it was written, since a silent typo costs
 * users hours.  Nothing here allocates: it runs inside the first malloc. */
#include "internal.h"

#include "env.h"

#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

struct env_settings env_settings = {
    .stats = ENV_STATS_OFF,
    .cache_bytes = (size_t)128 << 20,
    .limit_bytes = 0,
    .background = true,
    .verbose = false,
    .prof_rate = (uint64_t)512 << 10,
};

/* A setting's parser: stores the value, or reports it (where: "" for the
 * environment, "FILE:LINE: " for the settings file) and leaves the
 * setting as it was. */
typedef void env_parse_fn(const char *name, const char *value, const char *where);

static bool parse_flag(const char *v)
{
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0 && strcmp(v, "no") != 0;
}

static void parse_stats(const char *name, const char *v, const char *where)
{
    if (*v == '\0' || strcmp(v, "0") == 0 || strcmp(v, "no") == 0)
        env_settings.stats = ENV_STATS_OFF;
    else if (strcmp(v, "json") == 0)
        env_settings.stats = ENV_STATS_JSON;
    else if (strcmp(v, "1") == 0 || strcmp(v, "text") == 0 || strcmp(v, "yes") == 0)
        env_settings.stats = ENV_STATS_TEXT;
    else
        output_stderr("hakmem: %s%s=%s not understood (use 1, text or json)\n", where, name, v);
}

/* Megabytes, up to max_mb; false (reported) when v is not such a number. */
static bool parse_mb(const char *name, const char *v, const char *where, unsigned long max_mb,
                     size_t *bytes)
{
    char *end;
    errno = 0;
    unsigned long mb = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || mb > max_mb) {
        output_stderr("hakmem: %s%s=%s is not a number of megabytes\n", where, name, v);
        return false;
    }
    *bytes = (size_t)mb << 20;
    return true;
}

static void parse_cache_mb(const char *name, const char *v, const char *where)
{
    size_t bytes;
    if (*v != '\0' && parse_mb(name, v, where, 1ul << 20, &bytes))
        env_settings.cache_bytes = bytes;
}

static void parse_limit_mb(const char *name, const char *v, const char *where)
{
    size_t bytes;
    if (*v == '\0')
        env_settings.limit_bytes = 0;
    else if (parse_mb(name, v, where, 1ul << 26, &bytes))
        env_settings.limit_bytes = bytes;
}

static void parse_background(const char *name, const char *v, const char *where)
{
    (void)name;
    (void)where;
    env_settings.background = *v == '\0' || parse_flag(v);
}

static void parse_verbose(const char *name, const char *v, const char *where)
{
    (void)name;
    (void)where;
    env_settings.verbose = parse_flag(v);
}

/* The prefix leaves room for ".PID.NNNN.folded" and the like. */
static void parse_prof(const char *name, const char *v, const char *where)
{
    size_t len = strlen(v);
    if (len >= ENV_PATH_MAX - 64) {
        output_stderr("hakmem: %s%s is longer than %d bytes; no profiling\n", where, name,
                      ENV_PATH_MAX - 64);
        return;
    }
    memcpy(env_settings.prof_prefix, v, len + 1);
}

static void parse_prof_rate(const char *name, const char *v, const char *where)
{
    char *end;
    errno = 0;
    unsigned long long rate = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || rate == 0 ||
        rate > ((uint64_t)1 << 40))
        output_stderr("hakmem: %s%s=%s is not a number of bytes (1 to 2^40)\n", where, name, v);
    else
        env_settings.prof_rate = rate;
}

/* A signal a handler can catch and that no fault raises: a number or a
 * name, with or without "SIG"; 0 when v is none of them. */
static int signal_of(const char *v)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},    {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
                 {"USR2", SIGUSR2}, {"ALRM", SIGALRM},  {"TERM", SIGTERM}, {"PROF", SIGPROF},
                 {"URG", SIGURG},   {"WINCH", SIGWINCH}};
    if (strncmp(v, "SIG", 3) == 0)
        v += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0)
            return names[i].sig;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || n == 0 || n > (unsigned long)SIGRTMAX ||
        n == SIGKILL || n == SIGSTOP || n == SIGSEGV || n == SIGBUS || n == SIGFPE || n == SIGILL ||
        n == SIGTRAP || n == SIGABRT)
        return 0;
    return (int)n;
}

static void parse_prof_signal(const char *name, const char *v, const char *where)
{
    int sig = *v == '\0' ? 0 : signal_of(v);
    if (*v != '\0' && sig == 0)
        output_stderr("hakmem: %s%s=%s is not a signal a handler can catch\n", where, name, v);
    else
        env_settings.prof_signal = sig;
}

static const struct env_var {
    const char *name;
    env_parse_fn *parse;
} env_vars[] = {
    {"HAKMEM_STATS", parse_stats},         {"HAKMEM_CACHE_MB", parse_cache_mb},
    {"HAKMEM_LIMIT_MB", parse_limit_mb},   {"HAKMEM_BACKGROUND", parse_background},
    {"HAKMEM_VERBOSE", parse_verbose},     {"HAKMEM_PROF", parse_prof},
    {"HAKMEM_PROF_RATE", parse_prof_rate}, {"HAKMEM_PROF_SIGNAL", parse_prof_signal},
};
#define ENV_VAR_COUNT (sizeof env_vars / sizeof env_vars[0])

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

/* The known setting called name (name_len bytes, not terminated), or
 * NULL after reporting it with the closest known name. */
static const struct env_var *env_lookup(const char *name, size_t name_len, const char *where)
{
    const struct env_var *best = &env_vars[0];
    unsigned best_d = ~0u;
    for (size_t k = 0; k < ENV_VAR_COUNT; k++) {
        size_t len = strlen(env_vars[k].name);
        if (len == name_len && memcmp(name, env_vars[k].name, len) == 0)
            return &env_vars[k];
        unsigned d = edit_distance(name, name_len, env_vars[k].name, len);
        if (d < best_d) {
            best_d = d;
            best = &env_vars[k];
        }
    }
    if (*where == '\0')
        output_stderr("hakmem: unknown environment variable %.*s ignored; did you mean %s?\n",
                      (int)name_len, name, best->name);
    else
        output_stderr("hakmem: %sunknown setting %.*s ignored; did you mean %s?\n", where,
                      (int)name_len, name, best->name);
    return NULL;
}

/* ---- the settings file ----------------------------------------------- */

#define ENV_LINE_MAX 256

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One line of the file (NUL-terminated, without its newline). */
static void env_conf_line(char *line, unsigned lineno)
{
    char where[sizeof ENV_CONF_PATH + 16];
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    while (is_blank(*line))
        line++;
    size_t len = strlen(line);
    while (len > 0 && is_blank(line[len - 1]))
        line[--len] = '\0';
    if (len == 0)
        return;
    /* Formatted on the stack, as output.h does: snprintf does not allocate. */
    snprintf(where, sizeof where, "%s:%u: ", ENV_CONF_PATH, lineno);
    char *eq = strchr(line, '=');
    if (eq == NULL) {
        output_stderr("hakmem: %snot NAME=value, ignored: %s\n", where, line);
        return;
    }
    size_t name_len = (size_t)(eq - line);
    while (name_len > 0 && is_blank(line[name_len - 1]))
        name_len--;
    char *value = eq + 1;
    while (is_blank(*value))
        value++;
    const struct env_var *var = env_lookup(line, name_len, where);
    if (var != NULL)
        var->parse(var->name, value, where);
}

/* Reads the file a block at a time into a line buffer: no allocation,
 * and a file of any length costs no more memory. */
static void env_read_conf(void)
{
    static char block[512], line[ENV_LINE_MAX + 1];
    int fd = env_open_file(ENV_CONF_PATH);
    if (fd < 0)
        return;
    size_t len = 0;
    unsigned lineno = 1;
    bool too_long = false, more = true;
    while (more) {
        ssize_t n = read(fd, block, sizeof block);
        if (n < 0 && errno == EINTR)
            continue;
        more = n > 0;
        if (!more) {
            if (len == 0 && !too_long)
                break;
            block[0] = '\n'; /* the last line had no newline */
            n = 1;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (block[i] != '\n') {
                if (len < ENV_LINE_MAX)
                    line[len++] = block[i];
                else
                    too_long = true;
                continue;
            }
            line[len] = '\0';
            if (too_long)
                output_stderr("hakmem: %s:%u: line longer than %d characters ignored\n",
                              ENV_CONF_PATH, lineno, ENV_LINE_MAX);
            else
                env_conf_line(line, lineno);
            len = 0;
            too_long = false;
            lineno++;
        }
    }
    close(fd);
}

int env_open_file(const char *path)
{
#ifdef HAKMEM_TEST_ROOT
    static const char root[] = HAKMEM_TEST_ROOT;
    char full[1024];
    size_t len = strlen(path);
    if (sizeof root + len > sizeof full) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(full, root, sizeof root - 1);
    memcpy(full + sizeof root - 1, path, len + 1);
    path = full;
#endif
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    return fd;
}

bool env_init(void)
{
    if (environ == NULL)
        return false;
    int saved_errno = errno;
    env_read_conf();
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "HAKMEM_", 7) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        const struct env_var *var = env_lookup(*e, len, "");
        if (var != NULL && eq != NULL)
            var->parse(var->name, eq + 1, "");
    }
    errno = saved_errno;
    return true;
}
