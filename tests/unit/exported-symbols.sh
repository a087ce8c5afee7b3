#!/bin/sh
# exported-symbols.sh - the ABI of libhakmem.so.1 and, when it is built,
# of libhakmem-hardened.so.1 is exactly what tests/unit/exported-symbols.txt
# lists: the hak_* API at its version nodes (HAKMEM_1.0, HAKMEM_1.1), plus
# the unversioned malloc family and C++ operators in the override build
# (versioned, they would no longer interpose under LD_PRELOAD), nothing
# else; and each SONAME is the library's name.
set -u

case ${TEST_OVERRIDE:-} in
  yes|no) ;;
  *) echo "exported-symbols: TEST_OVERRIDE must be yes or no (make check sets it; by hand: . tests/test-env.sh)"; exit 99 ;;
esac
expected=$TEST_SRCDIR/tests/unit/exported-symbols.txt
for tool in nm readelf; do
  command -v $tool >/dev/null 2>&1 || { echo "exported-symbols: $tool not found"; exit 77; }
done
[ -f "$expected" ] || { echo "exported-symbols: $expected missing"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-syms.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

if [ "$TEST_OVERRIDE" = yes ]; then
  sed -e '/^#/d' -e '/^$/d' -e 's/^override //' "$expected"
else
  sed -e '/^#/d' -e '/^$/d' -e '/^override /d' "$expected"
fi >"$tmp/expected.raw"

# check LIB: LIB exports the expected symbols and its SONAME is its name.
check() {
  lib=$1
  name=$(basename "$lib")
  [ -f "$lib" ] || { echo "FAIL: $lib not built"; fail=1; return; }
  nm -D --defined-only "$lib" | awk 'NF >= 2 { print $NF }' | LC_ALL=C sort >"$tmp/actual" || {
    echo "FAIL: nm $lib failed"; fail=1; return; }
  # An nm that does not print symbol versions (binutils < 2.35) is
  # compared on names only.
  if grep -q '@' "$tmp/actual"; then
    LC_ALL=C sort "$tmp/expected.raw" >"$tmp/expected"
  else
    sed 's/@.*//' "$tmp/expected.raw" | LC_ALL=C sort >"$tmp/expected"
  fi
  if ! cmp -s "$tmp/expected" "$tmp/actual"; then
    echo "FAIL: $name: exported symbols differ from tests/unit/exported-symbols.txt (override=$TEST_OVERRIDE)"
    echo "  (- expected only, + exported only)"
    diff "$tmp/expected" "$tmp/actual" | sed -n 's/^< /  - /p; s/^> /  + /p'
    fail=1
  fi
  soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
  if [ "$soname" != "$name" ]; then
    echo "FAIL: $name: SONAME is '$soname', want $name"
    fail=1
  else
    echo "exported-symbols: $name: $(wc -l <"$tmp/actual" | tr -d ' ') symbols as expected, SONAME $soname"
  fi
}

# check_debian FILE: a Debian symbols file names exactly the symbols of the
# override build (the packages build it), each at its version node or Base,
# so that dpkg-gensymbols never finds one missing or new.
check_debian() {
  file=$TEST_SRCDIR/debian/$1
  [ -f "$file" ] || { echo "exported-symbols: $1 not in this tree"; return; }
  sed -e '/^#/d' -e '/^$/d' -e 's/^override //' "$expected" |
    sed -e 's/@@/@/' -e 's/^\(HAKMEM_[0-9.]*\)$/\1@\1/' -e '/@/!s/$/@Base/' |
    LC_ALL=C sort >"$tmp/debian.expected"
  sed -n 's/^ \([^ ]*\) .*/\1/p' "$file" | LC_ALL=C sort >"$tmp/debian.actual"
  if ! cmp -s "$tmp/debian.expected" "$tmp/debian.actual"; then
    echo "FAIL: debian/$1 differs from tests/unit/exported-symbols.txt"
    echo "  (- expected only, + listed only)"
    diff "$tmp/debian.expected" "$tmp/debian.actual" | sed -n 's/^< /  - /p; s/^> /  + /p'
    fail=1
  else
    echo "exported-symbols: debian/$1 lists the $(wc -l <"$tmp/debian.actual" | tr -d ' ') symbols"
  fi
}

check "$TEST_BUILDDIR/src/.libs/libhakmem.so.1"
check_debian libhakmem1.symbols
check_debian libhakmem-hardened1.symbols
case ${TEST_HARDENED:-} in
  yes) check "$TEST_HARDENED_LIB" ;;
  no) echo "exported-symbols: libhakmem-hardened.so.1 not built (configure --disable-hardened)" ;;
  *) echo "exported-symbols: TEST_HARDENED must be yes or no (. tests/test-env.sh)"; exit 99 ;;
esac
exit $fail
