/* harden.c - the hardened library's secrets, guard pages, carving order
 * and zero-size blocks (see harden.h).  Compiled to nothing in the
 * default build. */
#define _GNU_SOURCE
#include "internal.h"

#include "harden.h"

#ifdef HAKMEM_HARDENED

#include "diag.h"

#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

struct harden_secrets harden_secrets;

static uint64_t harden_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void harden_init(void)
{
    uint64_t r[3];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* No entropy yet (early boot): the clock and where the kernel put
         * the stack and this library, which ASLR chose at random. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)&ts ^
                        ((uintptr_t)&harden_secrets << 16) ^ (uint64_t)getpid();
        for (int i = 0; i < 3; i++)
            r[i] = harden_splitmix(&seed);
    }
    harden_secrets.block = r[0];
    /* Never 0: a free block's two words would be equal, as a live block's
     * often are. */
    harden_secrets.check = r[1] | 1;
    harden_secrets.check_fill = harden_secrets.check ^ HARDEN_FILL;
    harden_secrets.order = r[2];
}

bool harden_guard(void *p, size_t n) { return mprotect(p, n, PROT_NONE) == 0; }

bool harden_unguard(void *p, size_t n) { return mprotect(p, n, PROT_READ | PROT_WRITE) == 0; }

/* Each thread's random bits: a splitmix64 sequence of its own (no line
 * shared between threads on the carving path), started from the secret,
 * a process-wide count of the threads that drew, the process id and the
 * address of the thread's state.  A fork child starts its sequence again
 * (harden_fork_child), so that it does not repeat its parent's. */
static uint64_t harden_random_threads;
static __thread uint64_t harden_random_state __attribute__((tls_model("initial-exec")));

uint64_t harden_random(void)
{
    if (unlikely(harden_random_state == 0))
        harden_random_state = harden_secrets.order ^
                              (fetch_add_relaxed(&harden_random_threads, 1) << 40) ^
                              ((uint64_t)getpid() << 20) ^ (uintptr_t)&harden_random_state;
    return harden_splitmix(&harden_random_state);
}

void harden_fork_child(void) { harden_random_state = 0; }

/* ---- zero-size blocks ---------------------------------------------------- */

/* One reservation of address space, mapped on first use with no access:
 * 2^26 blocks of 16 bytes; a bitmap records the freed ones (1 bit each,
 * its pages touched only as blocks are freed). */
#define HARDEN_ZERO_BYTES ((size_t)1 << 30)
#define HARDEN_ZERO_SLOT 16u
#define HARDEN_ZERO_SLOTS (HARDEN_ZERO_BYTES / HARDEN_ZERO_SLOT)

static char *harden_zero_base;
static uint64_t *harden_zero_freed;
static uint64_t harden_zero_next;
static int harden_zero_state; /* 0 not reserved, 1 reserving, 2 reserved, 3 cannot be */

/* The reservation, made once; NULL when the kernel refused it. */
static char *harden_zero_reserve(void)
{
    int state = load_acquire(&harden_zero_state);
    if (likely(state == 2))
        return harden_zero_base;
    int expect = 0;
    if (state == 0 && cas_strong(&harden_zero_state, &expect, 1, __ATOMIC_ACQUIRE)) {
        void *r = mmap(NULL, HARDEN_ZERO_BYTES, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        void *bits = mmap(NULL, HARDEN_ZERO_SLOTS / 8, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r != MAP_FAILED && bits != MAP_FAILED) {
            harden_zero_base = r;
            harden_zero_freed = bits;
            store_release(&harden_zero_state, 2);
            return r;
        }
        if (r != MAP_FAILED)
            munmap(r, HARDEN_ZERO_BYTES);
        if (bits != MAP_FAILED)
            munmap(bits, HARDEN_ZERO_SLOTS / 8);
        store_release(&harden_zero_state, 3);
        return NULL;
    }
    while ((state = load_acquire(&harden_zero_state)) == 1)
        continue; /* another thread is making it: two system calls */
    return state == 2 ? harden_zero_base : NULL;
}

void *harden_zero_alloc(void)
{
    char *base = harden_zero_reserve();
    if (base == NULL)
        return NULL;
    uint64_t slot = fetch_add_relaxed(&harden_zero_next, 1);
    if (slot >= HARDEN_ZERO_SLOTS)
        return NULL;
    return base + slot * HARDEN_ZERO_SLOT;
}

bool harden_zero_owns(const void *p)
{
    if (load_acquire(&harden_zero_state) != 2)
        return false;
    return (uintptr_t)p - (uintptr_t)harden_zero_base < HARDEN_ZERO_BYTES;
}

void harden_zero_free(void *p, const char *fn)
{
    uint64_t off = (uintptr_t)p - (uintptr_t)harden_zero_base;
    uint64_t slot = off / HARDEN_ZERO_SLOT;
    if (off % HARDEN_ZERO_SLOT != 0 || slot >= load_relaxed(&harden_zero_next))
        diag_invalid_pointer(fn, p);
    uint64_t bit = (uint64_t)1 << (slot % 64);
    if (fetch_or_release(&harden_zero_freed[slot / 64], bit) & bit)
        diag_fatal("%s(): double free of %p", fn, p);
}

#endif /* HAKMEM_HARDENED */
