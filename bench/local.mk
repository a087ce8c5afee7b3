## bench/local.mk - included from the top-level Makefile.am.
## Benchmark workloads and their runner.  The programs use only the plain
## malloc family and link nothing from hakmem: run-bench chooses the
## allocator with LD_PRELOAD.  "make bench" runs the full suite, "make
## bench-quick" a short one, "make bench-scaling" larson by thread count;
## none of them is part of "make check".

# Built with everything else (they are small) so a warning in them shows
# up in every CI build, but with flags of their own: -O2 whatever the
# library's mode, and never the sanitizer flags, so the same workload
# code runs under every allocator.
bench_compile_flags = $(HAKMEM_WARN_CFLAGS) -O2 -pthread
bench_link_flags = -pthread
# The C++ workload gets the same warnings less the two that exist only for
# C (g++ warns about them, which -Werror turns into an error).  Suffix
# substitution, so any make can do it.
bench_cxx_warn_1 = $(HAKMEM_WARN_CFLAGS:-Wstrict-prototypes=)
bench_cxx_warn = $(bench_cxx_warn_1:-Wmissing-prototypes=)
bench_cxx_flags = $(bench_cxx_warn) -O2 -pthread

bench_programs = \
	bench/larson$(EXEEXT) bench/xthread$(EXEEXT) \
	bench/false_sharing$(EXEEXT) bench/realloc_mix$(EXEEXT) \
	bench/churn$(EXEEXT) bench/large$(EXEEXT) bench/pair$(EXEEXT) \
	bench/larson_cxx$(EXEEXT) bench/batch$(EXEEXT) bench/xchurn$(EXEEXT) \
	bench/bursts$(EXEEXT) bench/leak$(EXEEXT) \
	bench/rss_run$(EXEEXT) bench/idle_return$(EXEEXT)
noinst_PROGRAMS += $(bench_programs)

bench_larson_SOURCES = bench/larson.c bench/bench_common.h
bench_larson_CFLAGS = $(bench_compile_flags)
bench_larson_LDFLAGS = $(bench_link_flags)
bench_xthread_SOURCES = bench/xthread.c bench/bench_common.h
bench_xthread_CFLAGS = $(bench_compile_flags)
bench_xthread_LDFLAGS = $(bench_link_flags)
bench_false_sharing_SOURCES = bench/false_sharing.c bench/bench_common.h
bench_false_sharing_CFLAGS = $(bench_compile_flags)
bench_false_sharing_LDFLAGS = $(bench_link_flags)
bench_realloc_mix_SOURCES = bench/realloc_mix.c bench/bench_common.h
bench_realloc_mix_CFLAGS = $(bench_compile_flags)
bench_realloc_mix_LDFLAGS = $(bench_link_flags)
bench_churn_SOURCES = bench/churn.c bench/bench_common.h
bench_churn_CFLAGS = $(bench_compile_flags)
bench_churn_LDFLAGS = $(bench_link_flags)
bench_large_SOURCES = bench/large.c bench/bench_common.h
bench_large_CFLAGS = $(bench_compile_flags)
bench_large_LDFLAGS = $(bench_link_flags)
bench_pair_SOURCES = bench/pair.c bench/bench_common.h
bench_pair_CFLAGS = $(bench_compile_flags)
bench_pair_LDFLAGS = $(bench_link_flags)
bench_larson_cxx_SOURCES = bench/larson_cxx.cc bench/bench_common.h
bench_larson_cxx_CXXFLAGS = $(bench_cxx_flags)
bench_larson_cxx_LDFLAGS = $(bench_link_flags)
bench_batch_SOURCES = bench/batch.c bench/bench_common.h
bench_batch_CFLAGS = $(bench_compile_flags)
bench_batch_LDFLAGS = $(bench_link_flags)
bench_xchurn_SOURCES = bench/xchurn.c bench/bench_common.h
bench_xchurn_CFLAGS = $(bench_compile_flags)
bench_xchurn_LDFLAGS = $(bench_link_flags)
bench_bursts_SOURCES = bench/bursts.c bench/bench_common.h
bench_bursts_CFLAGS = $(bench_compile_flags)
bench_bursts_LDFLAGS = $(bench_link_flags)
bench_leak_SOURCES = bench/leak.c bench/bench_common.h
bench_leak_CFLAGS = $(bench_compile_flags)
bench_leak_LDFLAGS = $(bench_link_flags)
bench_idle_return_SOURCES = bench/idle_return.c bench/bench_common.h
bench_idle_return_CFLAGS = $(bench_compile_flags)
bench_idle_return_LDFLAGS = $(bench_link_flags)
bench_rss_run_SOURCES = bench/rss_run.c
bench_rss_run_CFLAGS = $(bench_compile_flags)
bench_rss_run_LDFLAGS = $(bench_link_flags)

EXTRA_DIST += bench/run-bench bench/py_dicts.py bench/README.md

# The runner reads its scripts from the source tree and writes results
# into the build directory, so all three targets work out of tree.
# BENCH_FLAGS passes extra options, e.g. make bench BENCH_FLAGS='--runs 5'.
BENCH_RUN = $(SHELL) $(srcdir)/bench/run-bench --bindir bench \
	--srcdir $(srcdir)/bench --lib src/.libs/libhakmem.so.1 --out .

bench: src/libhakmem.la $(bench_programs)
	$(BENCH_RUN) $(BENCH_FLAGS)
bench-quick: src/libhakmem.la $(bench_programs)
	$(BENCH_RUN) --quick $(BENCH_FLAGS)
bench-scaling: src/libhakmem.la $(bench_programs)
	$(BENCH_RUN) --scaling --no-suite $(BENCH_FLAGS)
bench-idle: src/libhakmem.la $(bench_programs)
	$(BENCH_RUN) --idle-return --no-suite $(BENCH_FLAGS)
.PHONY: bench bench-quick bench-scaling bench-idle

CLEANFILES += bench-results.txt bench-results.csv bench-ratios.png \
	bench-raw.txt bench-scaling.txt bench-scaling.csv bench-scaling.png \
	bench-scaling-raw.txt bench-locks.txt bench-idle.txt bench-idle.csv \
	bench-idle.png bench-idle-raw.txt
