/* symbols.c - code addresses to function names: /proc/self/maps finds
 * the file and offset of each address, the file's section headers its
 * symbol table, and one pass over the table the functions holding the
 * addresses of that mapping.  Best effort: a file that cannot be read or
 * has no symbols gives "file+0xoffset" names. */
#define _GNU_SOURCE
#include "internal.h"

#include "symbols.h"

#include "os_pages.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SYMBOLS_NAME_MAX 256
/* What is read of /proc/self/maps, at most (mapped, touched as read). */
#define SYMBOLS_MAPS_MAX ((size_t)8 << 20)
#define SYMBOLS_NONE UINT64_MAX
#define SYMBOLS_PHDR_MAX 32
#define SYMBOLS_BATCH 64 /* symbols read at once, on the stack */

struct mapping {
    uintptr_t start, end, offset;
    const char *path;
};

/* The work memory of one resolve, one mapping. */
struct work {
    char *maps;
    size_t maps_len;
    struct mapping *m;
    size_t nm;
    int32_t *mapping_of; /* per address: index in m, or -1 */
    uintptr_t *vaddr;    /* per address: its address in the file's ELF view */
    uint64_t *name;      /* per address: offset of its name in the string table */
    uint32_t *todo;      /* addresses of the mapping being resolved */
};

static bool read_exact(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

static size_t read_maps(char *buf, size_t cap)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    if (fd < 0)
        return 0;
    while (len < cap - 1) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return len;
}

static uintptr_t parse_hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16u;
        if (d == 16)
            return v;
        v = v * 16 + d;
    }
}

/* The executable mappings of files, in address order (as the kernel
 * lists them); paths are cut out of the text in place. */
static void parse_maps(struct work *w)
{
    char *line = w->maps, *end = w->maps + w->maps_len;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            nl = end;
        *nl = '\0';
        const char *p = line;
        uintptr_t start = parse_hex(&p);
        uintptr_t stop = *p == '-' ? (p++, parse_hex(&p)) : 0;
        const char *perms = *p == ' ' ? p + 1 : NULL;
        if (perms != NULL && strlen(perms) > 5 && perms[2] == 'x') {
            p = perms + 5;
            uintptr_t offset = parse_hex(&p);
            const char *path = strchr(p, '/');
            if (path != NULL && stop > start)
                w->m[w->nm++] = (struct mapping){start, stop, offset, path};
        }
        line = nl + 1;
    }
}

static int32_t mapping_of(const struct work *w, uintptr_t a)
{
    size_t lo = 0, hi = w->nm;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a < w->m[mid].start)
            hi = mid;
        else if (a >= w->m[mid].end)
            lo = mid + 1;
        else
            return (int32_t)mid;
    }
    return -1;
}

/* Finds the function of each of the k addresses in w->todo, all in one
 * mapping of the file fd and given as file offsets in w->vaddr, from the
 * file's symbol table: w->name gets the offsets of their names in the
 * string table whose file offset *strtab gets. */
