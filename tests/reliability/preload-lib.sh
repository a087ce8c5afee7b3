# preload-lib.sh - sourced by the preload-*.sh tests: reads the build's
# settings (rel-env.sh), skips (77) where LD_PRELOAD cannot work (a
# --disable-override build, or a sanitizer build whose library needs the
# sanitizer runtime in the executable), and gives the helpers below.
# REL_LONG=1 (make check-long) selects the long forms.

rel_name=${0##*/}
rel_name=${rel_name%.sh}
env=${REL_ENV:-tests/reliability/rel-env.sh}
[ -f "$env" ] || { echo "$rel_name: $env not found (run from the build directory)"; exit 99; }
. "$env"
if [ "$REL_OVERRIDE" != yes ]; then
  echo "$rel_name: --disable-override build: nothing to preload; skipped"
  exit 77
fi
if [ -n "$REL_SANITIZER" ]; then
  echo "$rel_name: sanitizer build ($REL_SANITIZER): the library needs the runtime linked into the program; skipped"
  exit 77
fi
[ -f "$REL_LIB" ] || { echo "$rel_name: $REL_LIB not built"; exit 99; }
long=${REL_LONG:-0}

# The programs' own HAKMEM_* settings must not change what they print.
for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-$rel_name.XXXXXX") || exit 99
cleanup_hooks=
trap 'eval "$cleanup_hooks"; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# need CMD... : skips (77) when a command is missing, naming the package.
need() {
  for c in "$@"; do
    command -v "${c%%:*}" >/dev/null 2>&1 || {
      echo "$rel_name: ${c%%:*} not installed (Debian package ${c#*:}); skipped"
      exit 77
    }
  done
}

# with_hakmem CMD... : runs CMD with the library preloaded.
with_hakmem() { LD_PRELOAD=$REL_LIB "$@"; }

# proves_hakmem FILE: FILE holds HAKMEM_STATS=json output with allocations.
proves_hakmem() {
  if grep -q '"allocs":[1-9]' "$1"; then
    return 0
  fi
  echo "$rel_name: FAIL: no hakmem statistics in $1: was the library really preloaded?"
  sed -n 1,20p "$1"
  return 1
}
