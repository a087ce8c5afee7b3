#!/bin/sh
# idle-return.sh - memory goes back while a process idles: runs
# tests/stress/idle_return with the purge thread (the resident set falls
# below a tenth of its peak within 3 s, in a fork child too, and the
# thread is named and blocks every signal) and with HAKMEM_BACKGROUND=0
# (it does not: so the check can fail, and the switch works).
set -u

[ -n "${TEST_BUILDDIR:-}" ] ||
  { echo "idle-return: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
prog=$TEST_BUILDDIR/tests/stress/idle_return
[ -x "$prog" ] || { echo "idle-return: $prog not built"; exit 99; }

# Whatever the caller's environment holds, start without any HAKMEM_ variable.
for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

fail=0
run() {
  echo "== $*"
  "$@" || { echo "FAIL: $*"; fail=1; }
}
run "$prog" return
run env HAKMEM_BACKGROUND=0 "$prog" kept
run "$prog" fork
run "$prog" thread
exit $fail
