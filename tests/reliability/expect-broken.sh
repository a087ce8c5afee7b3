#!/bin/sh
# expect-broken.sh - proves that race_seed catches the seed's bug: it runs
# the race program linked against library builds with the
# HAKMEM_TEST_UNOWNED_DRAIN hook (every remote free drains the slab
# without owning it) and passes only when those runs FAIL.
#
#  proof 1 (debug-guards build of the broken library): must die with a
#          report, of the library (hakmem: ...) or of the test (FAIL: ...);
#  proof 2 (broken library as configured, no extra guards): the race test
#          must fail: stamp mismatch, hak_check, stats balance, a library
#          report or a crash.
# Each proof gets up to REL_BROKEN_TRIES runs (default 5; in 20 runs of
# each, every first run failed, within 0.3 s).
# A run that passes, or is still running after its time bound, counts as
# "not caught"; when a proof is not met the script fails.
set -u
bindir=tests/reliability
tries=${REL_BROKEN_TRIES:-5}
bound=${REL_BROKEN_SECONDS:-60}
out=$(mktemp "${TMPDIR:-/tmp}/hakmem-broken.XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT

for p in race_seed_broken_guard race_seed_broken; do
  [ -x "$bindir/$p" ] || { echo "expect-broken: $bindir/$p not built"; exit 99; }
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
echo "proof 1: debug-guards build of the broken library, up to $tries runs"
caught=0
i=0
while [ $i -lt "$tries" ]; do
  i=$((i + 1))
  if run race_seed_broken_guard -S "$i"; then
    if grep -q -E 'hakmem: |race_seed: FAIL|ThreadSanitizer|runtime error' "$out"; then
      caught=1
      break
    fi
    echo "  ...but without a report of the library, the test or a sanitizer:"
    cat "$out"
  fi
done
[ $caught -eq 1 ] || status=1

echo "proof 2: broken library as configured, up to $tries runs"
caught=0
i=0
while [ $i -lt "$tries" ]; do
  i=$((i + 1))
  if run race_seed_broken -S "$i"; then
    caught=1
    break
  fi
done
[ $caught -eq 1 ] || status=1

[ $status -eq 0 ] && echo "expect-broken: the broken builds failed, as they must"
exit $status
