/* heap.c - thread heaps: the refill path (drain the current slab -> the
 * ring of owned slabs -> adopt an abandoned slab -> fresh slab), frees
 * from non-owner threads, claiming parked slabs, and giving every slab up
 * at thread exit so other threads can adopt it. */
#include "internal.h"

#include "heap.h"

#include "diag.h"
#include "harden.h"
#include "lock.h"
#include "os_pages.h"
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/* The sentinel "current slab": no free blocks and nothing to carve. */
static struct slab sentinel_slab;

struct heap heap_empty = {
    .current = {[0 ... SIZE_CLASS_COUNT - 1] = &sentinel_slab},
    .tiny = {[0 ... SIZE_CLASS_TINY_MAX / MIN_ALIGN] = &sentinel_slab},
    .id = UINT64_MAX, /* owns nothing: never equal to a slab's owner */
};

__thread struct heap_thread heap_me
    __attribute__((tls_model("initial-exec"))) = {&heap_empty, UINT64_MAX};
/* Set once the thread's heap was retired: what glibc frees after the key
 * destructors ran (__libc_thread_freeres) must not set up a heap that no
 * destructor would ever retire. */
static __thread bool tls_heap_retired __attribute__((tls_model("initial-exec")));
/* While the thread perturbs (heap_perturb_byte), heap_me is heap_empty's
 * and the thread's own heap is set aside here; NULL otherwise. */
static __thread struct heap *tls_heap_set_aside __attribute__((tls_model("initial-exec")));

int heap_perturb_byte;

/* The calling thread's heap, &heap_empty when it has none. */
static struct heap *heap_self(void)
{
    struct heap *h = tls_heap_set_aside;
    return h != NULL ? h : heap_me.heap;
}

/* Slabs whose owner thread exited, per class (LOCK_ABANDONED), and
 * how many there are, readable without the lock. */
static struct slab *abandoned[SIZE_CLASS_COUNT];
static uint32_t abandoned_count[SIZE_CLASS_COUNT];

/* Heap registry and pool (LOCK_HEAPS). */
static struct heap *heaps_live;
static struct heap *heaps_free;
static char *heap_pool_next, *heap_pool_end;
static uint64_t heap_next_id = 1;
static struct heap_counters heaps_retired;
static uint64_t heaps_live_count, heaps_exited_count;
static pthread_key_t heap_key;

#define HEAPS_LOCK (&lock_table[LOCK_HEAPS])
#define ABANDONED_LOCK (&lock_table[LOCK_ABANDONED])
#define HEAP_POOL_BYTES ((size_t)64 << 10)

/* Makes s the current slab of class cls of h, in current[] and, for a
 * tiny class, in every tiny[] index of its sizes. */
static void heap_set_current(struct heap *h, unsigned cls, struct slab *s)
{
    h->current[cls] = s;
    if (size_class_bytes[cls] > SIZE_CLASS_TINY_MAX)
        return;
    unsigned first = cls == 0 ? 0 : size_class_bytes[cls - 1] / MIN_ALIGN + 1;
    for (unsigned i = first; i <= size_class_bytes[cls] / MIN_ALIGN; i++)
        h->tiny[i] = s;
}

/* ---- the abandoned lists (doubly linked, NULL-terminated) ------------- */

static void abandoned_link(struct slab *s)
{
    struct slab **list = &abandoned[s->cls];
    s->prev = NULL;
    s->next = *list;
    if (s->next)
        s->next->prev = s;
    *list = s;
    s->listed = 1;
    owner_add(&abandoned_count[s->cls], 1);
}

static void abandoned_unlink(struct slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        abandoned[s->cls] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->listed = 0;
    owner_add(&abandoned_count[s->cls], (uint32_t)-1);
}

/* ---- statistics ------------------------------------------------------- */

static void counters_merge(struct heap_counters *dst, struct heap_counters *src)
{
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++)
        owner_add(&dst->frees[c], load_relaxed(&src->frees[c]));
    owner_add(&dst->remote_frees, load_relaxed(&src->remote_frees));
    owner_add(&dst->drains, load_relaxed(&src->drains));
    owner_add(&dst->drained, load_relaxed(&src->drained));
    owner_add(&dst->adopted, load_relaxed(&src->adopted));
    owner_add(&dst->reclaimed, load_relaxed(&src->reclaimed));
}

/* ---- owner-side slab operations ---------------------------------------- */

static void heap_drain(struct heap *h, struct slab *s)
{
    uint32_t n = slab_drain(s, h->id);
    if (n) {
        owner_add(&h->c.drains, 1);
        owner_add(&h->c.drained, n);
    }
}

/* Gives s, owned by h and holding no live block, back to its SuperSlab. */
static void heap_release_slab(struct heap *h, struct slab *s)
{
    store_relaxed(&s->owner, 0);
    ss_slab_release(s, h->id);
}

/* Gives up a slab the caller owns (self is its owner id): released when
 * nothing in it is live, else listed as abandoned and parked, so that an
 * allocating thread can adopt it or a freeing thread reclaim it. */
static void heap_abandon_slab(struct slab *s, uint64_t self)
{
    (void)slab_drain(s, self);
    if (DIAG_GUARDS_ON)
        slab_assert_free_list(s);
    if (s->used == 0) {
        ss_slab_release(s, self);
        return;
    }
    lock_acquire(ABANDONED_LOCK);
    /* Listed before parked: whoever claims it after the park finds it on
     * the list and takes it off under this lock. */
    abandoned_link(s);
    while (!slab_try_park(s, self)) {
        (void)slab_drain(s, self);
        if (s->used == 0) {
            abandoned_unlink(s);
            lock_release(ABANDONED_LOCK);
            ss_slab_release(s, self);
            return;
        }
    }
    lock_release(ABANDONED_LOCK);
}

