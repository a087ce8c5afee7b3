/* slab.c - out-of-line slab operations: draining a remote chain and the
 * integrity checks around free lists. */
#include "internal.h"

#include "slab.h"

#include <string.h>

/* Owner only: p is a block that was handed out at some point. */
HAK_INLINE bool slab_contains_block(const struct slab *s, const void *p)
{
    return slab_is_block(s, p) && (const char *)p < s->bump;
}

uint32_t slab_drain_chain(struct slab *s, uintptr_t head)
{
    /* Walk to the tail: counts the blocks for `used`, and a chain longer
     * than the slab (a cycle made by a double free) is caught, not followed
     * forever. */
    uint32_t n = 1;
    void **tail = (void **)head;
    for (;;) {
        if (unlikely(!slab_contains_block(s, tail)))
            hak_fatal("free(): invalid pointer %p (freed by another thread: not a block "
                      "handed out from slab %p)", (void *)tail, (void *)s);
        void **next = tail[0];
        if (next == NULL)
            break;
        if (unlikely(++n > s->capacity))
            hak_fatal("corrupted remote free list of slab %p (cycle: double free?)", (void *)s);
        tail = next;
    }
    if (unlikely(n > s->used))
        hak_fatal("double free detected: slab %p got %u blocks back with %u out", (void *)s, n,
                  s->used);
    tail[0] = s->free;
    s->free = (void *)head;
    HAK_OWNER_STORE(s->used, s->used - n);
    HAK_COUNT(s->drained, n);
    return n;
}

void slab_bad_free_block(struct slab *s, void *b)
{
    hak_fatal("malloc(): double free or write after free of %p (slab %p, block size %u)", b,
              (void *)s, s->block_size);
}

static bool chain_contains(void *head, const void *p, uint32_t limit)
{
    for (void **b = head; b != NULL && limit > 0; b = b[0], limit--)
        if (b == p)
            return true;
    return false;
}

void slab_check_double_free(struct slab *s, void *p, const char *fn)
{
    /* The owner's free list, then the remote chain (only ever prepended
     * to by other threads, so walking a snapshot is safe). */
    uintptr_t remote = atomic_load_explicit(&s->remote, memory_order_acquire) & ~SLAB_PARKED;
    if (chain_contains(s->free, p, s->capacity) || chain_contains((void *)remote, p, s->capacity))
        hak_fatal("%s(): double free of %p", fn, p);
}

#ifdef HAKMEM_DEBUG_GUARDS
#define POISON_BYTE 0xdb

void slab_debug_poison(struct slab *s, void *p)
{
    /* Words 0 and 1 hold the link and the double-free key. */
    memset((char *)p + 2 * sizeof(void *), POISON_BYTE, s->block_size - 2 * sizeof(void *));
}

bool slab_debug_poison_intact(struct slab *s, void *p)
{
    const unsigned char *c = (const unsigned char *)p + 2 * sizeof(void *);
    for (uint32_t i = 0; i < s->block_size - 2 * sizeof(void *); i++)
        if (c[i] != POISON_BYTE)
            return false;
    return true;
}

void slab_debug_check_poison(struct slab *s, void *p)
{
    const unsigned char *c = (const unsigned char *)p + 2 * sizeof(void *);
    for (uint32_t i = 0; i < s->block_size - 2 * sizeof(void *); i++)
        if (c[i] != POISON_BYTE)
            hak_fatal("write after free: block %p (size %u) modified at offset %zu", p,
                      s->block_size, (size_t)(i + 2 * sizeof(void *)));
}
#else
void slab_debug_poison(struct slab *s, void *p)
{
    (void)s;
    (void)p;
}
void slab_debug_check_poison(struct slab *s, void *p)
{
    (void)s;
    (void)p;
}
bool slab_debug_poison_intact(struct slab *s, void *p)
{
    (void)s;
    (void)p;
    return true;
}
#endif
