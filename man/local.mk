## man/local.mk - included from the top-level Makefile.am.
## The manual pages and their lint test.  Alias pages (one ".so" line) give
## every function its own page name; dh_installman turns them into links.

dist_man_MANS += \
	man/hakmem.1 \
	man/hak_malloc.3 \
	man/hak_calloc.3 \
	man/hak_realloc.3 \
	man/hak_free.3 \
	man/hak_aligned_alloc.3 \
	man/hak_posix_memalign.3 \
	man/hak_usable_size.3 \
	man/hak_version.3 \
	man/hak_version_string.3 \
	man/hak_check.3 \
	man/hak_stats.3 \
	man/hak_stats_print.3 \
	man/hak_stats_print_json.3 \
	man/hak_prof_dump.3 \
	man/hak_set_oom_handler.3 \
	man/hakmem.conf.5 \
	man/hak_trim.3 \
	man/hakmem.7

# mandoc, groff (as lintian runs it) and lexgrog over every page; skipped
# (exit 77) where mandoc or man-db is not installed.
TESTS += man/lint-man.sh
EXTRA_DIST += man/lint-man.sh

# The example programs of the section 3 pages, compiled with -Werror and
# run against the library just built.
TESTS += man/test-examples.sh
EXTRA_DIST += man/test-examples.sh