static void resolve_file(struct work *w, int fd, size_t k, uint64_t *strtab)
{
    Elf64_Ehdr eh;
    if (!read_exact(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_shentsize != sizeof(Elf64_Shdr))
        return;
    /* File offsets to addresses of the ELF view, by the loadable segments. */
    Elf64_Phdr ph[SYMBOLS_PHDR_MAX];
    unsigned nph = eh.e_phnum < SYMBOLS_PHDR_MAX ? eh.e_phnum : SYMBOLS_PHDR_MAX;
    if (!read_exact(fd, ph, nph * sizeof ph[0], eh.e_phoff))
        return;
    for (size_t j = 0; j < k; j++) {
        uint32_t i = w->todo[j];
        uint64_t off = w->vaddr[i];
        w->vaddr[i] = 0;
        for (unsigned p = 0; p < nph; p++)
            if (ph[p].p_type == PT_LOAD && off >= ph[p].p_offset &&
                off - ph[p].p_offset < ph[p].p_filesz) {
                w->vaddr[i] = off - ph[p].p_offset + ph[p].p_vaddr;
                break;
            }
    }
    /* .symtab when the file has one, else the dynamic symbols. */
    Elf64_Shdr symtab = {0}, sh;
    for (unsigned s = 0; s < eh.e_shnum; s++) {
        if (!read_exact(fd, &sh, sizeof sh, eh.e_shoff + (uint64_t)s * sizeof sh))
            return;
        if (sh.sh_type == SHT_SYMTAB || (sh.sh_type == SHT_DYNSYM && symtab.sh_type == 0))
            symtab = sh;
    }
    if (symtab.sh_type == 0 || symtab.sh_entsize != sizeof(Elf64_Sym) ||
        !read_exact(fd, &sh, sizeof sh, eh.e_shoff + (uint64_t)symtab.sh_link * sizeof sh))
        return;
    *strtab = sh.sh_offset;
    Elf64_Sym syms[SYMBOLS_BATCH];
    uint64_t count = symtab.sh_size / sizeof(Elf64_Sym);
    for (uint64_t first = 0; first < count; first += SYMBOLS_BATCH) {
        size_t batch = count - first < SYMBOLS_BATCH ? (size_t)(count - first) : SYMBOLS_BATCH;
        if (!read_exact(fd, syms, batch * sizeof syms[0],
                        symtab.sh_offset + first * sizeof(Elf64_Sym)))
            return;
        for (size_t s = 0; s < batch; s++) {
            unsigned type = ELF64_ST_TYPE(syms[s].st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || syms[s].st_shndx == SHN_UNDEF ||
                syms[s].st_size == 0)
                continue;
            for (size_t j = 0; j < k; j++) {
                uint32_t i = w->todo[j];
                if (w->name[i] == SYMBOLS_NONE && w->vaddr[i] - syms[s].st_value < syms[s].st_size)
                    w->name[i] = syms[s].st_name;
            }
        }
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool symbols_resolve(const uintptr_t *addrs, size_t n, struct symbols_names *out)
{
    memset(out, 0, sizeof *out);
    size_t out_bytes = align_up(n * (SYMBOLS_NAME_MAX + sizeof(uint32_t)) + 1, OS_PAGE_SIZE);
    size_t per_addr = sizeof(int32_t) + sizeof(uintptr_t) + sizeof(uint64_t) + sizeof(uint32_t);
    size_t lines_max = SYMBOLS_MAPS_MAX / 32; /* a maps line is longer than 32 bytes */
    size_t work_bytes = align_up(
        SYMBOLS_MAPS_MAX + lines_max * sizeof(struct mapping) + n * per_addr + 64, OS_PAGE_SIZE);
    char *o = os_map_aligned(out_bytes, OS_PAGE_SIZE);
    char *mem = o ? os_map_aligned(work_bytes, OS_PAGE_SIZE) : NULL;
    if (mem == NULL) {
        if (o != NULL)
            os_unmap(o, out_bytes);
        return false;
    }
    out->mapped = out_bytes;
    out->at = (uint32_t *)o;
    out->text = o + align_up(n * sizeof(uint32_t), 16);

    struct work w = {0};
    w.maps = mem;
    w.maps_len = read_maps(w.maps, SYMBOLS_MAPS_MAX);
    w.m = (struct mapping *)(mem + SYMBOLS_MAPS_MAX);
    w.vaddr = (uintptr_t *)(w.m + lines_max);
    w.name = (uint64_t *)(w.vaddr + n);
    w.mapping_of = (int32_t *)(w.name + n);
    w.todo = (uint32_t *)(w.mapping_of + n);
    parse_maps(&w);
    for (size_t i = 0; i < n; i++) {
        w.mapping_of[i] = mapping_of(&w, addrs[i]);
        w.name[i] = SYMBOLS_NONE;
    }

    size_t used = 0;
    for (size_t mi = 0; mi < w.nm; mi++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (w.mapping_of[i] == (int32_t)mi)
                w.todo[k++] = (uint32_t)i;
        if (k == 0)
            continue;
        for (size_t j = 0; j < k; j++)
            w.vaddr[w.todo[j]] = addrs[w.todo[j]] - w.m[mi].start + w.m[mi].offset;
        int fd = open(w.m[mi].path, O_RDONLY | O_CLOEXEC);
        uint64_t strtab = 0;
        if (fd >= 0)
            resolve_file(&w, fd, k, &strtab);
        for (size_t j = 0; j < k; j++) {
            uint32_t i = w.todo[j];
            char *name = out->text + used;
            size_t len = 0;
            if (fd >= 0 && w.name[i] != SYMBOLS_NONE) {
                ssize_t r = pread(fd, name, SYMBOLS_NAME_MAX - 1, (off_t)(strtab + w.name[i]));
                if (r > 0)
                    len = strnlen(name, (size_t)r);
            }
            if (len == 0) {
                uintptr_t off = addrs[i] - w.m[mi].start + w.m[mi].offset;
                int len_printed = snprintf(name, SYMBOLS_NAME_MAX, "%s+0x%lx",
                                           base_name(w.m[mi].path), (unsigned long)off);
                len = len_printed > 0 ? (size_t)len_printed : 0;
                if (len >= SYMBOLS_NAME_MAX)
                    len = SYMBOLS_NAME_MAX - 1;
            }
            name[len] = '\0';
            out->at[i] = (uint32_t)used;
            used += len + 1;
        }
        if (fd >= 0)
            close(fd);
    }
    for (size_t i = 0; i < n; i++) {
        if (w.mapping_of[i] >= 0)
            continue;
        int len = snprintf(out->text + used, SYMBOLS_NAME_MAX, "0x%lx", (unsigned long)addrs[i]);
        out->at[i] = (uint32_t)used;
        used += (size_t)(len > 0 ? len : 0) + 1;
    }
    os_unmap(mem, work_bytes);
    return true;
}

void symbols_release(struct symbols_names *names)
{
    if (names->mapped != 0)
        os_unmap(names->at, names->mapped);
    memset(names, 0, sizeof *names);
}

bool symbols_mapping_of(uintptr_t addr, uintptr_t *start, uintptr_t *end)
{
    char buf[4096];
    size_t len = 0;
    bool found = false;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            const char *p = line;
            uintptr_t lo = parse_hex(&p), hi = *p == '-' ? (p++, parse_hex(&p)) : 0;
            if (addr >= lo && addr < hi) {
                *start = lo;
                *end = hi;
                found = true;
                break;
            }
            line = nl + 1;
        }
        if (found)
            break;
        /* Keep the unfinished line for the next read. */
        len -= (size_t)(line - buf);
        memmove(buf, line, len);
        if (len == sizeof buf - 1)
            len = 0; /* a line longer than the buffer: not a mapping's */
    }
    close(fd);
    return found;
}
