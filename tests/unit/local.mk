## tests/unit/local.mk - the unit tests, included from the top-level
## Makefile.am: the check programs (one area of the API each; built only
## with the check framework), and the scripts that check one property of
## the library, in seconds and without load: its exported symbols, its
## debug strings, the environment variables and files it reads, the layer
## order of its sources.

unit_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS) -fno-builtin
unit_ldadd = src/libhakmem.la $(CHECK_LIBS)
unit_headers = tests/test_check.h tests/test_util.h

if HAVE_CHECK
check_PROGRAMS += tests/unit/check_api tests/unit/check_errors tests/unit/check_threads \
	tests/unit/check_stats
TESTS += tests/unit/check_api tests/unit/check_errors tests/unit/check_threads \
	tests/unit/check_stats

## The API contract, against the default library and the hardened one.
tests_unit_check_api_SOURCES = tests/unit/check_api.c $(unit_headers)
tests_unit_check_api_CPPFLAGS = $(AM_CPPFLAGS) -DHK_HARDENED=0
tests_unit_check_api_CFLAGS = $(unit_cflags)
tests_unit_check_api_LDADD = $(unit_ldadd)
if HARDENED
check_PROGRAMS += tests/unit/check_api_hardened
TESTS += tests/unit/check_api_hardened
tests_unit_check_api_hardened_SOURCES = $(tests_unit_check_api_SOURCES)
tests_unit_check_api_hardened_CPPFLAGS = $(AM_CPPFLAGS) -DHK_HARDENED=1
tests_unit_check_api_hardened_CFLAGS = $(tests_unit_check_api_CFLAGS)
tests_unit_check_api_hardened_LDADD = src/libhakmem-hardened.la $(CHECK_LIBS)
endif

tests_unit_check_errors_SOURCES = tests/unit/check_errors.c $(unit_headers)
tests_unit_check_errors_CFLAGS = $(unit_cflags)
tests_unit_check_errors_LDADD = $(unit_ldadd)

tests_unit_check_threads_SOURCES = tests/unit/check_threads.c $(unit_headers)
tests_unit_check_threads_CFLAGS = $(unit_cflags)
tests_unit_check_threads_LDADD = $(unit_ldadd)

tests_unit_check_stats_SOURCES = tests/unit/check_stats.c $(unit_headers)
tests_unit_check_stats_CFLAGS = $(unit_cflags)
tests_unit_check_stats_LDADD = $(unit_ldadd)

## Heap misuse by class (issue 15): what the default library and the
## hardened one catch, from one source built against each.
check_PROGRAMS += tests/unit/check_misuse
TESTS += tests/unit/check_misuse
tests_unit_check_misuse_SOURCES = tests/unit/check_misuse.c $(unit_headers)
tests_unit_check_misuse_CPPFLAGS = $(AM_CPPFLAGS) -DHK_HARDENED=0
tests_unit_check_misuse_CFLAGS = $(unit_cflags) -pthread
tests_unit_check_misuse_LDADD = $(unit_ldadd)
if HARDENED
check_PROGRAMS += tests/unit/check_misuse_hardened
TESTS += tests/unit/check_misuse_hardened
tests_unit_check_misuse_hardened_SOURCES = $(tests_unit_check_misuse_SOURCES)
tests_unit_check_misuse_hardened_CPPFLAGS = $(AM_CPPFLAGS) -DHK_HARDENED=1
tests_unit_check_misuse_hardened_CFLAGS = $(tests_unit_check_misuse_CFLAGS)
tests_unit_check_misuse_hardened_LDADD = src/libhakmem-hardened.la $(CHECK_LIBS)
endif

## white-box: linked with the internals for the os_pages test hooks
check_PROGRAMS += tests/unit/check_large_cache
TESTS += tests/unit/check_large_cache
tests_unit_check_large_cache_SOURCES = tests/unit/check_large_cache.c $(unit_headers)
tests_unit_check_large_cache_CFLAGS = $(unit_cflags)
tests_unit_check_large_cache_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_unit_check_large_cache_LDADD = src/libhakmem-core.la $(CHECK_LIBS)

## HAKMEM_LIMIT_MB and hak_set_oom_handler: runs itself again with the
## limit set, each test in a process of its own.
check_PROGRAMS += tests/unit/check_limit
TESTS += tests/unit/check_limit
tests_unit_check_limit_SOURCES = tests/unit/check_limit.c $(unit_headers)
tests_unit_check_limit_CFLAGS = $(unit_cflags) -pthread
tests_unit_check_limit_LDADD = $(unit_ldadd)

