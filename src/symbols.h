/* symbols.h - names for code addresses, read from the ELF symbol tables
 * of the files the process maps, for the heap profiler's folded stacks.
 * Uses system calls and its own mappings only: no malloc, no lock, so a
 * profile can be written at exit, from hak_prof_dump or from a signal
 * handler. */
#ifndef HAKMEM_SYMBOLS_H
#define HAKMEM_SYMBOLS_H

#include "internal.h"

/* The names of a set of addresses: name i is text + at[i], NUL-ended. */
struct symbols_names {
    char *text;
    uint32_t *at;
    size_t mapped; /* bytes of the one mapping holding both */
};

/* Names addrs[0..n): the function holding each address, from the file's
 * .symtab (or .dynsym where it was stripped), else "file+0xoffset", else
 * the address in hex.  False when no memory could be mapped for it. */
bool symbols_resolve(const uintptr_t *addrs, size_t n, struct symbols_names *out);
void symbols_release(struct symbols_names *names);

/* The mapping holding addr, from /proc/self/maps: false when none. */
bool symbols_mapping_of(uintptr_t addr, uintptr_t *start, uintptr_t *end);

#endif /* HAKMEM_SYMBOLS_H */
