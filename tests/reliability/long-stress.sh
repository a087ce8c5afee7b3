#!/bin/sh
# long-stress.sh - the long forms of the C tests (make check-long): the
# seed's race with more threads and rounds, in the configured and the
# debug-guards builds of the library; fork under threads 300 times per
# phase; the 1 GiB memory-return test three times over; the fuzz corpus,
# with what run-fuzz.sh found if it ran here.  Skipped in make check.
set -u
if [ "${REL_LONG:-0}" != 1 ]; then
  echo "long-stress: long form only (make check-long); skipped"
  exit 77
fi
bin=tests/reliability
threads=${REL_RACE_THREADS:-48}
gens=${REL_RACE_GENS:-12}
lives=${REL_RACE_LIVES:-4}
ops=${REL_RACE_OPS:-20000}
status=0
step() {
  echo "== $*"
  "$@" || { echo "long-stress: FAIL: $*"; status=1; }
}
step "$bin/race_seed" -t "$threads" -g "$gens" -l "$lives" -o "$ops" -S 11
step "$bin/race_seed_guard" -t "$threads" -g "$gens" -l "$lives" -o "$ops" -S 12
step "$bin/race_seed" -t "$threads" -g "$gens" -l "$lives" -o "$ops" -S 13 -c 0
step "$bin/fork_threads" 300
step "$bin/rss_return" 1024 3
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
if [ -d "$bin/fuzz-corpus" ] && [ -n "$(ls "$bin/fuzz-corpus")" ]; then
  step "$bin/fuzz_ops_replay" "$srcdir/tests/fuzz" "$bin/fuzz-corpus"
else
  step "$bin/fuzz_ops_replay" "$srcdir/tests/fuzz"
fi
exit $status
