#!/bin/sh
# long-stress.sh - the long forms of the C tests (make check-long): no
# unowned drain with more threads and rounds, in the configured and the
# debug-guards builds of the library and unpinned; fork under threads 300
# times per phase; the 1 GiB memory-return test three times over; the
# fuzz corpus, with what run-fuzz.sh found if it ran here.  Skipped in
# make check.
set -u
if [ "${TEST_LONG:-0}" != 1 ]; then
  echo "long-stress: long form only (make check-long); skipped"
  exit 77
fi
[ -n "${TEST_BUILDDIR:-}" ] || {
  echo "long-stress: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
bin=$TEST_BUILDDIR/tests
threads=${TEST_OWNERSHIP_THREADS:-48}
gens=${TEST_OWNERSHIP_GENS:-12}
lives=${TEST_OWNERSHIP_LIVES:-4}
ops=${TEST_OWNERSHIP_OPS:-20000}
status=0
step() {
  echo "== $*"
  "$@" || { echo "long-stress: FAIL: $*"; status=1; }
}
step "$bin/stress/slab_ownership" -t "$threads" -g "$gens" -l "$lives" -o "$ops" -S 11
step "$bin/stress/slab_ownership_guard" -t "$threads" -g "$gens" -l "$lives" -o "$ops" -S 12
step "$bin/stress/slab_ownership" -t "$threads" -g "$gens" -l "$lives" -o "$ops" -S 13 -c 0
step "$bin/stress/fork_threads" 300
step "$bin/stress/rss_return" 1024 3
corpus=$TEST_SRCDIR/tests/fuzz/corpus
if [ -d "$bin/fuzz/grown" ] && [ -n "$(ls "$bin/fuzz/grown")" ]; then
  step "$bin/fuzz/fuzz_ops_replay" "$corpus" "$bin/fuzz/grown"
else
  step "$bin/fuzz/fuzz_ops_replay" "$corpus"
fi
exit $status
