## abi/local.mk - included from the top-level Makefile.am.
## The ABI baseline of libhakmem.so.1 and the test that the library built
## keeps it; see abi/README.md.

TESTS += abi/check-abi.sh
EXTRA_DIST += abi/README.md abi/check-abi.sh abi/libhakmem.abignore abi/libhakmem.so.1.abi

## Writes the ABI of the library just built as the baseline, at a
## release only, from a default build (gcc, no configure options).
abi-baseline: src/libhakmem.la
	abidw --headers-dir $(top_builddir)/include --drop-private-types \
	    --no-corpus-path --no-comp-dir-path --short-locs \
	    --out-file $(srcdir)/abi/libhakmem.so.1.abi src/.libs/libhakmem.so.1
.PHONY: abi-baseline
