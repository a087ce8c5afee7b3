// interpose-cxx.cc - a C++ program for interpose.sh: under LD_PRELOAD,
// operator new and delete must be hakmem's own (checked through hak_stats
// and dladdr when TEST_EXPECT_HAKMEM is set), keep C++'s out-of-memory
// contract (new-handler, std::bad_alloc, nothrow), and the container
// workload prints a checksum that must not depend on the allocator.
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "hakmem.h"

typedef int (*stats_fn)(struct hak_stats *, size_t);
typedef size_t (*usable_fn)(const void *);

static uint64_t class_count(stats_fn hs, uint64_t block, bool frees)
{
    struct hak_stats st;
    std::memset(&st, 0, sizeof st);
    if (hs(&st, sizeof st) != 0)
        return 0;
    for (uint32_t i = 0; i < st.nclasses; i++)
        if (st.classes[i].block_size == block)
            return frees ? st.classes[i].frees : st.classes[i].allocs;
    return 0;
}

static int check_new_delete()
{
    stats_fn hs = reinterpret_cast<stats_fn>(dlsym(RTLD_DEFAULT, "hak_stats"));
    usable_fn hu = reinterpret_cast<usable_fn>(dlsym(RTLD_DEFAULT, "hak_usable_size"));
    if (!hs || !hu) {
        std::fprintf(stderr, "hakmem is not loaded\n");
        return 1;
    }
    uint64_t a0 = class_count(hs, 1536, false), f0 = class_count(hs, 1536, true);
    char *p = new char[1500];
    uint64_t a1 = class_count(hs, 1536, false);
    if (a1 - a0 != 1 || hu(p) != 1536) {
        std::fprintf(stderr, "new char[1500] did not come from hakmem (%llu allocs, usable %zu)\n",
                     (unsigned long long)(a1 - a0), hu(p));
        return 1;
    }
    p[1499] = 1;
    delete[] p;
    if (class_count(hs, 1536, true) - f0 != 1) {
        std::fprintf(stderr, "delete[] did not go to hakmem\n");
        return 1;
    }
    std::string s(5000, 'x');
    if (hu(s.data()) < 5001) {
        std::fprintf(stderr, "std::string buffer is not a hakmem block\n");
        return 1;
    }
    return 0;
}

/* hakmem defines the operators themselves (not only malloc, which the C++
 * library's would call): every replaceable form resolves to it. */
static int check_operators_are_hakmem()
{
    void *(*plain)(std::size_t) = &::operator new;
    void (*sized_delete)(void *, std::size_t) noexcept = &::operator delete;
    void *(*aligned)(std::size_t, std::align_val_t) = &::operator new;
    void *fns[] = {reinterpret_cast<void *>(plain), reinterpret_cast<void *>(sized_delete),
                   reinterpret_cast<void *>(aligned)};
    for (void *fn : fns) {
        Dl_info di;
        if (!dladdr(fn, &di) || !di.dli_fname || !std::strstr(di.dli_fname, "libhakmem")) {
            std::fprintf(stderr, "operator new/delete at %p comes from %s, not libhakmem\n", fn,
                         di.dli_fname ? di.dli_fname : "?");
            return 1;
        }
    }
    struct alignas(512) Wide {
        char c[700];
    };
    Wide *w = new Wide;
    if (reinterpret_cast<uintptr_t>(w) % 512 != 0) {
        std::fprintf(stderr, "new of an alignas(512) type gave %p\n", static_cast<void *>(w));
        return 1;
    }
    delete w;
    void *q = ::operator new(100);
    ::operator delete(q, 100);
    return 0;
}

/* Out of memory, operator new calls the new-handler and throws
 * std::bad_alloc, nothrow new returns nullptr: run in a child under a
 * 1 GiB address-space limit. */
static int new_handler_calls;
static char *reserve;
static void release_reserve()
{
    new_handler_calls++;
    std::free(reserve);
    reserve = nullptr;
    std::set_new_handler(nullptr);
}

static int check_out_of_memory()
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {1UL << 30, 1UL << 30};
        setrlimit(RLIMIT_AS, &rl);
        const std::size_t huge = std::size_t(1) << 31;
        if (new (std::nothrow) char[huge] != nullptr)
            _exit(10);
        bool thrown = false;
        try {
            char *p = new char[huge];
            std::printf("%p\n", static_cast<void *>(p));
        } catch (const std::bad_alloc &) {
            thrown = true;
        }
        if (!thrown)
            _exit(11);
        reserve = static_cast<char *>(std::malloc(100));
        std::set_new_handler(release_reserve);
        thrown = false;
        try {
            char *p = new char[huge];
            std::printf("%p\n", static_cast<void *>(p));
        } catch (const std::bad_alloc &) {
            thrown = true;
        }
        _exit(thrown && new_handler_calls == 1 ? 0 : 12);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr,
                     "out of memory: want nullptr from nothrow new, std::bad_alloc, and the "
                     "new-handler called once (child status %#x)\n",
                     static_cast<unsigned>(status));
        return 1;
    }
    return 0;
}

static uint64_t fnv(uint64_t h, const std::string &s)
{
    for (unsigned char c : s)
        h = (h ^ c) * 1099511628211ULL;
    return h;
}

int main()
{
    if (std::getenv("TEST_EXPECT_HAKMEM") &&
        (check_new_delete() != 0 || check_operators_are_hakmem() != 0))
        return 1;
    if (check_out_of_memory() != 0)
        return 1;

    std::map<std::string, int> m;
    std::vector<std::unique_ptr<std::string>> v;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::string k = std::to_string(x % 50000);
        m[k] += i & 7;
        v.emplace_back(new std::string(k + std::string(x % 300, 'a' + (char)(x % 26))));
        if (v.size() > 5000)
            v.erase(v.begin(), v.begin() + 2500);
    }
    uint64_t h = 1469598103934665603ULL;
    for (const auto &kv : m)
        h = fnv(h, kv.first + "=" + std::to_string(kv.second));
    for (const auto &p : v)
        h = fnv(h, *p);

    uint64_t th[4] = {0, 0, 0, 0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &th] {
            std::unordered_map<int, std::vector<int>> u;
            for (int i = 0; i < 100000; i++)
                u[(i * (t + 3)) % 7919].push_back(i);
            uint64_t s = 0;
            for (const auto &kv : u)
                s += (uint64_t)kv.first * kv.second.size();
            th[t] = s;
        });
    for (auto &t : threads)
        t.join();
    std::printf("%016llx %llu %llu %llu %llu\n", (unsigned long long)h, (unsigned long long)th[0],
                (unsigned long long)th[1], (unsigned long long)th[2], (unsigned long long)th[3]);
    return 0;
}