/* Called once the caller's CAS cleared SLAB_PARKED: it owns s now. */
static void heap_claimed(struct slab *s, uint64_t self)
{
    store_relaxed(&s->owner, self);
    if (s->listed) {
        lock_acquire(ABANDONED_LOCK);
        abandoned_unlink(s);
        lock_release(ABANDONED_LOCK);
    }
}

static struct slab *heap_adopt(struct heap *h, unsigned cls)
{
    struct slab *s;
    if (load_relaxed(&abandoned_count[cls]) == 0)
        return NULL;
    lock_acquire(ABANDONED_LOCK);
    for (s = abandoned[cls]; s != NULL; s = s->next) {
        /* A slab whose claim failed was just taken by a freeing thread,
         * which will unlink it once it gets this lock. */
        if (slab_try_claim(s)) {
            abandoned_unlink(s);
            break;
        }
    }
    lock_release(ABANDONED_LOCK);
    if (s == NULL)
        return NULL;
    store_relaxed(&s->owner, h->id);
    owner_add(&h->c.adopted, 1);
    heap_drain(h, s);
    if (DIAG_GUARDS_ON)
        slab_assert_free_list(s);
    return s;
}

/* Bytes of owned slabs a heap keeps per class, besides the current one,
 * before it parks the full ones, oldest first.  A heap with more hands
 * out far more than it frees (a producer, or a thread that allocated and
 * now only waits): blocks other threads free into a slab its owner keeps
 * wait for the owner's next refill of that class, which may never come,
 * while a parked slab is taken over by the first thread that frees into
 * it, which gives it back once it holds no live block.  In bytes, so that
 * a class of big blocks (one or two a slab) keeps no more memory than a
 * class of small ones. */
#define HEAP_OWNED_KEEP_BYTES ((size_t)256 << 10)
/* Slabs a heap keeps per class that it took over by freeing into them
 * (see heap_free_remote) while it does not allocate that class: only its
 * own frees go into them, and what other threads free there waits on
 * their remote stacks for a drain, which only an allocation (or this
 * limit) brings.  A consumer that frees what producers allocate would
 * otherwise collect, and never give back, every slab it once freed into. */
#define HEAP_RECLAIMED_KEEP 2
/* Slabs looked at per refill before a fresh one is taken. */
#define HEAP_SCAN_MAX 16

static void ring_unlink(struct heap *h, struct slab *s);

/* Gives up s, on h's ring: drained, and released if it holds no live
 * block, else parked for the next thread that frees into it. */
static void heap_repark(struct heap *h, struct slab *s)
{
    ring_unlink(h, s);
    for (;;) {
        heap_drain(h, s);
        if (s->used == 0) {
            heap_release_slab(h, s);
            return;
        }
        if (DIAG_GUARDS_ON)
            slab_assert_free_list(s);
        if (slab_try_park(s, h->id))
            return;
    }
}

static void ring_insert_tail(struct heap *h, struct slab *s)
{
    slab_ring_insert_tail(&h->owned[s->cls], s);
    h->owned_count[s->cls]++;
}

static void ring_insert_head(struct heap *h, struct slab *s)
{
    ring_insert_tail(h, s);
    h->owned[s->cls] = s;
}

static void ring_unlink(struct heap *h, struct slab *s)
{
    slab_ring_remove(&h->owned[s->cls], s);
    h->owned_count[s->cls]--;
}

/* A block from s: its free list, else what other threads freed into it,
 * else newly carved blocks. */
static void *heap_take_from(struct heap *h, struct slab *s, size_t size)
{
    void *b = slab_take(s, size);
    if (b != NULL)
        return b;
    heap_drain(h, s);
    if (s->free == NULL && !slab_carve(s))
        return NULL;
    return slab_take(s, size);
}

/* The refill: a block of class cls for a request of size bytes, from
 * *cur, the class's current slab (or the sentinel), else from the ring,
 * an abandoned slab or a fresh one.  *cur becomes the slab the block came
 * from, the next current slab (the sentinel when out of memory); the
 * caller makes it current. */
static void *heap_refill_from(struct heap *h, unsigned cls, size_t size, struct slab **cur)
{
    struct slab *s = *cur;
    void *b;

    if (s != &sentinel_slab) {
        if ((b = heap_take_from(h, s, size)) != NULL)
            return b;
        *cur = &sentinel_slab;
        ring_insert_tail(h, s);
    }
    /* The ring from its oldest end: slabs that local and remote frees have
     * refilled since they were current.  Full ones rotate to the tail. */
    for (unsigned scanned = 0; (s = h->owned[cls]) != NULL && scanned < HEAP_SCAN_MAX; scanned++) {
        if ((b = heap_take_from(h, s, size)) != NULL) {
            ring_unlink(h, s);
            *cur = s;
            return b;
        }
        if (((size_t)h->owned_count[cls] * s->units << SLAB_UNIT_SHIFT) > HEAP_OWNED_KEEP_BYTES) {
            ring_unlink(h, s);
            if (DIAG_GUARDS_ON)
                slab_assert_free_list(s);
            if (!slab_try_park(s, h->id))
                ring_insert_head(h, s); /* a remote free just arrived */
            continue;
        }
        h->owned[cls] = s->next;
    }
    while ((s = heap_adopt(h, cls)) != NULL) {
        if ((b = heap_take_from(h, s, size)) != NULL) {
            *cur = s;
            stats_sample_peak();
            return b;
        }
        ring_insert_tail(h, s);
    }
    s = ss_slab_alloc(cls, h->id, &h->ss_hint);
    if (s == NULL)
        return NULL;
    *cur = s;
    stats_sample_peak();
    slab_carve(s);
    return slab_take(s, size);
}

static void heap_window_close(struct heap *h, unsigned cls);

