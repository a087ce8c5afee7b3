/* cgroup.c - finding the process's memory cgroup and reading its limits
 * at start-up, without allocating: files are read with open/read into
 * static buffers (cgroup_read runs once, inside process set-up).
 *
 * /proc/self/cgroup names the cgroup ("N:memory:/path" for a v1
 * controller, "0::/path" for v2); /proc/self/mountinfo says where that
 * hierarchy is mounted and which of its directories the mount shows (a
 * container's mount may start below the hierarchy's root).  A v1 memory
 * controller wins when there is one: in the hybrid layout the v2 tree
 * beside it has no memory controller.  A limit applies with those of the
 * ancestors, up to the mount: the lowest of each kind is the one seen. */
#include "internal.h"

#include "cgroup.h"

#include "diag.h"
#include "env.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

struct cgroup_limits cgroup_limits;

/* What a hierarchy needs: its path in /proc/self/cgroup, and the mount
 * point and mounted root from mountinfo.  Static: read once. */
struct cgroup_hierarchy {
    char path[PATH_MAX];
    char mount[PATH_MAX];
    char root[PATH_MAX];
    bool have_path, have_mount;
};
static struct cgroup_hierarchy cgroup_v1, cgroup_v2;
static char cgroup_buf[PATH_MAX];     /* /proc/self/cgroup; a mountinfo line */
static char cgroup_dir[2 * PATH_MAX]; /* a directory of the hierarchy, then a file in it */

