#!/bin/sh
# interpose.sh - LD_PRELOAD=libhakmem.so.1 replaces the allocator of
# ordinary programs (override build only): python3, perl, sort and
# gzip/gunzip over a few MB of generated data, and a C++ program (new and
# delete) if a C++ compiler exists.  Each output must be byte-identical to
# the run without hakmem; a ctypes probe, hak_stats in the C++ program and
# HAKMEM_STATS=json prove hakmem really was the allocator.
set -u

case ${TEST_OVERRIDE:-} in
  yes) ;;
  no) echo "interpose: --disable-override build, nothing to preload"; exit 77 ;;
  *) echo "interpose: TEST_OVERRIDE must be yes or no (make check sets it; by hand: . tests/test-env.sh)"; exit 99 ;;
esac
case $TEST_LIB in
  /*) ;;
  *) echo "interpose: TEST_LIB must be an absolute path"; exit 99 ;;
esac
lib=$TEST_LIB
here=$TEST_SRCDIR/tests/preload
[ -f "$lib" ] || { echo "interpose: $lib not built"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-interpose.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0 ran=0
bad() { echo "FAIL: $*"; fail=1; }

# No HAKMEM_* setting of the caller may change what the programs print.
for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

# About 3 MB of pseudo-random words, generated without hakmem.
awk 'BEGIN {
  x = 12345
  for (i = 0; i < 100000; i++) {
    line = ""
    n = 1 + i % 7
    for (j = 0; j < n; j++) {
      x = (x * 69069 + 1) % 4294967296
      len = 1 + x % 12
      w = ""
      y = x
      for (k = 0; k < len; k++) {
        y = (y * 69069 + 1) % 4294967296
        w = w sprintf("%c", 97 + int(y / 65536) % 26)
      }
      line = line (j ? " " : "") w
    }
    print line
  }
}' >"$tmp/data" || { echo "interpose: awk failed"; exit 99; }

# same NAME CMD...: runs CMD plainly and under LD_PRELOAD; compares stdout
# and both exit statuses.
same() {
  name=$1
  shift
  "$@" >"$tmp/$name.ref" 2>"$tmp/$name.referr"
  rc_ref=$?
  LD_PRELOAD=$lib "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  ran=$((ran + 1))
  if [ $rc_ref -ne 0 ]; then
    bad "$name: fails even without hakmem ($rc_ref):"; sed 's/^/  | /' "$tmp/$name.referr" | head -20
  elif [ $rc -ne 0 ]; then
    bad "$name: exit status $rc under LD_PRELOAD:"; sed 's/^/  | /' "$tmp/$name.err" | head -20
  elif ! cmp -s "$tmp/$name.ref" "$tmp/$name.out"; then
    bad "$name: output differs under LD_PRELOAD"
  else
    echo "ok: $name"
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }

if have sort; then
  same sort env LC_ALL=C sort "$tmp/data"
  same sort-parallel env LC_ALL=C sort --parallel=2 -S 1M -T "$tmp" -k2,2 -k1,1r "$tmp/data"
else
  echo "skip: sort not found"
fi

if have gzip; then
  same gzip gzip -c -6 "$tmp/data"
  gzip -c "$tmp/data" >"$tmp/data.gz"
  same gunzip gunzip -c "$tmp/data.gz"
  if ! cmp -s "$tmp/gunzip.out" "$tmp/data"; then bad "gunzip under LD_PRELOAD did not restore the data"; fi
else
  echo "skip: gzip not found"
fi

if have python3 && python3 -c pass >/dev/null 2>&1; then
  same python3 python3 "$here/interpose-work.py" "$tmp/data"
  # malloc, as the process resolves it, is hakmem's
  if ! LD_PRELOAD=$lib python3 -c '
import ctypes
c = ctypes.CDLL(None)
c.malloc.restype = ctypes.c_void_p
c.malloc.argtypes = [ctypes.c_size_t]
for f in (c.hak_usable_size, c.malloc_usable_size):
    f.restype = ctypes.c_size_t
    f.argtypes = [ctypes.c_void_p]
p = c.malloc(100)
assert c.hak_usable_size(p) == 112 == c.malloc_usable_size(p), "not a hakmem block"
c.free.argtypes = [ctypes.c_void_p]
c.free(p)
' >"$tmp/probe.err" 2>&1; then
    bad "python3 under LD_PRELOAD: malloc is not hakmem's:"; sed 's/^/  | /' "$tmp/probe.err"
  fi
else
  echo "skip: python3 not found"
fi

if have perl; then
  same perl perl "$here/interpose-work.pl" "$tmp/data"
  # statistics at exit prove the library served perl's allocations (perl,
  # unlike sort and cat, leaves stderr open for the library's destructor)
  if LD_PRELOAD=$lib HAKMEM_STATS=json perl -e 'my %h; $h{$_} = "x" x $_ for 1 .. 2000;' \
       >/dev/null 2>"$tmp/perl-stats"; then
    if [ ! -s "$tmp/perl-stats" ]; then
      bad "perl with HAKMEM_STATS=json under LD_PRELOAD printed no statistics"
    elif have python3 && ! python3 -c 'import json,sys; d = json.load(sys.stdin); sys.exit(0 if d.get("allocs", 0) > 2000 else 1)' <"$tmp/perl-stats" 2>/dev/null; then
      bad "statistics of preloaded perl are not JSON or count no allocations:"; head -c 600 "$tmp/perl-stats" | sed 's/^/  | /'
    fi
  else
    bad "perl with HAKMEM_STATS=json under LD_PRELOAD failed"
  fi
else
  echo "skip: perl not found"
fi

cxx=
for c in ${CXX:-} g++ c++ clang++; do
  if have "$c"; then cxx=$c; break; fi
done
if [ -n "$cxx" ]; then
  if "$cxx" -std=c++17 -O1 -pthread -I"$TEST_BUILDDIR/include" -o "$tmp/cxx" \
       "$here/interpose-cxx.cc" -ldl >"$tmp/cxx.log" 2>&1; then
    same cxx "$tmp/cxx"
    if ! TEST_EXPECT_HAKMEM=1 LD_PRELOAD=$lib "$tmp/cxx" >/dev/null 2>"$tmp/cxx-hak.err"; then
      bad "C++ new/delete under LD_PRELOAD:"; sed 's/^/  | /' "$tmp/cxx-hak.err"
    fi
  else
    echo "skip: $cxx cannot build tests/preload/interpose-cxx.cc:"; sed 's/^/  | /' "$tmp/cxx.log" | head -10
  fi
else
  echo "skip: no C++ compiler"
fi

[ $ran -eq 0 ] && { echo "interpose: none of the programs is installed"; exit 77; }
exit $fail
