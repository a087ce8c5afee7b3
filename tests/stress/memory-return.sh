#!/bin/sh
# memory-return.sh - memory freed into the slabs of a thread that stopped
# allocating, and the slabs of threads that only wait, go back.  Runs
# memory_return (plain malloc and free, not linked with hakmem) under
# LD_PRELOAD, and without it for the C library's figure:
#   1. the hand-off with HAKMEM_CACHE_MB=0 ends below 5% of its peak
#      resident memory: nothing is kept for reuse, and a slab the owner
#      keeps no longer holds what another thread freed into it;
#   2. so does the hand-off with the default cache: what reached the
#      shared caches goes back within about a second of idling (the purge
#      thread), and the program sleeps 2 s;
#   3. 32 threads that allocated a little, freed it and wait hold at most
#      twice the C library's resident memory (plus 4 MiB; the C library's
#      figure is the median of 3 runs, for its own swings from 5 to 25 MiB
#      with the arenas its threads happen to share), with
#      HAKMEM_CACHE_MB=0 and with the default cache: a waiting thread
#      keeps almost no empty slab memory, and what it gave back leaves the
#      caches when idle.  Not in debug-guard builds, which write every
#      freed block whole.
# Skipped (77) where malloc is not hakmem's to interpose (--disable-override)
# and in sanitizer builds (their runtimes count in resident memory).
set -u
[ -n "${TEST_BUILDDIR:-}" ] || {
  echo "memory-return: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
[ "$TEST_OVERRIDE" = yes ] || { echo "memory-return: no malloc override in this build: skipped"; exit 77; }
[ -z "$TEST_SANITIZER" ] || { echo "memory-return: sanitizer build ($TEST_SANITIZER): skipped"; exit 77; }
prog=$TEST_BUILDDIR/tests/stress/memory_return
[ -x "$prog" ] || { echo "memory-return: $prog not built"; exit 99; }
[ -f "$TEST_LIB" ] || { echo "memory-return: $TEST_LIB not built"; exit 99; }

fail=0
# field NAME LINE: the number after NAME in LINE
field() { printf '%s\n' "$2" | sed -n "s/.*$1 \([0-9][0-9]*\).*/\1/p"; }

handoff() {
  what=$1 slack_kb=$2
  shift 2
  out=$(env "$@" LD_PRELOAD="$TEST_LIB" "$prog" handoff) || {
    echo "FAIL: hand-off ($what) failed: $out"; fail=1; return; }
  peak=$(field peak_kb "$out") after=$(field after_kb "$out")
  bound=$((peak / 20 + slack_kb))
  echo "hand-off ($what): peak $((peak / 1024)) MiB, after $((after / 1024)) MiB, bound $((bound / 1024)) MiB"
  [ "$after" -le "$bound" ] || { echo "FAIL: hand-off ($what) kept too much"; fail=1; }
}
handoff "HAKMEM_CACHE_MB=0" 0 HAKMEM_CACHE_MB=0
handoff "default cache" 0

if [ "$TEST_DEBUG_GUARDS" = yes ]; then
  echo "32 waiting threads: debug-guard build, not compared"
  exit $fail
fi
runs=
for i in 1 2 3; do runs="$runs $(field waiting_kb "$("$prog" waiters)")"; done
glibc=$(printf '%s\n' $runs | sort -n | sed -n 2p)
for cache in 0 default; do
  if [ $cache = 0 ]; then
    hakmem=$(field waiting_kb "$(HAKMEM_CACHE_MB=0 LD_PRELOAD="$TEST_LIB" "$prog" waiters)")
  else
    hakmem=$(field waiting_kb "$(LD_PRELOAD="$TEST_LIB" "$prog" waiters)")
  fi
  if [ -z "$glibc" ] || [ -z "$hakmem" ]; then
    echo "FAIL: waiters did not run"; fail=1
  else
    echo "32 waiting threads ($cache cache): hakmem $((hakmem / 1024)) MiB, C library $((glibc / 1024)) MiB"
    [ "$hakmem" -le $((2 * glibc + 4096)) ] || { echo "FAIL: more than twice the C library's"; fail=1; }
  fi
done
exit $fail