## white-box too, so that every build tests glibc's malloc extensions:
## the override build through their glibc names, the others through the
## compat_* functions behind them
check_PROGRAMS += tests/unit/check_glibc_compat
TESTS += tests/unit/check_glibc_compat
tests_unit_check_glibc_compat_SOURCES = tests/unit/check_glibc_compat.c $(unit_headers)
tests_unit_check_glibc_compat_CFLAGS = $(unit_cflags)
tests_unit_check_glibc_compat_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_unit_check_glibc_compat_LDADD = src/libhakmem-core.la $(CHECK_LIBS)

if OVERRIDE
## plain malloc & co. are hakmem's only in the override build
check_PROGRAMS += tests/unit/check_override
TESTS += tests/unit/check_override
tests_unit_check_override_SOURCES = tests/unit/check_override.c $(unit_headers)
tests_unit_check_override_CFLAGS = $(unit_cflags)
tests_unit_check_override_LDADD = $(unit_ldadd)
endif
endif

## Built against hakmem 1.0.0's header (a copy, in hakmem-1.0.0/ and the
## only hakmem.h on its include path), run with the library just built.
check_PROGRAMS += tests/unit/abi_1_0_0
TESTS += tests/unit/abi_1_0_0
tests_unit_abi_1_0_0_SOURCES = tests/unit/abi_1_0_0.c tests/unit/hakmem-1.0.0/hakmem.h
tests_unit_abi_1_0_0_CPPFLAGS = -I$(top_srcdir)/tests/unit/hakmem-1.0.0
tests_unit_abi_1_0_0_LDADD = src/libhakmem.la
EXTRA_DIST += tests/unit/hakmem-1.0.0/.clang-format

## Shell tests: run with the exec bit from $(srcdir); they skip (77) what
## this build or machine cannot do.  env_child is the program stats-env.sh
## runs under HAKMEM_* settings; layers.sh checks the include order of
## src/ against the layers src/local.mk lists.
check_PROGRAMS += tests/unit/env_child
tests_unit_env_child_SOURCES = tests/unit/env_child.c
tests_unit_env_child_LDADD = src/libhakmem.la

## settings.sh runs settings_child, linked with libhakmem-testroot.la: the
## library sources built with HAKMEM_TEST_ROOT, so that every file it
## reads at start-up (/etc/hakmem.conf, /proc/self/cgroup and mountinfo,
## the cgroup's limit files) is opened under ./test-root instead, where
## the test puts a settings file and a cgroup tree of its own.  No library
## a user gets reads anything but the real files, and no environment
## variable can redirect them.
check_LTLIBRARIES += tests/unit/libhakmem-testroot.la
tests_unit_libhakmem_testroot_la_SOURCES = $(HAKMEM_CORE_SOURCES)
tests_unit_libhakmem_testroot_la_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_BUILDING_LIBRARY \
	-DHAKMEM_TEST_ROOT='"test-root"'
tests_unit_libhakmem_testroot_la_CFLAGS = $(AM_CFLAGS) $(HAKMEM_VISIBILITY_CFLAGS) \
	$(HAKMEM_LIB_CFLAGS)
check_PROGRAMS += tests/unit/settings_child
tests_unit_settings_child_SOURCES = tests/unit/settings_child.c tests/test_util.h
tests_unit_settings_child_CFLAGS = $(test_cflags)
tests_unit_settings_child_LDFLAGS = $(test_ldflags)
tests_unit_settings_child_LDADD = tests/unit/libhakmem-testroot.la

## prof_child is the program prof.sh profiles; -no-install makes it a
## real executable, not libtool's wrapper script, since google-pprof
## reads its symbols.
check_PROGRAMS += tests/unit/prof_child
tests_unit_prof_child_SOURCES = tests/unit/prof_child.c
tests_unit_prof_child_CFLAGS = $(test_cflags)
tests_unit_prof_child_LDFLAGS = $(test_ldflags)
tests_unit_prof_child_LDADD = src/libhakmem.la

TESTS += \
	tests/unit/exported-symbols.sh \
	tests/unit/debug-strings.sh \
	tests/unit/stats-env.sh \
	tests/unit/settings.sh \
	tests/unit/prof.sh \
	tests/unit/layers.sh
EXTRA_DIST += \
	tests/unit/exported-symbols.sh \
	tests/unit/exported-symbols.txt \
	tests/unit/debug-strings.sh \
	tests/unit/stats-env.sh \
	tests/unit/settings.sh \
	tests/unit/prof.sh \
	tests/unit/layers.sh
