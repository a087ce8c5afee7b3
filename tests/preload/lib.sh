# lib.sh - sourced by the preload tests but interpose.sh: checks the
# build's settings (TEST_* of tests/test-env.sh), skips (77) where
# LD_PRELOAD cannot work (a --disable-override build, or a sanitizer build
# whose library needs the sanitizer runtime in the executable), and gives
# the helpers below.  TEST_LONG=1 (make check-long) selects the long forms.

test_base=${0##*/}
test_base=${test_base%.sh}
test_name=preload/$test_base
[ -n "${TEST_LIB:-}" ] || {
  echo "$test_name: TEST_LIB not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
if [ "$TEST_OVERRIDE" != yes ]; then
  echo "$test_name: --disable-override build: nothing to preload; skipped"
  exit 77
fi
if [ -n "$TEST_SANITIZER" ]; then
  echo "$test_name: sanitizer build ($TEST_SANITIZER): the library needs the runtime linked into the program; skipped"
  exit 77
fi
[ -f "$TEST_LIB" ] || { echo "$test_name: $TEST_LIB not built"; exit 99; }
long=${TEST_LONG:-0}

# The programs' own HAKMEM_* settings must not change what they print.
for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-preload-$test_base.XXXXXX") || exit 99
cleanup_hooks=
trap 'eval "$cleanup_hooks"; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# need CMD... : skips (77) when a command is missing, naming the package.
need() {
  for c in "$@"; do
    command -v "${c%%:*}" >/dev/null 2>&1 || {
      echo "$test_name: ${c%%:*} not installed (Debian package ${c#*:}); skipped"
      exit 77
    }
  done
}

# with_hakmem CMD... : runs CMD with the library preloaded.
with_hakmem() { LD_PRELOAD=$TEST_LIB "$@"; }

# proves_hakmem FILE: FILE holds HAKMEM_STATS=json output with allocations.
proves_hakmem() {
  if grep -q '"allocs":[1-9]' "$1"; then
    return 0
  fi
  echo "$test_name: FAIL: no hakmem statistics in $1: was the library really preloaded?"
  sed -n 1,20p "$1"
  return 1
}
