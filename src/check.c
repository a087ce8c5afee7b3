/* check.c - hak_check(): validates every SuperSlab's metadata and the
 * calling thread's own slabs without stopping other threads. */
#include "internal.h"

#include "diag.h"
#include "hakmem.h"
#include "heap.h"
#include "size_class.h"
#include "superslab.h"

struct check_state {
    int problems;
};

static void check_superslab(struct superslab *ss, void *arg)
{
    struct check_state *cs = arg;
    if (ss->h.magic != SS_MAGIC || chunk_kind_of(ss) != CHUNK_SUPERSLAB) {
        diag_report("hak_check: SuperSlab %p has a bad magic number or is not registered",
                    (void *)ss);
        cs->problems++;
        return;
    }
    if ((ss->h.free_units & 1u) || ss->slabs[0].head != &ss->slabs[0] ||
        ss->slabs[0].span_limit != 0) {
        diag_report("hak_check: SuperSlab %p: header unit marked free or holding a slab",
                    (void *)ss);
        cs->problems++;
    }
    for (unsigned u = 1; u < SS_SLAB_UNITS;) {
        struct slab *s = &ss->slabs[u];
        bool unit_free = (ss->h.free_units >> u) & 1u;
        if (unit_free) {
            if (s->block_size != 0 || s->head != s || s->span_limit != 0) {
                diag_report("hak_check: SuperSlab %p unit %u is free but has metadata", (void *)ss,
                            u);
                cs->problems++;
            }
            u++;
            continue;
        }
        if (s->head != s || s->cls >= SIZE_CLASS_COUNT ||
            s->block_size != size_class_bytes[s->cls] || s->units != size_class_units[s->cls] ||
            u + s->units > SS_UNITS || s->start != (char *)ss + ((size_t)u << SLAB_UNIT_SHIFT) ||
            s->capacity != ((size_t)s->units << SLAB_UNIT_SHIFT) / s->block_size) {
            diag_report("hak_check: SuperSlab %p unit %u: inconsistent slab head", (void *)ss, u);
            cs->problems++;
            u++;
            continue;
        }
        for (unsigned i = 1; i < s->units; i++) {
            const struct slab *t = &ss->slabs[u + i];
            if (t->head != s || ((ss->h.free_units >> (u + i)) & 1u)) {
                diag_report("hak_check: SuperSlab %p unit %u: bad span link", (void *)ss, u + i);
                cs->problems++;
            }
        }
        u += s->units;
    }
}

HAK_API int hak_check(void)
{
    struct check_state cs = {0};
    ss_for_each(check_superslab, &cs);
    cs.problems += heap_check_own();
    return cs.problems ? -1 : 0;
}
