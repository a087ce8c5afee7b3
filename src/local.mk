## src/local.mk - the library, layer by layer:
## OS pages -> SuperSlab -> slab -> thread heap -> public API.

# Everything is built once into a convenience library, so white-box tests
# can link the internals statically; libhakmem.la adds the version script.
noinst_LTLIBRARIES += src/libhakmem-core.la
HAKMEM_CORE_SOURCES = \
	src/internal.h \
	src/debug_log.h src/diag.c src/diag.h \
	src/output.c src/output.h \
	src/lock.h src/lock.c \
	src/env.c src/env.h \
	src/os_pages.c src/os_pages.h \
	src/chunk_map.c src/chunk_map.h \
	src/size_class.c src/size_class.h \
	src/superslab.c src/superslab.h \
	src/slab.c src/slab.h \
	src/heap.c src/heap.h \
	src/large.c src/large.h \
	src/stats.c src/stats.h \
	src/process.c src/process.h \
	src/check.c \
	src/api.h src/api.c \
	src/override.c
src_libhakmem_core_la_SOURCES = $(HAKMEM_CORE_SOURCES)
src_libhakmem_core_la_CPPFLAGS = $(AM_CPPFLAGS) -DHAKMEM_BUILDING_LIBRARY
src_libhakmem_core_la_CFLAGS = $(AM_CFLAGS) $(HAKMEM_VISIBILITY_CFLAGS) $(HAKMEM_LIB_CFLAGS)

lib_LTLIBRARIES += src/libhakmem.la
src_libhakmem_la_SOURCES =
src_libhakmem_la_LIBADD = src/libhakmem-core.la
src_libhakmem_la_LDFLAGS = -version-info $(HAKMEM_LT_VERSION) -no-undefined \
	$(HAKMEM_LIB_LDFLAGS) -Wl,--version-script=$(srcdir)/src/libhakmem.sym
EXTRA_src_libhakmem_la_DEPENDENCIES = src/libhakmem.sym
EXTRA_DIST += src/libhakmem.sym
