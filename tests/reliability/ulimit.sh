#!/bin/sh
# ulimit.sh - runs ulimit_alloc (linked with the shared library) under a
# real address-space limit, ulimit -v: allocation until ENOMEM, free all,
# allocate again.  Skipped (77) in TSan/ASan builds, whose runtimes need
# terabytes of address space for their shadow memory.
set -u
env=${REL_ENV:-tests/reliability/rel-env.sh}
[ -f "$env" ] || { echo "ulimit: $env not found (run from the build directory)"; exit 99; }
. "$env"
case $REL_SANITIZER in
  *thread* | *address*) echo "ulimit: sanitizer build ($REL_SANITIZER): skipped"; exit 77 ;;
esac
prog=tests/reliability/ulimit_alloc
[ -x "$prog" ] || { echo "ulimit: $prog not built"; exit 99; }
limit_kb=${REL_ULIMIT_KB:-393216}  # 384 MiB
echo "ulimit: ulimit -v $limit_kb"
(ulimit -v "$limit_kb" && exec "$prog")
