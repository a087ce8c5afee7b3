## tests/stress/local.mk - the stress tests, included from the top-level
## Makefile.am: many threads passing blocks to each other, fork while
## threads allocate, out of memory (injected, and under ulimit -v), memory
## given back.  Plain C programs and shell scripts (no test framework), so
## they also run in the sanitizer builds; short forms in make check
## (about 20 s on 2 cores), long forms in make check-long.

## ---- library variants built from the same sources ----------------------
## HAKMEM_CORE_SOURCES (src/local.mk) compiled again with other switches,
## as convenience libraries linked statically into one test program each
## (check_LTLIBRARIES: built by make check only, not by make):
##   guard                debug guards on, whatever configure said: the
##                        library asserts slab ownership before every drain
##   unowned-drain        -DHAKMEM_TEST_UNOWNED_DRAIN: every remote free
##                        drains the slab without owning it (the bug
##                        slab_ownership must catch)
##   unowned-drain-guard  both
stress_lib_cppflags = $(AM_CPPFLAGS) -DHAKMEM_BUILDING_LIBRARY
stress_lib_cflags = $(AM_CFLAGS) $(HAKMEM_VISIBILITY_CFLAGS) $(HAKMEM_LIB_CFLAGS)
check_LTLIBRARIES += tests/stress/libhakmem-guard.la tests/stress/libhakmem-unowned-drain.la \
	tests/stress/libhakmem-unowned-drain-guard.la

tests_stress_libhakmem_guard_la_SOURCES = $(HAKMEM_CORE_SOURCES)
tests_stress_libhakmem_guard_la_CPPFLAGS = $(stress_lib_cppflags) -DHAKMEM_DEBUG_GUARDS=1
tests_stress_libhakmem_guard_la_CFLAGS = $(stress_lib_cflags)

tests_stress_libhakmem_unowned_drain_la_SOURCES = $(HAKMEM_CORE_SOURCES)
tests_stress_libhakmem_unowned_drain_la_CPPFLAGS = $(stress_lib_cppflags) \
	-DHAKMEM_TEST_UNOWNED_DRAIN
tests_stress_libhakmem_unowned_drain_la_CFLAGS = $(stress_lib_cflags)

tests_stress_libhakmem_unowned_drain_guard_la_SOURCES = $(HAKMEM_CORE_SOURCES)
tests_stress_libhakmem_unowned_drain_guard_la_CPPFLAGS = $(stress_lib_cppflags) \
	-DHAKMEM_DEBUG_GUARDS=1 -DHAKMEM_TEST_UNOWNED_DRAIN
tests_stress_libhakmem_unowned_drain_guard_la_CFLAGS = $(stress_lib_cflags)

## ---- no thread drains a slab it does not own ----------------------------
## One source, linked with each library; the program's name says which.
## unowned-drain-caught.sh passes only when the unowned-drain builds fail.
stress_ownership_sources = tests/stress/slab_ownership.c tests/test_util.h
check_PROGRAMS += tests/stress/slab_ownership tests/stress/slab_ownership_guard \
	tests/stress/slab_ownership_unowned_drain tests/stress/slab_ownership_unowned_drain_guard

tests_stress_slab_ownership_SOURCES = $(stress_ownership_sources)
tests_stress_slab_ownership_CFLAGS = $(test_cflags)
tests_stress_slab_ownership_LDFLAGS = $(test_ldflags)
tests_stress_slab_ownership_LDADD = src/libhakmem.la

tests_stress_slab_ownership_guard_SOURCES = $(stress_ownership_sources)
tests_stress_slab_ownership_guard_CFLAGS = $(test_cflags)
tests_stress_slab_ownership_guard_LDFLAGS = $(test_ldflags)
tests_stress_slab_ownership_guard_LDADD = tests/stress/libhakmem-guard.la

tests_stress_slab_ownership_unowned_drain_SOURCES = $(stress_ownership_sources)
tests_stress_slab_ownership_unowned_drain_CFLAGS = $(test_cflags)
tests_stress_slab_ownership_unowned_drain_LDFLAGS = $(test_ldflags)
tests_stress_slab_ownership_unowned_drain_LDADD = tests/stress/libhakmem-unowned-drain.la

