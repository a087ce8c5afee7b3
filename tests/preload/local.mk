## tests/preload/local.mk - real programs with libhakmem.so.1 preloaded,
## included from the top-level Makefile.am: their output must not change
## and hakmem must really be their allocator.  They skip (77) in a
## --disable-override build, those that source lib.sh also in sanitizer
## builds, and each when its program is not installed.  Short forms in
## make check (interpose.sh, python test_list test_dict, sqlite3 20000
## rows, git 40 commits: about 10 s); redis only in the long form.

## The ones with a long form (TEST_LONG=1):
preload_long_tests = \
	tests/preload/python.sh \
	tests/preload/git.sh \
	tests/preload/sqlite.sh \
	tests/preload/redis.sh
TESTS += tests/preload/interpose.sh tests/preload/glibc-compat.sh $(preload_long_tests)
EXTRA_DIST += tests/preload/interpose.sh tests/preload/glibc-compat.sh $(preload_long_tests) \
	tests/preload/lib.sh \
	tests/preload/interpose-work.py \
	tests/preload/interpose-work.pl \
	tests/preload/interpose-cxx.cc

## Built against the C library only: glibc-compat.sh runs it with glibc's
## malloc and with hakmem preloaded, and compares what they answer.
check_PROGRAMS += tests/preload/glibc_compat_probe
tests_preload_glibc_compat_probe_SOURCES = tests/preload/glibc_compat_probe.c
tests_preload_glibc_compat_probe_CFLAGS = $(test_cflags)
tests_preload_glibc_compat_probe_LDFLAGS = $(test_ldflags)
tests_preload_glibc_compat_probe_LDADD = -ldl