/* Reads a small file whole into buf (NUL-terminated); its length, or -1. */
static ssize_t cgroup_read_file(const char *path, char *buf, size_t size)
{
    int fd = env_open_file(path);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Is item one of the comma-separated words of list (len bytes)? */
static bool cgroup_list_has(const char *list, size_t len, const char *item)
{
    size_t n = strlen(item);
    for (size_t i = 0; i + n <= len;) {
        const char *comma = memchr(list + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - list) : len;
        if (end - i == n && memcmp(list + i, item, n) == 0)
            return true;
        i = end + 1;
    }
    return false;
}

static void cgroup_copy(char *dst, const char *src, size_t len)
{
    if (len >= PATH_MAX)
        len = PATH_MAX - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* /proc/self/cgroup: "ID:CONTROLLERS:PATH" lines. */
static void cgroup_find_paths(void)
{
    if (cgroup_read_file("/proc/self/cgroup", cgroup_buf, sizeof cgroup_buf) <= 0)
        return;
    for (char *line = cgroup_buf; *line != '\0';) {
        char *nl = strchr(line, '\n');
        char *end = nl ? nl : line + strlen(line);
        char *c1 = memchr(line, ':', (size_t)(end - line));
        char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (c2 != NULL) {
            const char *ctl = c1 + 1, *path = c2 + 1;
            size_t ctl_len = (size_t)(c2 - ctl), path_len = (size_t)(end - path);
            if (c1 - line == 1 && line[0] == '0' && ctl_len == 0) {
                cgroup_copy(cgroup_v2.path, path, path_len);
                cgroup_v2.have_path = true;
            } else if (cgroup_list_has(ctl, ctl_len, "memory")) {
                cgroup_copy(cgroup_v1.path, path, path_len);
                cgroup_v1.have_path = true;
            }
        }
        line = nl ? nl + 1 : end;
    }
}

/* Copies a mountinfo field, undoing its octal escapes (\040 a space). */
static void cgroup_unescape(char *dst, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < PATH_MAX; i++) {
        if (src[i] == '\\' && i + 3 < len && src[i + 1] >= '0' && src[i + 1] <= '3' &&
            src[i + 2] >= '0' && src[i + 2] <= '7' && src[i + 3] >= '0' && src[i + 3] <= '7') {
            dst[o++] =
                (char)((src[i + 1] - '0') * 64 + (src[i + 2] - '0') * 8 + (src[i + 3] - '0'));
            i += 3;
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
 * [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS". */
static void cgroup_mount_line(const char *line, size_t len)
{
    const char *field[6];
    size_t flen[6], nf = 0, i = 0;
    while (nf < 6 && i < len) {
        size_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        field[nf] = line + start;
        flen[nf++] = i - start;
        i++;
    }
    const char *sep = NULL;
    for (size_t j = i; j + 3 <= len; j++)
        if (line[j] == '-' && line[j + 1] == ' ' && (j == 0 || line[j - 1] == ' ')) {
            sep = line + j + 2;
            break;
        }
    if (nf < 6 || sep == NULL)
        return;
    const char *rest_end = line + len;
    const char *type_end = memchr(sep, ' ', (size_t)(rest_end - sep));
    if (type_end == NULL)
        return;
    const char *source_end = memchr(type_end + 1, ' ', (size_t)(rest_end - type_end - 1));
    const char *opts = source_end ? source_end + 1 : rest_end;
    size_t type_len = (size_t)(type_end - sep), opts_len = (size_t)(rest_end - opts);
    struct cgroup_hierarchy *h = NULL;
    if (type_len == 7 && memcmp(sep, "cgroup2", 7) == 0)
        h = &cgroup_v2;
    else if (type_len == 6 && memcmp(sep, "cgroup", 6) == 0 &&
             cgroup_list_has(opts, opts_len, "memory"))
        h = &cgroup_v1;
    if (h == NULL || h->have_mount)
        return;
    cgroup_unescape(h->root, field[3], flen[3]);
    cgroup_unescape(h->mount, field[4], flen[4]);
    h->have_mount = true;
}

/* mountinfo may be long (a line per mount): read a block at a time, and
 * skip lines longer than the buffer (no cgroup mount line is). */
static void cgroup_find_mounts(void)
{
    static char block[1024];
    char *line = cgroup_buf;
    int fd = env_open_file("/proc/self/mountinfo");
    if (fd < 0)
        return;
    size_t len = 0;
    bool too_long = false;
    for (;;) {
        ssize_t n = read(fd, block, sizeof block);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (block[i] != '\n') {
                if (len + 1 < sizeof cgroup_buf)
                    line[len++] = block[i];
                else
                    too_long = true;
                continue;
            }
            if (!too_long)
                cgroup_mount_line(line, len);
            len = 0;
            too_long = false;
        }
    }
    close(fd);
}

/* The value of file name in the directory cgroup_dir (dir_len bytes): a
 * number of bytes; "max" (v2), or v1's value for none (the largest page
 * multiple of a 64-bit long), is none. */
static uint64_t cgroup_read_value(size_t dir_len, const char *name)
{
    char value[32];
    size_t n = strlen(name);
    if (dir_len + 1 + n + 1 > sizeof cgroup_dir)
        return 0;
    cgroup_dir[dir_len] = '/';
    memcpy(cgroup_dir + dir_len + 1, name, n + 1);
    ssize_t len = cgroup_read_file(cgroup_dir, value, sizeof value);
    cgroup_dir[dir_len] = '\0';
    if (len <= 0 || value[0] < '0' || value[0] > '9')
        return 0;
    uint64_t v = 0;
    for (const char *p = value; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v >= ((uint64_t)1 << 62) ? 0 : v;
}

static uint64_t cgroup_lower(uint64_t a, uint64_t b) { return a == 0 || (b != 0 && b < a) ? b : a; }

/* Walks from the cgroup's directory up to the mount, keeping the lowest
 * of each limit. */
static void cgroup_read_limits(const struct cgroup_hierarchy *h, const char *max_name,
                               const char *high_name)
{
    size_t mount_len = strlen(h->mount), root_len = strlen(h->root);
    const char *rel = h->path;
    /* The part of the path below the mounted root ("/" mounts it all). */
    if (root_len > 1 && strncmp(rel, h->root, root_len) == 0 &&
        (rel[root_len] == '/' || rel[root_len] == '\0'))
        rel += root_len;
    size_t rel_len = strlen(rel);
    while (rel_len > 0 && rel[rel_len - 1] == '/')
        rel_len--;
    if (mount_len + rel_len + 1 > PATH_MAX)
        return;
    memcpy(cgroup_dir, h->mount, mount_len);
    memcpy(cgroup_dir + mount_len, rel, rel_len);
    size_t len = mount_len + rel_len;
    cgroup_dir[len] = '\0';
    for (;;) {
        cgroup_limits.max = cgroup_lower(cgroup_limits.max, cgroup_read_value(len, max_name));
        cgroup_limits.high = cgroup_lower(cgroup_limits.high, cgroup_read_value(len, high_name));
        if (len <= mount_len)
            break;
        while (len > mount_len && cgroup_dir[len - 1] != '/')
            len--;
        if (len > mount_len)
            len--; /* the slash */
        cgroup_dir[len] = '\0';
    }
}

void cgroup_read(void)
{
    int saved_errno = errno;
    cgroup_find_paths();
    if (cgroup_v1.have_path || cgroup_v2.have_path)
        cgroup_find_mounts();
    if (cgroup_v1.have_path && cgroup_v1.have_mount) {
        cgroup_limits.version = 1;
        cgroup_read_limits(&cgroup_v1, "memory.limit_in_bytes", "memory.soft_limit_in_bytes");
    } else if (cgroup_v2.have_path && cgroup_v2.have_mount) {
        cgroup_limits.version = 2;
        cgroup_read_limits(&cgroup_v2, "memory.max", "memory.high");
    }
    DIAG_LOG("memory cgroup v%u: limit %llu, soft limit %llu bytes", cgroup_limits.version,
             (unsigned long long)cgroup_limits.max, (unsigned long long)cgroup_limits.high);
    errno = saved_errno;
}
