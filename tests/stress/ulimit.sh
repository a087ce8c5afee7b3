#!/bin/sh
# ulimit.sh - runs ulimit_alloc (linked with the shared library) under a
# real address-space limit, ulimit -v: allocation until ENOMEM, free all,
# allocate again.  Skipped (77) in TSan/ASan builds, whose runtimes need
# terabytes of address space for their shadow memory.
set -u
[ -n "${TEST_BUILDDIR:-}" ] || {
  echo "ulimit: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
case $TEST_SANITIZER in
  *thread* | *address*) echo "ulimit: sanitizer build ($TEST_SANITIZER): skipped"; exit 77 ;;
esac
prog=$TEST_BUILDDIR/tests/stress/ulimit_alloc
[ -x "$prog" ] || { echo "ulimit: $prog not built"; exit 99; }
limit_kb=${TEST_ULIMIT_KB:-393216}  # 384 MiB
echo "ulimit: ulimit -v $limit_kb"
(ulimit -v "$limit_kb" && exec "$prog")
