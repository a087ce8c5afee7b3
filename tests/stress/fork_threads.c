/* fork_threads.c - fork while other threads allocate and free: the
 * child, left with only the forking thread and the others' heaps
 * half-used, must be able to allocate and free small and large blocks,
 * free blocks the vanished threads made, pass hak_check(), and exec a
 * program.  Repeated many times; the parent checks every exit status.
 *
 * Two phases of that: "mixed" (workers pass blocks of all sizes through
 * shared slots) and "tight" (workers do nothing but malloc+free of one
 * size, so a fork often lands inside the lock-free fast path, and the
 * child allocates that size until it adopts the vanished threads' slabs,
 * then checks them).
 *
 * Usage: fork_threads [forks]: forks in the mixed phase, four times that
 * in the tight one (default 40, the make check form; the tight phase needs
 * more forks to hit its window, a few instructions wide, in every build). */
#define _GNU_SOURCE
#include "../test_util.h"

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>

#define NTHREADS 4
#define NSLOTS 512

struct slot {
    pthread_mutex_t lock;
    void *p;
    size_t size;
    uint64_t tag;
};
static struct slot slots[NSLOTS];
static atomic_int stop;
static atomic_uint_fast64_t worker_ops;

static size_t pick_size(uint64_t *rng)
{
    uint64_t r = test_rand(rng);
    switch (r % 16) {
    case 0: return (size_t)(2 << 20) + (r >> 8) % 65536; /* large: its own mapping */
    case 1:
    case 2: return 1024 + (r >> 8) % 60000;
    default: return 16 + (r >> 8) % 500;
    }
}

/* Stamps only the first and last 256 bytes: large blocks stay cheap. */
static void stamp(void *p, size_t size, uint64_t tag) { test_fill_ends(p, size, 256, tag); }

static int stamp_ok(const void *p, size_t size, uint64_t tag)
{
    return test_verify_ends(p, size, 256, tag) == SIZE_MAX;
}

#define TIGHT_SIZE 48

static void *tight_worker(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 64; i++) {
            volatile char *p = hak_malloc(TIGHT_SIZE);
            if (p == NULL)
                test_fail("hak_malloc(%d) failed in a worker", TIGHT_SIZE);
            p[2 * sizeof(void *)] = 1;
            hak_free((void *)p);
        }
        atomic_fetch_add_explicit(&worker_ops, 64, memory_order_relaxed);
    }
    return NULL;
}

/* Child of the tight phase: takes over the vanished workers' slabs of
 * TIGHT_SIZE by allocating that size, checks them, execs. */
static void tight_child(void)
{
    static void *blocks[12000];
    int n = 0;
    while (n < 12000) {
        blocks[n] = hak_malloc(TIGHT_SIZE);
        if (blocks[n] == NULL)
            _exit(10);
        n++;
    }
    if (hak_check() != 0)
        _exit(15);
    for (int i = 0; i < n; i++)
        hak_free(blocks[i]);
    if (hak_check() != 0)
        _exit(15);
    execl("/bin/true", "true", (char *)NULL);
    _exit(16);
}

static void *worker(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg, rng = test_seed(id), seq = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t size = pick_size(&rng);
        void *p = hak_malloc(size);
        if (p == NULL)
            test_fail("hak_malloc(%zu) failed in a worker", size);
        uint64_t tag = id << 40 | ++seq;
        stamp(p, size, tag);
        struct slot *s = &slots[test_rand(&rng) % NSLOTS];
        pthread_mutex_lock(&s->lock);
        void *old = s->p;
        size_t osize = s->size;
        uint64_t otag = s->tag;
        s->p = p;
        s->size = size;
        s->tag = tag;
        pthread_mutex_unlock(&s->lock);
        if (old != NULL) {
            if (!stamp_ok(old, osize, otag))
                test_fail("worker: block %p of %zu bytes overwritten", old, osize);
            hak_free(old);
        }
        atomic_fetch_add_explicit(&worker_ops, 1, memory_order_relaxed);
    }
    return NULL;
}

/* In the child: only this thread runs.  Exits with a code saying which
 * step failed; reports go through write(2) only. */