static NOINLINE void *heap_refill(struct heap *h, unsigned cls, size_t size)
{
    if (h->windows != NULL)
        heap_window_close(h, cls);
    struct slab *s = h->current[cls];
    void *b = heap_refill_from(h, cls, size, &s);
    if (s != h->current[cls])
        heap_set_current(h, cls, s);
    return b;
}

/* ---- sampling windows (see heap.h) ------------------------------------ */

static bool heap_window_is_open(const struct heap *h, unsigned cls)
{
    return h->windows != NULL && h->current[cls] == &h->windows->stand_in[cls];
}

/* The slab behind the open window of class cls, or NULL.  Out of line,
 * so that heap_slab_emptied's first tests, which every free that empties
 * a slab runs, compile as they did without windows. */
static NOINLINE struct slab *heap_window_slab(const struct heap *h, unsigned cls)
{
    return heap_window_is_open(h, cls) ? h->windows->stand_in[cls].next : NULL;
}

/* The fewest blocks a window of a class of blocks up to
 * HEAP_WINDOW_MIN_BLOCK bytes starts with while its slab can carve more:
 * the fast path hands out a window's blocks and the frees go to the slab,
 * so a window only holds what the slab got back during the last one, and
 * a slab that holds few free blocks would send every few allocations to
 * the slow path.  Those blocks are carved at most this many sooner than
 * without profiling: at most 8 KiB per class and thread. */
#define HEAP_WINDOW_MIN 32u
#define HEAP_WINDOW_MIN_BLOCK 256u

/* s's free list, of length blocks, is short for a window: what other
 * threads freed into s joins it, and if that is not enough either, the
 * blocks s carves next.  Returns the list's length. */
static NOINLINE uint32_t heap_window_lengthen(struct heap *h, struct slab *s, uint32_t length)
{
    uint32_t n = slab_drain(s, h->id);
    if (n) {
        owner_add(&h->c.drains, 1);
        owner_add(&h->c.drained, n);
        length += n;
    }
    if (length < HEAP_WINDOW_MIN && slab_carve(s))
        length = slab_carved_count(s) - s->used;
    return length;
}

/* Gives the window w over s (its stand-in describing s) at most want
 * blocks of s's free list, cut from it: out, from s's view, until they
 * come back.  The count equation gives the list's length, so the whole
 * list moves without a walk; only a longer one is cut.  s may be NULL
 * (an empty window). */
ALWAYS_INLINE void heap_window_fill(struct heap *h, struct slab *w, struct slab *s, uint64_t want)
{
    void **head = NULL;
    uint32_t n = 0;
    if (s != NULL && want > 0) {
        uint32_t length = slab_carved_count(s) - s->used;
        if (unlikely(length < HEAP_WINDOW_MIN) && want > length &&
            s->block_size <= HEAP_WINDOW_MIN_BLOCK)
            length = heap_window_lengthen(h, s, length);
        head = s->free;
        if (head != NULL && want >= length && length <= s->capacity) {
            n = length;
            s->free = NULL;
        } else if (head != NULL) {
            void **tail = head;
            for (n = 1; n < want && slab_next(tail) != NULL; n++) {
                /* A link to no block of the slab: a write after free. */
                if (unlikely(!slab_is_carved_block(s, slab_next(tail))))
                    slab_bad_free_block(s, tail);
                tail = slab_next(tail);
            }
            s->free = slab_next(tail);
            slab_set_link(tail, NULL);
        }
        owner_store(&s->used, s->used + n);
        owner_add(&s->allocs, n);
        if (DIAG_GUARDS_ON) {
            s->free_count -= n;
            slab_assert_counts(s);
        }
    }
    w->free = head;
    /* capacity - used, the blocks the window holds, and requested are read
     * by hak_stats (heap_totals_read). */
    owner_store(&w->capacity, (uint16_t)n);
    /* `carved` makes the stand-in's count equation hold. */
    w->carved = (char *)((uintptr_t)w->start + (uintptr_t)n * w->block_size);
    owner_store(&w->used, 0);
    w->free_count = n;
    owner_store(&w->requested, 0);
}

/* Gives the window of class cls the next blocks of s (the sentinel: none,
 * so that the next allocation comes back) without making it current. */
static void heap_window_start(struct heap *h, unsigned cls, struct slab *s)
{
    struct slab *w = &h->windows->stand_in[cls];
    uint64_t want = h->windows->left[cls];
    if (s == &sentinel_slab)
        s = NULL;
    else if (want > 0)
        heap_drain(h, s); /* the longer the window, the fewer slow paths */
    /* The stand-in describes the real slab's blocks, so the fast path's
     * debug-guard checks hold.  It still does when it last stood in for
     * s (closing leaves `next`): a slab's start and class give the rest,
     * even if it was released and set up again meanwhile. */
    if (w->next != s || w->cls != cls) {
        w->block_size = s ? s->block_size : 0;
        w->block_inv = s ? s->block_inv : 0;
        w->block_mask = s ? s->block_mask : 0;
        w->block_shift = s ? s->block_shift : 0;
        w->span_limit = s ? s->span_limit : 0;
        w->start = s ? s->start : NULL;
        w->cls = (uint8_t)cls;
        w->next = s;
    }
    heap_window_fill(h, w, s, want);
}

/* Lets the fast path of class cls hand out at most left[cls] blocks of
 * h's current slab (h entered, h->windows set, no window open). */
static void heap_window_open(struct heap *h, unsigned cls)
{
    DIAG_ASSERT(!heap_window_is_open(h, cls), "heap %llu: window of class %u already open",
                (unsigned long long)h->id, cls);
    heap_window_start(h, cls, h->current[cls]);
    heap_set_current(h, cls, &h->windows->stand_in[cls]);
}

