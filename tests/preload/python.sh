#!/bin/sh
# python.sh - CPython's own regression tests for its core types,
# run with hakmem preloaded and PYTHONMALLOC=malloc (every object goes
# through malloc, not pymalloc's arenas): must pass as they do without.
# Short form (make check): test_list test_dict; long (TEST_LONG=1):
# test_list test_dict test_set test_unicode test_bytes test_threading.
# A test that fails is re-run once in verbose mode (-w, as Debian's own
# runs do: test_threading has timing-sensitive cases); it fails this
# script only if it fails again, and the first failure stays in the log.
# Needs Debian's python3 and libpython3.11-testsuite.
set -u
. "$(dirname "$0")/lib.sh"

# Debian's interpreter: its test package is the one the testsuite installs
# (another python3 earlier in PATH may have none).
py=${TEST_PYTHON:-/usr/bin/python3}
[ -x "$py" ] || need python3:python3
if ! "$py" -c 'import test.libregrtest, test.test_list' >/dev/null 2>&1; then
  echo "$test_name: $py has no regression tests (Debian package libpython3.11-testsuite); skipped"
  exit 77
fi
if [ "$long" = 1 ]; then
  tests="test_list test_dict test_set test_unicode test_bytes test_threading"
else
  tests="test_list test_dict"
fi

cd "$tmp" || exit 99
echo "$test_name: $py -m test $tests (LD_PRELOAD, PYTHONMALLOC=malloc)"
# No HAKMEM_STATS here: the tests' child interpreters inherit it, and
# several of them require an empty stderr.
PYTHONMALLOC=malloc with_hakmem "$py" -m test -w --timeout 1200 $tests >"$tmp/out" 2>&1
rc=$?
if grep -q 're-run test' "$tmp/out"; then
  echo "$test_name: WARNING: a test failed once with hakmem and was re-run; its output:"
  cat "$tmp/out"
else
  tail -n 6 "$tmp/out"
fi
if [ $rc -ne 0 ]; then
  # Is it hakmem, or does this Python fail these tests anyway?
  PYTHONMALLOC=malloc "$py" -m test --timeout 1200 $tests >"$tmp/ref" 2>&1
  if [ $? -ne 0 ]; then
    echo "$test_name: the tests fail without hakmem too; skipped"
    tail -n 20 "$tmp/ref"
    exit 77
  fi
  echo "$test_name: FAIL: the tests pass without hakmem and fail with it (status $rc)"
  tail -n 40 "$tmp/out"
  exit 1
fi
# The same interpreter, preloaded the same way, did allocate with hakmem.
HAKMEM_STATS=json PYTHONMALLOC=malloc with_hakmem "$py" -c 'x = [str(i) for i in range(10000)]' \
  2>"$tmp/stats"
proves_hakmem "$tmp/stats" || exit 1
echo "$test_name: passed with hakmem"
