## tools/local.mk - included from the top-level Makefile.am.
## The hakmem(1) command: a shell script that preloads the installed
## library, plus its test against the library just built.

bin_SCRIPTS += tools/hakmem
CLEANFILES += tools/hakmem
EXTRA_DIST += tools/hakmem.in tools/test-hakmem-command.sh
TESTS += tools/test-hakmem-command.sh

# Substituted here rather than by config.status (AC_CONFIG_FILES), because
# there @libdir@ would stay "${exec_prefix}/lib": make expands it fully,
# and honours a prefix or libdir given on the make command line.
tools/hakmem: $(srcdir)/tools/hakmem.in Makefile
	$(AM_V_GEN)$(MKDIR_P) tools && rm -f $@ $@.tmp && \
	$(SED) -e 's|@libdir[@]|$(libdir)|g' \
	    -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	    -e 's|@PACKAGE_BUGREPORT[@]|$(PACKAGE_BUGREPORT)|g' \
	    $(srcdir)/tools/hakmem.in >$@.tmp && \
	chmod +x $@.tmp && chmod a-w $@.tmp && mv -f $@.tmp $@