static void heap_window_close(struct heap *h, unsigned cls)
{
    if (!heap_window_is_open(h, cls))
        return;
    struct slab *w = &h->windows->stand_in[cls], *s = w->next;
    void **head = w->free, **tail = head;
    uint32_t rest = 0;
    /* Counted by walking, not from `used`: in a fork child the window's
     * thread may have vanished in the middle of a pop. */
    if (head != NULL) {
        if (unlikely(!slab_free_words_intact(head)))
            slab_bad_free_block(s, head);
        for (rest = 1; slab_next(tail) != NULL && rest < w->capacity; rest++)
            tail = slab_next(tail);
    }
    uint64_t handed = w->capacity - rest, *left = &h->windows->left[cls];
    *left = *left > handed ? *left - handed : 0;
    w->free = NULL;
    owner_store(&w->capacity, 0); /* holds nothing now (heap_totals_read) */
    /* s is still h's and live (heap_slab_emptied leaves it alone), and
     * on no list: it is the current slab again. */
    heap_set_current(h, cls, s != NULL ? s : &sentinel_slab);
    if (s == NULL)
        return;
    if (rest != 0) {
        slab_set_link(tail, s->free);
        s->free = head;
        owner_store(&s->used, s->used - rest);
        owner_add(&s->allocs, -(counter_t)rest);
        if (DIAG_GUARDS_ON)
            s->free_count += rest;
    }
    owner_add(&s->requested, w->requested);
    owner_store(&w->requested, 0);
    if (DIAG_GUARDS_ON)
        slab_assert_counts(s);
}

/* The open window of class cls ran dry: every block it held was handed
 * out. */
static bool heap_window_dry(const struct heap *h, unsigned cls)
{
    const struct slab *w = &h->windows->stand_in[cls];
    return h->current[cls] == w && w->free == NULL;
}

void *heap_window_renew(struct heap *h, unsigned cls, size_t size)
{
    struct slab *w = &h->windows->stand_in[cls], *s = w->next;
    uint64_t *left = &h->windows->left[cls];
    /* Only a window run dry short of the sampled allocation. */
    if (!heap_window_dry(h, cls) || s == NULL || *left <= w->capacity)
        return NULL;
    h->busy = 1; /* see heap_fork_child */
    /* From what the slab got back since, from this thread or others, or
     * has still to carve: what the refill would take from it. */
    void *b = heap_take_from(h, s, size);
    if (b != NULL) {
        *left -= (uint64_t)w->capacity + 1;
        owner_add(&s->requested, w->requested);
        heap_window_fill(h, w, s, *left);
    }
    h->busy = 0;
    return b;
}

bool heap_window_sample_next(const struct heap *h, unsigned cls)
{
    if (heap_window_is_open(h, cls))
        return heap_window_dry(h, cls) &&
               h->windows->left[cls] == h->windows->stand_in[cls].capacity;
    return h->windows->left[cls] == 0;
}

void heap_window_rearm(struct heap *h, unsigned cls, uint64_t left)
{
    DIAG_ASSERT(heap_window_sample_next(h, cls), "heap %llu: window of class %u rearmed early",
                (unsigned long long)h->id, cls);
    h->windows->left[cls] = left;
    if (!heap_window_is_open(h, cls)) {
        heap_window_open(h, cls);
        return;
    }
    struct slab *w = &h->windows->stand_in[cls], *s = w->next;
    if (s == NULL)
        return; /* stays empty: the next allocation comes back */
    owner_add(&s->requested, w->requested);
    if (s->free == NULL)
        heap_drain(h, s);
    heap_window_fill(h, w, s, left);
}

void *heap_window_refill(struct heap *h, unsigned cls, size_t size)
{
    struct slab *w = &h->windows->stand_in[cls], *s = h->current[cls];
    uint64_t *left = &h->windows->left[cls];
    bool open = s == w;
    if (open && unlikely(w->free != NULL)) {
        /* Not dry: a caller that skipped the fast path (a realloc that
         * shrinks), or a bad block in front, which the close reports. */
        heap_window_close(h, cls);
        s = h->current[cls];
        open = false;
    } else if (open) {
        /* Closed as heap_window_close would, but still current: the refill
         * does not read current[], and if it finds a block the window
         * opens again over its slab with no other store to tiny[]. */
        *left = *left > w->capacity ? *left - w->capacity : 0;
        s = w->next != NULL ? w->next : &sentinel_slab;
        if (w->next != NULL)
            owner_add(&s->requested, w->requested);
        owner_store(&w->requested, 0);
    }
    if (*left > 0)
        --*left; /* this allocation */
    void *b = heap_refill_from(h, cls, size, &s);
    if (b == NULL) {
        owner_store(&w->capacity, 0);
        heap_set_current(h, cls, s);
        return NULL;
    }
    heap_window_start(h, cls, s);
    if (!open)
        heap_set_current(h, cls, w);
    return b;
}

static void heap_windows_close(struct heap *h)
{
    if (h->windows == NULL)
        return;
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++)
        heap_window_close(h, c);
}

/* ---- thread set-up and exit -------------------------------------------- */

static struct heap *heap_create(void)
{
    struct heap *h;
    lock_acquire(HEAPS_LOCK);
    if ((h = heaps_free) != NULL) {
        heaps_free = h->reg_next;
    } else {
        if (heap_pool_next == NULL || heap_pool_next + sizeof(struct heap) > heap_pool_end) {
            char *pool = os_map_aligned(HEAP_POOL_BYTES, OS_PAGE_SIZE);
            if (pool == NULL) {
                lock_release(HEAPS_LOCK);
                return NULL;
            }
            heap_pool_next = pool;
            heap_pool_end = pool + HEAP_POOL_BYTES;
        }
        h = (struct heap *)heap_pool_next;
        heap_pool_next += align_up(sizeof(struct heap), CACHELINE);
    }
    struct heap_windows *windows = h->windows; /* closed when h was retired */
    memset(h, 0, sizeof *h);
    h->windows = windows;
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++)
        heap_set_current(h, c, &sentinel_slab);
    h->id = heap_next_id++;
    h->reg_next = heaps_live;
    if (heaps_live)
        heaps_live->reg_prev = h;
    heaps_live = h;
    heaps_live_count++;
    lock_release(HEAPS_LOCK);
    return h;
}