tests_stress_slab_ownership_unowned_drain_guard_SOURCES = $(stress_ownership_sources)
tests_stress_slab_ownership_unowned_drain_guard_CFLAGS = $(test_cflags)
tests_stress_slab_ownership_unowned_drain_guard_LDFLAGS = $(test_ldflags)
tests_stress_slab_ownership_unowned_drain_guard_LDADD = \
	tests/stress/libhakmem-unowned-drain-guard.la

TESTS += tests/stress/slab_ownership tests/stress/slab_ownership_guard \
	tests/stress/unowned-drain-caught.sh
EXTRA_DIST += tests/stress/unowned-drain-caught.sh

## ---- out of memory ------------------------------------------------------
## (a) injected, white-box: linked with the internals for
## os_pages_fail_after().
check_PROGRAMS += tests/stress/fault_inject
tests_stress_fault_inject_SOURCES = tests/stress/fault_inject.c tests/test_util.h
tests_stress_fault_inject_CFLAGS = $(test_cflags)
tests_stress_fault_inject_LDFLAGS = $(test_ldflags)
tests_stress_fault_inject_LDADD = src/libhakmem-core.la
TESTS += tests/stress/fault_inject
## (b) a real address-space limit (ulimit -v) on the shared library.
check_PROGRAMS += tests/stress/ulimit_alloc
tests_stress_ulimit_alloc_SOURCES = tests/stress/ulimit_alloc.c tests/test_util.h
tests_stress_ulimit_alloc_CFLAGS = $(test_cflags)
tests_stress_ulimit_alloc_LDFLAGS = $(test_ldflags)
tests_stress_ulimit_alloc_LDADD = src/libhakmem.la
TESTS += tests/stress/ulimit.sh
EXTRA_DIST += tests/stress/ulimit.sh

## ---- fork while threads allocate; memory given back --------------------
check_PROGRAMS += tests/stress/fork_threads tests/stress/rss_return
tests_stress_fork_threads_SOURCES = tests/stress/fork_threads.c tests/test_util.h
tests_stress_fork_threads_CFLAGS = $(test_cflags)
tests_stress_fork_threads_LDFLAGS = $(test_ldflags)
tests_stress_fork_threads_LDADD = src/libhakmem.la
tests_stress_rss_return_SOURCES = tests/stress/rss_return.c tests/test_util.h
tests_stress_rss_return_CFLAGS = $(test_cflags)
tests_stress_rss_return_LDFLAGS = $(test_ldflags)
tests_stress_rss_return_LDADD = src/libhakmem.la
TESTS += tests/stress/fork_threads tests/stress/rss_return
## ... also while the process idles: idle-return.sh runs idle_return with
## the purge thread and with HAKMEM_BACKGROUND=0.
check_PROGRAMS += tests/stress/idle_return
tests_stress_idle_return_SOURCES = tests/stress/idle_return.c tests/test_util.h
tests_stress_idle_return_CFLAGS = $(test_cflags)
tests_stress_idle_return_LDFLAGS = $(test_ldflags)
tests_stress_idle_return_LDADD = src/libhakmem.la
TESTS += tests/stress/idle-return.sh
EXTRA_DIST += tests/stress/idle-return.sh

## memory_return runs under LD_PRELOAD and without: linked with no hakmem.
check_PROGRAMS += tests/stress/memory_return
tests_stress_memory_return_SOURCES = tests/stress/memory_return.c tests/test_util.h
tests_stress_memory_return_CFLAGS = $(test_cflags)
tests_stress_memory_return_LDFLAGS = $(test_ldflags)
TESTS += tests/stress/memory-return.sh
EXTRA_DIST += tests/stress/memory-return.sh

## ---- the long forms (make check-long) -----------------------------------
## long-stress.sh is listed in TESTS (a skip in make check) so the harness
## has its rule.
TESTS += tests/stress/long-stress.sh
EXTRA_DIST += tests/stress/long-stress.sh
stress_long_tests = tests/stress/long-stress.sh