static void child(unsigned round)
{
    uint64_t rng = test_seed(1000 + round);
    void *small[256];
    size_t sizes[256];
    for (int i = 0; i < 256; i++) {
        sizes[i] = 16 + test_rand(&rng) % 4000;
        small[i] = hak_malloc(sizes[i]);
        if (small[i] == NULL)
            _exit(10);
        stamp(small[i], sizes[i], (uint64_t)i);
    }
    void *large[4];
    for (int i = 0; i < 4; i++) {
        large[i] = hak_malloc(((size_t)3 << 20) + (size_t)i * 4096);
        if (large[i] == NULL)
            _exit(11);
        stamp(large[i], ((size_t)3 << 20) + (size_t)i * 4096, 100u + (uint64_t)i);
    }
    /* Blocks the parent's threads made: their heaps were retired in this
     * child, so these are frees into slabs nobody owns.  A slot whose
     * lock a vanished thread held is skipped. */
    unsigned freed = 0;
    for (int k = 0; k < NSLOTS; k += 2) {
        struct slot *s = &slots[k];
        if (pthread_mutex_trylock(&s->lock) != 0)
            continue;
        if (s->p != NULL) {
            if (!stamp_ok(s->p, s->size, s->tag))
                _exit(12);
            hak_free(s->p);
            s->p = NULL;
            freed++;
        }
        pthread_mutex_unlock(&s->lock);
    }
    for (int i = 0; i < 256; i++) {
        if (!stamp_ok(small[i], sizes[i], (uint64_t)i))
            _exit(13);
        hak_free(small[i]);
    }
    for (int i = 0; i < 4; i++) {
        if (!stamp_ok(large[i], ((size_t)3 << 20) + (size_t)i * 4096, 100u + (uint64_t)i))
            _exit(14);
        hak_free(large[i]);
    }
    if (hak_check() != 0)
        _exit(15);
    if (round % 2 == 0)
        execl("/bin/true", "true", (char *)NULL);
    else
        execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
    _exit(16);
}

static const char *step[] = {"allocate small",
                             "allocate large",
                             "verify or free a block of a vanished thread",
                             "verify own small block",
                             "verify own large block",
                             "hak_check",
                             "exec"};

/* forks times: let the workers run, fork, check how the child ended. */
static void fork_rounds(const char *phase, long forks, int tight)
{
    for (long r = 0; r < forks; r++) {
        uint_fast64_t seen = atomic_load(&worker_ops);
        while (atomic_load(&worker_ops) < seen + 200)
            sched_yield();
        pid_t pid = fork();
        if (pid < 0)
            test_fail("fork: %s", strerror(errno));
        if (pid == 0) {
            if (tight)
                tight_child();
            child((unsigned)r);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid)
            test_fail("waitpid: %s", strerror(errno));
        if (WIFSIGNALED(status))
            test_fail("%s phase, fork %ld: child killed by signal %d", phase, r + 1,
                      WTERMSIG(status));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            int code = WEXITSTATUS(status);
            test_fail("%s phase, fork %ld: child exited with %d (%s)", phase, r + 1, code,
                      code >= 10 && code <= 16 ? step[code - 10] : "exec'd program failed");
        }
    }
}

static void start_workers(pthread_t *t, void *(*fn)(void *))
{
    atomic_store(&stop, 0);
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)(i + 1)) != 0)
            test_fail("pthread_create failed");
}

static void stop_workers(pthread_t *t)
{
    atomic_store(&stop, 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
    long forks = argc > 1 ? strtol(argv[1], NULL, 10) : 40;
    if (forks <= 0)
        forks = 40;
    for (int k = 0; k < NSLOTS; k++)
        pthread_mutex_init(&slots[k].lock, NULL);
    pthread_t t[NTHREADS];

    start_workers(t, worker);
    fork_rounds("mixed", forks, 0);
    stop_workers(t);
    uint_fast64_t mixed_ops = atomic_load(&worker_ops);
    for (int k = 0; k < NSLOTS; k++)
        if (slots[k].p != NULL) {
            if (!stamp_ok(slots[k].p, slots[k].size, slots[k].tag))
                test_fail("block %p overwritten", slots[k].p);
            hak_free(slots[k].p);
            slots[k].p = NULL;
        }

    start_workers(t, tight_worker);
    fork_rounds("tight", 4 * forks, 1);
    stop_workers(t);

    if (hak_check() != 0)
        test_fail("hak_check() failed in the parent");
    printf("%s: %ld forks while %d threads passed blocks around (%llu operations), %ld while"
           " they did malloc+free of %d bytes (%llu): all children OK\n",
           test_prog(), forks, NTHREADS, (unsigned long long)mixed_ops, 4 * forks, TIGHT_SIZE,
           (unsigned long long)(atomic_load(&worker_ops) - mixed_ops));
    return 0;
}