static NOINLINE struct heap *heap_thread_init(void)
{
    struct heap *h = heap_create();
    if (h == NULL)
        return NULL;
    heap_me.heap = h;
    heap_me.id = h->id;
    /* The key's destructor gives the heap up when the thread exits. */
    pthread_setspecific(heap_key, h);
    DIAG_LOG("thread heap %llu created", (unsigned long long)h->id);
    return h;
}

/* Abandons every slab of h and retires it.  The caller is h's thread, or
 * the only thread left (a fork child). */
static void heap_retire(struct heap *h)
{
    heap_windows_close(h);
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++) {
        struct slab *s = h->current[c];
        heap_set_current(h, c, &sentinel_slab);
        if (s != &sentinel_slab)
            heap_abandon_slab(s, h->id);
        while ((s = h->owned[c]) != NULL) {
            ring_unlink(h, s);
            heap_abandon_slab(s, h->id);
        }
    }
    lock_acquire(HEAPS_LOCK);
    counters_merge(&heaps_retired, &h->c);
    if (h->reg_prev)
        h->reg_prev->reg_next = h->reg_next;
    else
        heaps_live = h->reg_next;
    if (h->reg_next)
        h->reg_next->reg_prev = h->reg_prev;
    heaps_live_count--;
    heaps_exited_count++;
    /* The struct is reused by a later thread under a new id, so nothing
     * it owned can be mistaken for that thread's. */
    h->id = UINT64_MAX;
    h->reg_prev = NULL;
    h->reg_next = heaps_free;
    heaps_free = h;
    lock_release(HEAPS_LOCK);
}

void heap_thread_exit(void *arg)
{
    struct heap *h = arg;
    DIAG_LOG("thread heap %llu exits", (unsigned long long)h->id);
    /* Later frees from this thread's remaining destructors start over on
     * the empty heap (and re-register the key if they need a heap). */
    heap_me.heap = &heap_empty;
    heap_me.id = heap_empty.id;
    tls_heap_set_aside = NULL;
    tls_heap_retired = true;
    h->busy = 1;
    heap_retire(h);
}

static bool heap_recount(struct heap *h)
{
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++) {
        if (h->current[c] != &sentinel_slab && !slab_recount(h->current[c]))
            return false;
        struct slab *s = h->owned[c];
        for (uint32_t i = 0; s != NULL && i < h->owned_count[c]; i++, s = s->next)
            if (!slab_recount(s))
                return false;
    }
    return true;
}

void heap_fork_child(void)
{
    /* Only the forking thread survives.  The heaps of the others are given
     * up on their behalf, unless their thread was in a slow path editing
     * its lists: that heap is left alone, its memory lost to the child but
     * nothing corrupted. */
    struct heap *self = heap_self(), *h, *next;
    for (h = heaps_live; h != NULL; h = next) {
        next = h->reg_next;
        if (h == self || h->busy)
            continue;
        heap_windows_close(h);
        if (heap_recount(h))
            heap_retire(h);
    }
}

void heap_process_init(void)
{
    if (pthread_key_create(&heap_key, heap_thread_exit) != 0)
        diag_fatal("cannot create the thread-exit key");
}

/* ---- the slow paths of malloc and free --------------------------------- */

/* An allocation by a thread whose heap was already retired: served by a
 * heap of its own, retired at once (its slabs are abandoned, so nothing
 * stays with a heap that no thread will ever use). */
static COLD void *heap_alloc_after_exit(size_t size, unsigned cls)
{
    struct heap *h = heap_create();
    void *b = NULL;
    if (h != NULL) {
        h->busy = 1; /* from before the refill: see heap_fork_child */
        b = heap_refill(h, cls, size);
        heap_retire(h);
    }
    if (b == NULL)
        errno = ENOMEM;
    heap_perturb_new_block(b, size);
    return b;
}

/* Starts or stops the calling thread's perturbing, whose heap is h, as
 * heap_perturb_byte says; returns the byte. */
static int heap_perturb_follow(struct heap *h)
{
    int byte = load_relaxed(&heap_perturb_byte);
    if (unlikely((byte != 0) != (tls_heap_set_aside != NULL))) {
        tls_heap_set_aside = byte != 0 ? h : NULL;
        heap_me.heap = byte != 0 ? &heap_empty : h;
        heap_me.id = heap_me.heap->id;
    }
    return byte;
}

void heap_set_perturb(int value)
{
    store_relaxed(&heap_perturb_byte, value & 0xff);
    struct heap *h = heap_self();
    if (h != &heap_empty)
        heap_perturb_follow(h);
}

