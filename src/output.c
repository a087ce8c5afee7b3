/* output.c - allocation-free output for statistics and diagnostics.
 * stdio may malloc a stream buffer on first use; an allocator that prints
 * must not re-enter itself, so text goes through write(2) instead. */
#include "internal.h"

#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void out_flush(struct output *o)
{
    if (o->len == 0)
        return;
    if (o->fd >= 0) {
        if (write_all(o->fd, o->buf, o->len) != 0)
            o->failed = 1;
    } else if (fwrite(o->buf, 1, o->len, o->fp) != o->len) {
        /* A memory stream (fmemopen/open_memstream) has no descriptor. */
        o->failed = 1;
    }
    o->len = 0;
}

void output_open(struct output *o, FILE *fp)
{
    o->fp = fp;
    o->failed = 0;
    o->len = 0;
    /* Keep ordering with whatever the caller already wrote to fp. */
    fflush(fp);
    o->fd = fileno(fp);
}

void output_open_fd(struct output *o, int fd)
{
    o->fp = NULL;
    o->failed = 0;
    o->len = 0;
    o->fd = fd;
}

void output_write(struct output *o, const char *p, size_t n)
{
    while (n > 0) {
        if (o->len == sizeof o->buf)
            out_flush(o);
        size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
        for (size_t i = 0; i < k; i++)
            o->buf[o->len++] = p[i];
        p += k;
        n -= k;
    }
}

void output_printf(struct output *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (o->len + len > sizeof o->buf)
        out_flush(o);
    for (size_t i = 0; i < len; i++)
        o->buf[o->len++] = line[i];
}

int output_close(struct output *o)
{
    out_flush(o);
    if (o->fd < 0)
        fflush(o->fp);
    return o->failed ? -1 : 0;
}

void output_stderr_v(const char *fmt, va_list ap)
{
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    int saved = errno;
    (void)write_all(2, line, len);
    errno = saved;
}

void output_stderr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    output_stderr_v(fmt, ap);
    va_end(ap);
}
