#!/bin/sh
# unowned-drain-caught.sh - proves that slab_ownership catches a library
# that drains slabs it does not own: it runs the program linked with
# builds of the library with the HAKMEM_TEST_UNOWNED_DRAIN hook (every
# remote free drains the slab without owning it) and passes only when
# those runs FAIL.
#
#  proof 1 (debug-guards build of the unowned-drain library): must die
#          with a report, of the library (hakmem: ...) or of the test
#          (FAIL: ...);
#  proof 2 (unowned-drain library as configured, no extra guards): the
#          test must fail: fill mismatch, hak_check, stats balance, a
#          library report or a crash.
# Each proof gets up to TEST_UNOWNED_TRIES runs (default 5; in 20 runs of
# each, every first run failed, within 0.3 s).
# A run that passes, or is still running after its time bound
# (TEST_UNOWNED_SECONDS, default 60), counts as "not caught"; when a proof
# is not met the script fails.
set -u
[ -n "${TEST_BUILDDIR:-}" ] || {
  echo "unowned-drain-caught: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"
  exit 99
}
bindir=$TEST_BUILDDIR/tests/stress
tries=${TEST_UNOWNED_TRIES:-5}
bound=${TEST_UNOWNED_SECONDS:-60}
out=$(mktemp "${TMPDIR:-/tmp}/hakmem-unowned-drain.XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT

for p in slab_ownership_unowned_drain_guard slab_ownership_unowned_drain; do
  [ -x "$bindir/$p" ] || { echo "unowned-drain-caught: $bindir/$p not built"; exit 99; }
done
if command -v timeout >/dev/null 2>&1; then
  run_bounded() { timeout "$bound" "$@"; }
else
  run_bounded() { "$@"; }
fi

# run NAME ARGS...: 0 when the run failed (caught), 1 when it passed or timed out.
run() {
  name=$1
  shift
  run_bounded "$bindir/$name" "$@" >"$out" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "  $name: passed (bug NOT caught)"
    return 1
  elif [ $rc -eq 124 ]; then
    echo "  $name: still running after ${bound}s (bug NOT caught)"
    return 1
  fi
  echo "  $name: failed with status $rc (caught): $(grep -m1 -E 'FAIL|hakmem|Sanitizer|SIGSEGV' "$out" || tail -n1 "$out")"
  return 0
}

status=0
echo "proof 1: debug-guards build of the unowned-drain library, up to $tries runs"
caught=0
i=0
while [ $i -lt "$tries" ]; do
  i=$((i + 1))
  if run slab_ownership_unowned_drain_guard -S "$i"; then
    if grep -q -E 'hakmem: |slab_ownership[a-z_]*: FAIL|ThreadSanitizer|runtime error' "$out"; then
      caught=1
      break
    fi
    echo "  ...but without a report of the library, the test or a sanitizer:"
    cat "$out"
  fi
done
[ $caught -eq 1 ] || status=1

echo "proof 2: unowned-drain library as configured, up to $tries runs"
caught=0
i=0
while [ $i -lt "$tries" ]; do
  i=$((i + 1))
  if run slab_ownership_unowned_drain -S "$i"; then
    caught=1
    break
  fi
done
[ $caught -eq 1 ] || status=1

[ $status -eq 0 ] && echo "unowned-drain-caught: the unowned-drain builds failed, as they must"
exit $status
