## tests/local.mk - the test suite, included from the top-level Makefile.am.
## check programs (need the check framework) plus shell tests that need
## only the built library.  Tests learn the build's configuration through
## HK_TEST_* variables (not HAKMEM_*: hakmem warns about unknown HAKMEM_*
## variables in its environment).

if OVERRIDE
hk_test_override = yes
hk_test_override_def = 1
else
hk_test_override = no
hk_test_override_def = 0
endif
if DEBUG_GUARDS
hk_test_debug_guards = yes
else
hk_test_debug_guards = no
endif

AM_TESTS_ENVIRONMENT += \
	HK_TEST_OVERRIDE=$(hk_test_override); \
	HK_TEST_DEBUG_GUARDS=$(hk_test_debug_guards); \
	HK_TEST_BUILDDIR='$(abs_top_builddir)'; \
	HK_TEST_SRCDIR='$(abs_top_srcdir)'; \
	export HK_TEST_OVERRIDE HK_TEST_DEBUG_GUARDS HK_TEST_BUILDDIR HK_TEST_SRCDIR;

## -fno-builtin: the compiler must not fold or drop the malloc/free calls
## under test.
hk_test_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS) -fno-builtin
hk_test_ldadd = src/libhakmem.la $(CHECK_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/check_api tests/check_errors tests/check_threads tests/check_stats
TESTS += tests/check_api tests/check_errors tests/check_threads tests/check_stats

tests_check_api_SOURCES = tests/check_api.c tests/test_check.h tests/test_util.h
tests_check_api_CFLAGS = $(hk_test_cflags)
tests_check_api_LDADD = $(hk_test_ldadd)

tests_check_errors_SOURCES = tests/check_errors.c tests/test_check.h tests/test_util.h
tests_check_errors_CPPFLAGS = $(AM_CPPFLAGS) -DHK_OVERRIDE=$(hk_test_override_def)
tests_check_errors_CFLAGS = $(hk_test_cflags)
tests_check_errors_LDADD = $(hk_test_ldadd)

tests_check_threads_SOURCES = tests/check_threads.c tests/test_check.h tests/test_util.h
tests_check_threads_CFLAGS = $(hk_test_cflags)
tests_check_threads_LDADD = $(hk_test_ldadd)

tests_check_stats_SOURCES = tests/check_stats.c tests/test_check.h tests/test_util.h
tests_check_stats_CFLAGS = $(hk_test_cflags)
tests_check_stats_LDADD = $(hk_test_ldadd)

## white-box: linked with the internals for the os_pages test hooks
check_PROGRAMS += tests/check_large_cache
TESTS += tests/check_large_cache
tests_check_large_cache_SOURCES = tests/check_large_cache.c tests/test_check.h tests/test_util.h
tests_check_large_cache_CFLAGS = $(hk_test_cflags)
tests_check_large_cache_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_check_large_cache_LDADD = src/libhakmem-core.la $(CHECK_LIBS)

if OVERRIDE
## plain malloc & co. are hakmem's only in the override build
check_PROGRAMS += tests/check_override
TESTS += tests/check_override
tests_check_override_SOURCES = tests/check_override.c tests/test_check.h tests/test_util.h
tests_check_override_CFLAGS = $(hk_test_cflags)
tests_check_override_LDADD = $(hk_test_ldadd)
endif
endif

## Shell tests: run with the exec bit from $(srcdir); they skip (77) what
## this build or machine cannot do.
check_PROGRAMS += tests/env_child
tests_env_child_SOURCES = tests/env_child.c
tests_env_child_LDADD = src/libhakmem.la

TESTS += \
	tests/exported-symbols.sh \
	tests/debug-strings.sh \
	tests/stats-env.sh \
	tests/preload.sh \
	tests/layers.sh
EXTRA_DIST += \
	tests/exported-symbols.sh \
	tests/exported-symbols.txt \
	tests/debug-strings.sh \
	tests/stats-env.sh \
	tests/preload.sh \
	tests/layers.sh \
	tests/preload-work.py \
	tests/preload-work.pl \
	tests/preload-cxx.cc

## The C style (.clang-format), checked by CI; not part of make check,
## since another clang-format version may format a few constructs apart.
check-format:
	@$(SHELL) $(srcdir)/build-aux/check-format.sh
.PHONY: check-format
EXTRA_DIST += .clang-format build-aux/check-format.sh
