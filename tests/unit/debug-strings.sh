#!/bin/sh
# debug-strings.sh - diagnostics exist only in --enable-debug-guards builds:
# every debug message starts with "hakmem-debug:", so that string must be
# in libhakmem.so.1 exactly when the build has debug guards.
set -u

case ${TEST_DEBUG_GUARDS:-} in
  yes|no) ;;
  *) echo "debug-strings: TEST_DEBUG_GUARDS must be yes or no (make check sets it; by hand: . tests/test-env.sh)"; exit 99 ;;
esac
lib=$TEST_BUILDDIR/src/.libs/libhakmem.so.1
[ -f "$lib" ] || { echo "debug-strings: $lib not built"; exit 99; }

if LC_ALL=C grep -a -q 'hakmem-debug:' "$lib"; then found=yes; else found=no; fi
if [ "$found" != "$TEST_DEBUG_GUARDS" ]; then
  if [ "$found" = yes ]; then
    echo "FAIL: a build without debug guards contains debug messages:"
    LC_ALL=C grep -a -o 'hakmem-debug:[[:print:]]*' "$lib" | head -20 | sed 's/^/  | /'
  else
    echo "FAIL: a --enable-debug-guards build contains no 'hakmem-debug:' message"
  fi
  exit 1
fi
echo "debug-strings: 'hakmem-debug:' present=$found, as expected (debug guards: $TEST_DEBUG_GUARDS)"
exit 0
