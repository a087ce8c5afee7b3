## tests/fuzz/local.mk - the fuzz target fuzz_ops, included from the
## top-level Makefile.am.  One source built twice: the replay program
## runs every input of tests/fuzz/corpus/ in make check (any compiler);
## the libFuzzer target is built only by "make fuzz", with clang, which
## runs it for FUZZ_SECONDS (default 60) through run-fuzz.sh.

check_PROGRAMS += tests/fuzz/fuzz_ops_replay
tests_fuzz_fuzz_ops_replay_SOURCES = tests/fuzz/fuzz_ops.c tests/test_util.h
tests_fuzz_fuzz_ops_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_REPLAY
tests_fuzz_fuzz_ops_replay_CFLAGS = $(test_cflags)
tests_fuzz_fuzz_ops_replay_LDFLAGS = $(test_ldflags)
tests_fuzz_fuzz_ops_replay_LDADD = src/libhakmem.la
TESTS += tests/fuzz/fuzz_ops_replay
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/run-fuzz.sh

## The fuzzer: the library sources without override.c (libFuzzer keeps
## the C library's malloc; the target calls hak_*), debug guards on, with
## coverage instrumentation (edges, not comparisons: tracing the byte
## loops that check stamps and poison made it 20 times slower) and UBSan,
## in one clang command (no objects left around).  FUZZ_CC must be a
## clang with libFuzzer (libclang-rt-14-dev on Debian 12).
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,undefined -fno-sanitize-recover=all \
	-fno-sanitize-coverage=trace-cmp \
	-fno-omit-frame-pointer -Wall -Wextra -Werror
tests/fuzz/fuzz_ops_fuzzer: $(HAKMEM_CORE_SOURCES) config.h \
		tests/fuzz/fuzz_ops.c tests/test_util.h
	$(AM_V_GEN)$(MKDIR_P) tests/fuzz && srcs= && \
	for f in $(HAKMEM_CORE_SOURCES); do \
	  case $$f in src/override.c) ;; *.c) srcs="$$srcs $(srcdir)/$$f";; esac; \
	done && \
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DHAKMEM_BUILDING_LIBRARY -DHAKMEM_DEBUG_GUARDS=1 \
	  -fvisibility=hidden -I$(top_builddir) -I$(top_builddir)/include -I$(top_srcdir)/src \
	  -pthread -o $@ $$srcs $(srcdir)/tests/fuzz/fuzz_ops.c
fuzz:
	@FUZZ_CC='$(FUZZ_CC)' MAKE='$(MAKE)' $(SHELL) $(srcdir)/tests/fuzz/run-fuzz.sh \
	  $(FUZZ_SECONDS); \
	rc=$$?; if [ $$rc -eq 77 ]; then echo "make fuzz: skipped (no clang with libFuzzer)"; \
	else exit $$rc; fi
## Rewrites the hand-made seeds of the corpus (only when changing them).
fuzz-seeds: tests/fuzz/fuzz_ops_replay
	tests/fuzz/fuzz_ops_replay -w $(srcdir)/tests/fuzz/corpus
.PHONY: fuzz fuzz-seeds
## What run-fuzz.sh leaves in the build directory: the inputs the fuzzer
## added (tests/fuzz/grown/), findings and the log.
CLEANFILES += tests/fuzz/fuzz_ops_fuzzer tests/fuzz/crash-* tests/fuzz/grown/* \
	tests/fuzz/fuzz.log
