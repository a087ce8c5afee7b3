#!/bin/sh
# exported-symbols.sh - the ABI of libhakmem.so.1 is exactly what
# tests/unit/exported-symbols.txt lists: the hak_* API at its version nodes
# (HAKMEM_1.0, HAKMEM_1.1), plus the unversioned malloc family in the
# override build (versioned, it would no longer interpose under
# LD_PRELOAD), nothing else; and the SONAME is libhakmem.so.1.
set -u

case ${TEST_OVERRIDE:-} in
  yes|no) ;;
  *) echo "exported-symbols: TEST_OVERRIDE must be yes or no (make check sets it; by hand: . tests/test-env.sh)"; exit 99 ;;
esac
lib=$TEST_BUILDDIR/src/.libs/libhakmem.so.1
expected=$TEST_SRCDIR/tests/unit/exported-symbols.txt
for tool in nm readelf; do
  command -v $tool >/dev/null 2>&1 || { echo "exported-symbols: $tool not found"; exit 77; }
done
[ -f "$lib" ] || { echo "exported-symbols: $lib not built"; exit 99; }
[ -f "$expected" ] || { echo "exported-symbols: $expected missing"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-syms.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

nm -D --defined-only "$lib" | awk 'NF >= 2 { print $NF }' | LC_ALL=C sort >"$tmp/actual" || {
  echo "exported-symbols: nm failed"; exit 99; }

if [ "$TEST_OVERRIDE" = yes ]; then
  sed -e '/^#/d' -e '/^$/d' -e 's/^override //' "$expected"
else
  sed -e '/^#/d' -e '/^$/d' -e '/^override /d' "$expected"
fi >"$tmp/expected.raw"
# An nm that does not print symbol versions (binutils < 2.35) is compared
# on names only.
if grep -q '@' "$tmp/actual"; then
  LC_ALL=C sort "$tmp/expected.raw" >"$tmp/expected"
else
  sed 's/@.*//' "$tmp/expected.raw" | LC_ALL=C sort >"$tmp/expected"
fi

if ! cmp -s "$tmp/expected" "$tmp/actual"; then
  echo "FAIL: exported symbols differ from tests/unit/exported-symbols.txt (override=$TEST_OVERRIDE)"
  echo "  (- expected only, + exported only)"
  diff "$tmp/expected" "$tmp/actual" | sed -n 's/^< /  - /p; s/^> /  + /p'
  fail=1
fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != libhakmem.so.1 ]; then
  echo "FAIL: SONAME is '$soname', want libhakmem.so.1"
  fail=1
fi

[ $fail -eq 0 ] && echo "exported-symbols: $(wc -l <"$tmp/actual" | tr -d ' ') symbols as expected, SONAME $soname"
exit $fail
