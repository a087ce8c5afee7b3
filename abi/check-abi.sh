#!/bin/sh
# check-abi.sh - make check test: the library just built keeps the ABI of
# hakmem 1.0.0, abi/libhakmem.so.1.abi (libabigail's abidw; see
# abi/README.md).  abidiff fails on every change but added functions
# and fields appended to struct hak_stats (abi/libhakmem.abignore): a
# removed or re-versioned symbol, a changed prototype, a public type laid
# out otherwise.  Skipped where abidiff (Debian: abigail-tools) is not
# installed, unless TEST_REQUIRE_ABIDIFF=1 (CI).
set -u

case ${TEST_OVERRIDE:-} in
  yes|no) ;;
  *) echo "check-abi: TEST_OVERRIDE must be yes or no (make check sets it; by hand: . tests/test-env.sh)"; exit 99 ;;
esac
lib=$TEST_LIB
baseline=$TEST_SRCDIR/abi/libhakmem.so.1.abi
if ! command -v abidiff >/dev/null 2>&1; then
  if [ "${TEST_REQUIRE_ABIDIFF:-}" = 1 ]; then
    echo "check-abi: abidiff not found; install abigail-tools"
    exit 99
  fi
  echo "SKIP: abidiff not found (abigail-tools)"
  exit 77
fi
[ -f "$lib" ] || { echo "check-abi: $lib not built"; exit 99; }
[ -f "$baseline" ] || { echo "check-abi: $baseline missing"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-abi.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

set -- --no-added-syms --drop-private-types --headers-dir2 "$TEST_BUILDDIR/include" \
  --suppressions "$TEST_SRCDIR/abi/libhakmem.abignore"
if [ "$TEST_OVERRIDE" = no ]; then
  # The baseline is the default build's: without the override the
  # malloc family stays the C library's, by design.
  printf '[suppress_function]\n  change_kind = deleted-function\n  name_not_regexp = ^hak_\n' \
    >"$tmp/no-override.abignore"
  set -- "$@" --suppressions "$tmp/no-override.abignore"
fi

abidiff "$@" "$baseline" "$lib" >"$tmp/report" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
  echo "check-abi: the ABI of hakmem 1.0.0 is kept (override=$TEST_OVERRIDE)"
  exit 0
fi
cat "$tmp/report"
# abidiff's exit status is a bit field: 1 an error, 2 a usage error,
# 4 an ABI change, 8 an incompatible one.
if [ $((rc & 3)) -ne 0 ]; then
  echo "check-abi: abidiff failed (status $rc)"
  exit 99
fi
echo "FAIL: the ABI of hakmem 1.0.0 changed (abidiff status $rc): see above"
exit 1
