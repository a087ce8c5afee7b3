## tests/unit/local.mk - the unit tests, included from the top-level
## Makefile.am: the check programs (one area of the API each; built only
## with the check framework), and the scripts that check one property of
## the library, in seconds and without load: its exported symbols, its
## debug strings, the environment variables it reads, the layer order of
## its sources.

unit_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS) -fno-builtin
unit_ldadd = src/libhakmem.la $(CHECK_LIBS)
unit_headers = tests/test_check.h tests/test_util.h

if HAVE_CHECK
check_PROGRAMS += tests/unit/check_api tests/unit/check_errors tests/unit/check_threads \
	tests/unit/check_stats
TESTS += tests/unit/check_api tests/unit/check_errors tests/unit/check_threads \
	tests/unit/check_stats

tests_unit_check_api_SOURCES = tests/unit/check_api.c $(unit_headers)
tests_unit_check_api_CFLAGS = $(unit_cflags)
tests_unit_check_api_LDADD = $(unit_ldadd)

tests_unit_check_errors_SOURCES = tests/unit/check_errors.c $(unit_headers)
tests_unit_check_errors_CFLAGS = $(unit_cflags)
tests_unit_check_errors_LDADD = $(unit_ldadd)

tests_unit_check_threads_SOURCES = tests/unit/check_threads.c $(unit_headers)
tests_unit_check_threads_CFLAGS = $(unit_cflags)
tests_unit_check_threads_LDADD = $(unit_ldadd)

tests_unit_check_stats_SOURCES = tests/unit/check_stats.c $(unit_headers)
tests_unit_check_stats_CFLAGS = $(unit_cflags)
tests_unit_check_stats_LDADD = $(unit_ldadd)

## white-box: linked with the internals for the os_pages test hooks
check_PROGRAMS += tests/unit/check_large_cache
TESTS += tests/unit/check_large_cache
tests_unit_check_large_cache_SOURCES = tests/unit/check_large_cache.c $(unit_headers)
tests_unit_check_large_cache_CFLAGS = $(unit_cflags)
tests_unit_check_large_cache_LDFLAGS = $(AM_LDFLAGS) -no-install
tests_unit_check_large_cache_LDADD = src/libhakmem-core.la $(CHECK_LIBS)

if OVERRIDE
## plain malloc & co. are hakmem's only in the override build
check_PROGRAMS += tests/unit/check_override
TESTS += tests/unit/check_override
tests_unit_check_override_SOURCES = tests/unit/check_override.c $(unit_headers)
tests_unit_check_override_CFLAGS = $(unit_cflags)
tests_unit_check_override_LDADD = $(unit_ldadd)
endif
endif

## Shell tests: run with the exec bit from $(srcdir); they skip (77) what
## this build or machine cannot do.  env_child is the program stats-env.sh
## runs under HAKMEM_* settings; layers.sh checks the include order of
## src/ against the layers src/local.mk lists.
check_PROGRAMS += tests/unit/env_child
tests_unit_env_child_SOURCES = tests/unit/env_child.c
tests_unit_env_child_LDADD = src/libhakmem.la

TESTS += \
	tests/unit/exported-symbols.sh \
	tests/unit/debug-strings.sh \
	tests/unit/stats-env.sh \
	tests/unit/layers.sh
EXTRA_DIST += \
	tests/unit/exported-symbols.sh \
	tests/unit/exported-symbols.txt \
	tests/unit/debug-strings.sh \
	tests/unit/stats-env.sh \
	tests/unit/layers.sh
