/* output.h - formatted output that never allocates: text is formatted
 * into a caller's stack buffer and written with write(2). */
#ifndef HAKMEM_OUTPUT_H
#define HAKMEM_OUTPUT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* A fixed buffer that flushes to a stream when full. */
struct output {
    FILE *fp;   /* target stream (written through its descriptor) */
    int fd;     /* fileno(fp), or -1 when the stream has none */
    int failed; /* a write failed */
    size_t len;
    char buf[1024];
};

void output_open(struct output *o, FILE *fp);
/* The same over a file descriptor the caller opened (and closes). */
void output_open_fd(struct output *o, int fd);
/* Appends n bytes as they are. */
void output_write(struct output *o, const char *p, size_t n);
void output_printf(struct output *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Flushes; returns 0 or -1 when any write failed. */
int output_close(struct output *o);

/* One line to stderr (fd 2), formatted without allocating. */
void output_stderr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void output_stderr_v(const char *fmt, va_list ap);

#endif /* HAKMEM_OUTPUT_H */
