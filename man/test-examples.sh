#!/bin/sh
# test-examples.sh - make check test: every example program in the section 3
# pages (an .EX block that includes <hakmem.h>) must compile without
# warnings against the header and run with the library just built, so the
# pages cannot drift from the API.  Runs from the top build directory.

: "${srcdir:=.}"
libdir=src/.libs
cc=${CC:-cc}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIP: no C compiler ($cc)"
    exit 77
fi
if [ ! -f "$libdir/libhakmem.so" ]; then
    echo "SKIP: no shared library in $libdir"
    exit 77
fi
# Programs linked with a sanitizer build need the sanitizer's run-time too
# (clang leaves its __ubsan_* references undefined in shared libraries).
if grep -q -e __asan_ -e __tsan_ -e __ubsan_ "$libdir/libhakmem.so"; then
    echo "SKIP: the library is built with a sanitizer"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

passed=0
failed=0
n=0
for page in "$srcdir"/man/*.3; do
    name=${page##*/}
    # Each .EX ... .EE block goes to its own file; roff escapes for
    # backslash, minus and fonts are undone.
    awk -v dir="$tmp" -v base="${name%.3}" '
        /^\.EX$/ { n++; f = dir "/" base "-" n ".c"; inblock = 1; next }
        /^\.EE$/ { inblock = 0; close(f); next }
        inblock {
            gsub(/\\e/, "\\"); gsub(/\\-/, "-"); gsub(/\\f[BIRP]/, "")
            print > f
        }' "$page"
    for src in "$tmp/${name%.3}"-*.c; do
        [ -f "$src" ] || continue
        grep -q '^#include <hakmem.h>' "$src" || continue
        n=$((n + 1))
        prog=${src%.c}
        if ! out=$("$cc" -Wall -Wextra -Werror -Iinclude -o "$prog" "$src" \
            -L"$libdir" -lhakmem 2>&1); then
            failed=$((failed + 1))
            echo "FAIL: the example of $name does not compile:"
            printf '%s\n' "$out" | sed 's/^/    /'
        elif ! out=$(LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$prog" 2>&1); then
            failed=$((failed + 1))
            echo "FAIL: the example of $name fails:"
            printf '%s\n' "$out" | sed 's/^/    /'
        else
            passed=$((passed + 1))
            echo "PASS: the example of $name compiles and runs"
        fi
    done
done

if [ "$n" -eq 0 ]; then
    echo "ERROR: no example programs found in $srcdir/man"
    exit 99
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
