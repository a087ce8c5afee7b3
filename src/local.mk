## src/local.mk - the library.
##
## The layers, top down.  A file includes only its own module's header
## and the headers of modules on lower lines (config.h and system headers
## aside, and the public hakmem.h from the api line up).  The one
## exception: heap.c and large.c include stats.h, to sample the in-use
## peak where memory grows (stats_sample_peak).  tests/unit/layers.sh checks
## both lists.
src_layers = \
	override,override_cxx \
	glibc_compat \
	api,stats,check \
	process \
	prof \
	reclaim \
	symbols \
	heap,large \
	superslab \
	slab \
	size_class \
	chunk_map \
	harden \
	os_pages \
	lock \
	cgroup \
	diag \
	env \
	output \
	internal
src_layer_exceptions = heap.c:stats.h large.c:stats.h

# Everything is built once into a convenience library, so white-box tests
# can link the internals statically; libhakmem.la adds the version script.
noinst_LTLIBRARIES += src/libhakmem-core.la
# By layer, bottom up.
HAKMEM_CORE_SOURCES = \
	src/internal.h src/output.c src/output.h src/env.c src/env.h \
	src/diag.c src/diag.h src/cgroup.c src/cgroup.h src/lock.c src/lock.h \
	src/os_pages.c src/os_pages.h \
	src/harden.c src/harden.h \
	src/chunk_map.c src/chunk_map.h \
	src/size_class.c src/size_class.h \
	src/slab.c src/slab.h \
	src/superslab.c src/superslab.h \
	src/heap.c src/heap.h src/large.c src/large.h \
	src/symbols.c src/symbols.h \
	src/reclaim.c src/reclaim.h \
	src/prof.c src/prof.h \
	src/process.c src/process.h \
	src/api.c src/api.h src/stats.c src/stats.h src/check.c \
	src/glibc_compat.c src/glibc_compat.h \
	src/override.c src/override_cxx.c
src_libhakmem_core_la_SOURCES = $(HAKMEM_CORE_SOURCES)
src_libhakmem_core_la_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_BUILDING_LIBRARY
src_libhakmem_core_la_CFLAGS = $(AM_CFLAGS) $(HAKMEM_VISIBILITY_CFLAGS) $(HAKMEM_LIB_CFLAGS)

lib_LTLIBRARIES += src/libhakmem.la
src_libhakmem_la_SOURCES =
src_libhakmem_la_LIBADD = src/libhakmem-core.la
# -z nodelete: the purge thread runs the library's code until the process
# ends, so it must never be unloaded.
src_libhakmem_la_LDFLAGS = -version-info $(HAKMEM_LT_VERSION) -no-undefined \
	$(HAKMEM_LIB_LDFLAGS) -Wl,--version-script=$(srcdir)/src/libhakmem.sym -Wl,-z,nodelete
EXTRA_src_libhakmem_la_DEPENDENCIES = src/libhakmem.sym
EXTRA_DIST += src/libhakmem.sym

## The hardened library (issue 15): the same sources, API and version
## script, compiled again with -DHAKMEM_HARDENED (src/harden.h says what
## that adds); its SONAME is libhakmem-hardened.so.1.  configure
## --disable-hardened skips it.
if HARDENED
lib_LTLIBRARIES += src/libhakmem-hardened.la
src_libhakmem_hardened_la_SOURCES = $(HAKMEM_CORE_SOURCES)
src_libhakmem_hardened_la_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_BUILDING_LIBRARY -DHAKMEM_HARDENED
src_libhakmem_hardened_la_CFLAGS = $(AM_CFLAGS) $(HAKMEM_VISIBILITY_CFLAGS) $(HAKMEM_LIB_CFLAGS)
src_libhakmem_hardened_la_LDFLAGS = $(src_libhakmem_la_LDFLAGS)
EXTRA_src_libhakmem_hardened_la_DEPENDENCIES = src/libhakmem.sym
endif