void *heap_alloc_slow(size_t size)
{
    /* The hardened library: malloc(0) gets a block that cannot be read or
     * written.  Its fast path sends size 0 here: the class of HARDEN_TAIL
     * bytes serves no other request, so its current slab stays the
     * sentinel. */
    if (HARDEN_ON && size == 0) {
        void *z = harden_zero_alloc();
        if (z != NULL)
            return z;
        size = 1; /* the reserved range is used up: an ordinary block */
    }
    unsigned cls = size_class_of(size + HARDEN_TAIL);
    struct heap *h = heap_me.heap;
    /* A free list head slab_take_or_null refused is reported by the refill,
     * whose slab_take looks at the same current slab first. */
    if (unlikely(h == &heap_empty)) {
        if (tls_heap_set_aside != NULL)
            h = tls_heap_set_aside;
        else if (tls_heap_retired)
            return heap_alloc_after_exit(size, cls);
        else if ((h = heap_thread_init()) == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    int perturb = heap_perturb_follow(h);
    h->busy = 1;
    void *b = heap_refill(h, cls, size);
    h->busy = 0;
    if (unlikely(b == NULL)) {
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(perturb != 0))
        memset(b, perturb ^ 0xff, size);
    return b;
}

struct heap *heap_enter(void)
{
    struct heap *h = heap_me.heap;
    /* Perturbing, or to start or stop it: heap_alloc_slow's business. */
    if (unlikely(load_relaxed(&heap_perturb_byte) != 0 || tls_heap_set_aside != NULL))
        return NULL;
    if (unlikely(h == &heap_empty) && (tls_heap_retired || (h = heap_thread_init()) == NULL))
        return NULL;
    h->busy = 1;
    return h;
}

void heap_free_invalid(void *p, const char *fn) { diag_invalid_pointer(fn, p); }

/* p is on the list of the open window whose blocks come from s: free
 * too, though on no list of s. */
static bool heap_window_holds(struct slab *s, const void *p)
{
    struct heap *h = heap_self();
    if (likely(h->windows == NULL) || heap_window_slab(h, s->cls) != s)
        return false;
    const struct slab *w = &h->windows->stand_in[s->cls];
    uint32_t n = 0;
    for (void **b = w->free; b != NULL && n <= w->capacity; b = slab_next(b), n++)
        if (b == p)
            return true;
    return false;
}

void heap_free_keyed(struct slab *s, void *p, const char *fn)
{
    if (HARDEN_ON || slab_owner_holds(s, p) || heap_window_holds(s, p))
        diag_fatal("%s(): double free of %p", fn, p);
    heap_free_local(s, p);
}

#ifdef HAKMEM_HARDENED
void heap_free_out_of_bounds(struct slab *s, void *p, const char *fn) { slab_bad_bounds(s, p, fn); }
#endif

/* Empty current slabs of bigger blocks a heap keeps: at most
 * HEAP_KEPT_EMPTY of them (heap.kept_empty), each of at most this span.
 * A program that allocates and frees one buffer of a few dozen KiB in a
 * loop keeps its slab, instead of giving it back and taking it again at
 * every turn; a thread keeps no more than this much empty memory of such
 * classes, whatever it once allocated there. */
#define HEAP_KEPT_EMPTY (sizeof heap_empty.kept_empty / sizeof heap_empty.kept_empty[0])
#define HEAP_KEPT_EMPTY_SPAN ((size_t)256 << 10)
/* The block size up to which an empty current slab always stays. */
#define HEAP_CURRENT_KEEP_BLOCK 16384u

/* True when the heap keeps s, its empty current slab of several units.
 * The one it stops keeping goes back if it is still an empty current
 * slab of the heap. */
static bool heap_keep_empty(struct heap *h, struct slab *s)
{
    if (((size_t)s->units << SLAB_UNIT_SHIFT) > HEAP_KEPT_EMPTY_SPAN)
        return false;
    struct slab *last = h->kept_empty[HEAP_KEPT_EMPTY - 1];
    for (unsigned i = 0; i < HEAP_KEPT_EMPTY; i++)
        if (h->kept_empty[i] == s)
            return true;
    for (unsigned i = HEAP_KEPT_EMPTY - 1; i > 0; i--)
        h->kept_empty[i] = h->kept_empty[i - 1];
    h->kept_empty[0] = s;
    if (last != NULL && h->current[last->cls] == last && last->used == 0) {
        heap_set_current(h, last->cls, &sentinel_slab);
        heap_release_slab(h, last);
    }
    return true;
}

/* heap_slab_emptied's cases past its first test: out of line, so that
 * the common one (an emptied current slab stays) saves no registers. */
static NOINLINE void heap_slab_emptied_slow(struct heap *h, struct slab *s)
{
    bool current = s == h->current[s->cls];
    size_t span = (size_t)s->units << SLAB_UNIT_SHIFT;
    /* The current slab of a class of blocks up to 16 KiB stays: the next
     * allocation of the class would want it back.  So does one of the
     * ring while the class's ring is within its budget: a program that
     * allocates and frees in bursts finds its slabs, carved, at the next
     * burst. */
    if (current ? s->block_size <= HEAP_CURRENT_KEEP_BLOCK
                : (size_t)h->owned_count[s->cls] * span <= HEAP_OWNED_KEEP_BYTES) {
        if (unlikely(s->inherited))
            slab_forget_inherited(s);
        return;
    }
    h->busy = 1;
    if (current) {
        if (heap_keep_empty(h, s)) {
            if (unlikely(s->inherited))
                slab_forget_inherited(s);
            h->busy = 0;
            return;
        }
        heap_set_current(h, s->cls, &sentinel_slab);
    } else {
        /* Nor the slab behind an open window (see heap.h), on no ring:
         * closing the window makes it the current slab again. */
        if (unlikely(h->windows != NULL) && heap_window_slab(h, s->cls) == s) {
            h->busy = 0;
            return;
        }
        ring_unlink(h, s);
    }
    heap_release_slab(h, s);
    h->busy = 0;
}

void heap_slab_emptied(struct slab *s)
{
    struct heap *h = heap_me.heap;
    if (s == h->current[s->cls] && s->block_size <= HEAP_CURRENT_KEEP_BLOCK && !s->inherited)
        return;
    heap_slab_emptied_slow(h, s);
}

/* Drains s (owned by h); when nothing in it is live, gives it back to its
 * SuperSlab and returns its bytes, else 0. */
static size_t heap_release_if_empty(struct heap *h, struct slab *s)
{
    heap_drain(h, s);
    if (s->used != 0)
        return 0;
    size_t bytes = (size_t)s->units << SLAB_UNIT_SHIFT;
    heap_release_slab(h, s);
    return bytes;
}

size_t heap_trim(void)
{
    struct heap *h = heap_self();
    size_t released = 0;
    if (h == &heap_empty)
        return 0;
    h->busy = 1;
    heap_windows_close(h);
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++) {
        struct slab *s = h->current[c];
        if (s != &sentinel_slab) {
            size_t bytes = heap_release_if_empty(h, s);
            if (bytes != 0)
                heap_set_current(h, c, &sentinel_slab);
            released += bytes;
        }
        /* Each slab of the ring once, from the oldest; kept ones go back
         * at the tail, so the order is unchanged. */
        for (uint32_t i = h->owned_count[c]; i > 0; i--) {
            s = h->owned[c];
            ring_unlink(h, s);
            size_t bytes = heap_release_if_empty(h, s);
            if (bytes == 0)
                ring_insert_tail(h, s);
            released += bytes;
        }
    }
    h->busy = 0;
    return released;
}

#ifdef HAKMEM_TEST_UNOWNED_DRAIN
/* Test builds only: the bug the ownership protocol forbids (slab.h), a
 * thread draining a slab it does not own, so the race test can show that
 * it catches it. */
static void test_drain_unowned(struct slab *s)
{
    uintptr_t w = load_acquire(&s->remote);
    if (w == 0 || (w & SLAB_PARKED))
        return;
    if (!cas_strong(&s->remote, &w, 0, __ATOMIC_ACQUIRE))
        return;
    void **head = SLAB_REMOTE_HEAD(w), **tail = head;
    while (slab_next(tail) != NULL)
        tail = slab_next(tail);
    slab_set_link(tail, s->free); /* races with the owner's own pops and pushes */
    s->free = head;
    owner_store(&s->used, s->used - SLAB_REMOTE_COUNT(w));
    s->free_count += SLAB_REMOTE_COUNT(w);
}
#endif

/* A free by a thread with no heap to count it in (retired, or out of
 * memory): counted with the retired heaps. */
static COLD void heap_count_orphan_free(unsigned cls)
{
    lock_acquire(HEAPS_LOCK);
    owner_add(&heaps_retired.frees[cls], 1);
    lock_release(HEAPS_LOCK);
}

/* s, just claimed by h on a free, joins h's ring.  A thread that does not
 * allocate this class only ever takes slabs of it this way: it keeps a
 * few, and gives the oldest back. */
static void heap_keep_reclaimed(struct heap *h, struct slab *s)
{
    if (h->current[s->cls] == &sentinel_slab && h->owned_count[s->cls] >= HEAP_RECLAIMED_KEEP)
        heap_repark(h, h->owned[s->cls]->prev);
    ring_insert_head(h, s);
}

/* A free of p, a carved block of s, that h (NULL: no heap) does not own:
 * onto s's remote stack. */
static void heap_free_foreign(struct heap *h, struct slab *s, void *p, const char *fn)
{
    /* The key: freed already (see heap_free_small), unless a coincidence.
     * (The hardened library's key is never one: heap_free_remote aborted.) */
    if (slab_holds_free_words(p) && slab_other_holds(s, p))
        diag_fatal("%s(): double free of %p", fn, p);
    /* A parked slab with nothing on its remote stack (most often parked
     * by this very thread): claimed with one CAS, and p freed as its owner
     * frees, not pushed and drained; nothing came through the remote
     * stack, so its release need not walk its lists (ss_slab_release). */
    if (h != NULL && h == heap_me.heap && load_relaxed(&s->remote) == SLAB_PARKED) {
        h->busy = 1;
        if (slab_try_claim(s)) {
            heap_claimed(s, h->id);
            owner_add(&h->c.reclaimed, 1);
            heap_keep_reclaimed(h, s);
            /* The key test above may not see the owner's list (see
             * slab_other_holds); the new owner's walk does. */
            if (slab_holds_free_words(p))
                heap_free_keyed(s, p, fn);
            else
                heap_free_local(s, p);
            h->busy = 0;
            return;
        }
        h->busy = 0;
    }
    if (DIAG_GUARDS_ON)
        slab_debug_poison(s, p);
    slab_mark_remote_free(p);
    if (h != NULL) {
        owner_add(&h->c.frees[s->cls], 1);
        h->busy = 1; /* from before a push that may claim s (fork) */
    } else {
        heap_count_orphan_free(s->cls);
    }
#ifdef HAKMEM_TEST_UNOWNED_DRAIN
    test_drain_unowned(s);
#endif
    if (likely(!slab_remote_push(s, p, fn))) {
        if (h != NULL) {
            owner_add(&h->c.remote_frees, 1);
            h->busy = 0;
        }
        return;
    }

    /* The push cleared SLAB_PARKED: this thread owns s now (reclaim on
     * free).  Claim first, then drain. */
    if (h == NULL) {
        heap_claimed(s, 0);
        heap_abandon_slab(s, 0);
        return;
    }
    heap_claimed(s, h->id);
    owner_add(&h->c.reclaimed, 1);
    heap_drain(h, s);
    if (DIAG_GUARDS_ON)
        slab_assert_free_list(s);
    if (s->used == 0) {
        heap_release_slab(h, s);
    } else {
        heap_keep_reclaimed(h, s);
    }
    h->busy = 0;
}

/* A free while perturbing: p, a carved block of s, is filled with the
 * perturb byte past its link and key (debug-guard builds poison it
 * instead, and check the poison when it is handed out again), then freed
 * as the thread's own heap h would: locally, as heap_free_small does
 * once the owner check passed, or onto the remote stack. */
static NOINLINE void heap_free_perturbed(struct heap *h, struct slab *s, void *p, const char *fn)
{
    int byte = heap_perturb_follow(h);
    /* (The hardened library keeps the canary in the last word: the free
     * of the block after checks it.) */
    size_t keep = HARDEN_ON ? sizeof(uint64_t) : 0;
    if (byte != 0 && !DIAG_GUARDS_ON)
        memset((char *)p + 2 * sizeof(void *), byte, s->block_size - 2 * sizeof(void *) - keep);
    if (slab_owner(s) != h->id) {
        heap_free_foreign(h, s, p, fn);
        return;
    }
    /* heap_me names the thread's own heap meanwhile: heap_slab_emptied
     * reads it. */
    struct heap_thread perturbing = heap_me;
    heap_me = (struct heap_thread){h, h->id};
    if (slab_holds_free_words(p))
        heap_free_keyed(s, p, fn);
    else
        heap_free_local(s, p);
    heap_me = perturbing;
}

void heap_free_remote(struct heap *h, struct slab *s, void *p, const char *fn)
{
    /* The fast path left the span out; and a block past `carved` was
     * never handed out. */
    if (unlikely(!slab_is_carved_block(s, p)))
        diag_invalid_pointer(fn, p);
    /* The hardened library checks p before a perturbing free fills it: a
     * double free (its free words are secret, never a coincidence), then
     * its bounds. */
    if (HARDEN_ON && slab_holds_free_words(p))
        diag_fatal("%s(): double free of %p", fn, p);
    if (HARDEN_ON && !slab_bounds_intact(s, p, slab_block_scaled(s, p)))
        slab_bad_bounds(s, p, fn);
    if (unlikely(h == &heap_empty)) {
        if (tls_heap_set_aside != NULL) {
            heap_free_perturbed(tls_heap_set_aside, s, p, fn);
            return;
        }
        h = tls_heap_retired ? NULL : heap_thread_init(); /* NULL: handled below */
    }
    if (unlikely(load_relaxed(&heap_perturb_byte) != 0) && h != NULL) {
        heap_free_perturbed(h, s, p, fn);
        return;
    }
    heap_free_foreign(h, s, p, fn);
}

/* ---- statistics and checking ------------------------------------------- */

void heap_totals_read(struct heap_totals *t)
{
    struct heap_counters sum;
    memset(&sum, 0, sizeof sum);
    lock_acquire(HEAPS_LOCK);
    counters_merge(&sum, &heaps_retired);
    memset(t->window_held, 0, sizeof t->window_held);
    t->window_requested = 0;
    for (struct heap *h = heaps_live; h != NULL; h = h->reg_next) {
        counters_merge(&sum, &h->c);
        const struct heap_windows *wins = load_acquire(&h->windows);
        for (unsigned c = 0; wins != NULL && c < SIZE_CLASS_COUNT; c++) {
            /* Written by the heap's thread meanwhile: a moment's figures. */
            const struct slab *w = &wins->stand_in[c];
            uint32_t held = load_relaxed(&w->capacity), used = load_relaxed(&w->used);
            t->window_held[c] += held > used ? held - used : 0;
            t->window_requested += load_relaxed(&w->requested);
        }
    }
    t->threads_live = heaps_live_count;
    t->threads_exited = heaps_exited_count;
    lock_release(HEAPS_LOCK);
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++)
        t->frees[c] = load_relaxed(&sum.frees[c]);
    t->remote_frees = load_relaxed(&sum.remote_frees);
    t->drains = load_relaxed(&sum.drains);
    t->drained = load_relaxed(&sum.drained);
    t->adopted = load_relaxed(&sum.adopted);
    t->reclaimed = load_relaxed(&sum.reclaimed);
}

static int heap_check_slab(struct heap *h, struct slab *s, unsigned cls)
{
    if (chunk_kind_of(s) != CHUNK_SUPERSLAB || ss_of(s)->h.magic != SS_MAGIC) {
        diag_report("hak_check: slab %p of heap %llu is not in a SuperSlab", (void *)s,
                    (unsigned long long)h->id);
        return 1;
    }
    if (s->cls != cls || s->block_size != size_class_bytes[cls] || slab_owner(s) != h->id ||
        s->used > s->capacity) {
        diag_report("hak_check: slab %p: class %u/%u, owner %llu/%llu, used %u of %u", (void *)s,
                    s->cls, cls, (unsigned long long)slab_owner(s), (unsigned long long)h->id,
                    s->used, s->capacity);
        return 1;
    }
    void *bad = NULL;
    uint32_t n = slab_free_list_length(s, &bad), carved = slab_carved_count(s);
    if (n == SLAB_LIST_BAD && bad != NULL) {
        diag_report("hak_check: slab %p: bad free list entry %p", (void *)s, bad);
        return 1;
    }
    if (n == SLAB_LIST_BAD)
        n = carved + 1; /* a cycle: more than the carved blocks */
    if (n > carved || s->used > carved - n) {
        diag_report("hak_check: slab %p: %u free + %u used > %u carved", (void *)s, n, s->used,
                    carved);
        return 1;
    }
    return 0;
}

int heap_check_own(void)
{
    struct heap *h = heap_self();
    int problems = 0;
    if (h == &heap_empty)
        return 0;
    h->busy = 1;
    heap_windows_close(h);
    h->busy = 0;
    for (unsigned c = 0; c < SIZE_CLASS_COUNT; c++) {
        if (h->current[c] != &sentinel_slab)
            problems += heap_check_slab(h, h->current[c], c);
        struct slab *s = h->owned[c];
        for (uint32_t i = 0; s != NULL && i < h->owned_count[c]; i++, s = s->next)
            problems += heap_check_slab(h, s, c);
    }
    for (unsigned i = 0; i <= SIZE_CLASS_TINY_MAX / MIN_ALIGN; i++)
        if (h->tiny[i] != h->current[size_class_tiny_index[i]]) {
            diag_report("hak_check: heap %llu: tiny slab %u is %p, not class %u's current %p",
                        (unsigned long long)h->id, i, (void *)h->tiny[i], size_class_tiny_index[i],
                        (void *)h->current[size_class_tiny_index[i]]);
            problems++;
        }
    return problems;
}
