#!/bin/sh
# run-fuzz.sh SECONDS - runs the libFuzzer target fuzz_ops for a bounded
# time (CI: about 60 s) and prints how many inputs it executed.
#
# Run it from a configured build directory (it builds the target there
# with "make tests/fuzz/fuzz_ops_fuzzer"), or from anywhere else, where it
# configures a throw-away build of its own source tree.  New inputs go to
# tests/fuzz/grown/ of the build directory, findings to tests/fuzz/crash-*;
# the corpus tests/fuzz/corpus/ of the source tree is read, never written.
#
# Exit: 0 no finding, 1 a finding (or a build error), 77 no clang with
# libFuzzer here (FUZZ_CC, default clang; Debian: libclang-rt-14-dev).
set -u
secs=${1:-60}
case $secs in
  '' | *[!0-9]*) echo "usage: $0 SECONDS" >&2; exit 2 ;;
esac
srcdir=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cc=${FUZZ_CC:-clang}
make=${MAKE:-make}

probe=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-fuzzprobe.XXXXXX") || exit 1
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
  rm -rf "$probe"
  echo "run-fuzz: $cc cannot link -fsanitize=fuzzer; skipped"
  exit 77
fi
rm -rf "$probe"

build=$PWD
tmpbuild=
if [ ! -f Makefile ] || ! grep -q '^fuzz:' Makefile; then
  # Not a build directory of this tree: configure one for the fuzzer.
  tmpbuild=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-fuzzbuild.XXXXXX") || exit 1
  trap 'rm -rf "$tmpbuild"' EXIT
  echo "run-fuzz: configuring a build in $tmpbuild"
  (cd "$tmpbuild" && "$srcdir/configure" --disable-override CC="$cc" >configure.log 2>&1) || {
    cat "$tmpbuild/configure.log"
    exit 1
  }
  build=$tmpbuild
fi
cd "$build" || exit 1
$make FUZZ_CC="$cc" tests/fuzz/fuzz_ops_fuzzer || exit 1

mkdir -p tests/fuzz/grown || exit 1
log=tests/fuzz/fuzz.log
echo "run-fuzz: fuzz_ops for $secs s (log: $build/$log)"
tests/fuzz/fuzz_ops_fuzzer -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix=tests/fuzz/crash- \
  tests/fuzz/grown "$srcdir/tests/fuzz/corpus" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
if [ $rc -ne 0 ]; then
  tail -n 40 "$log"
  echo "run-fuzz: FINDING after ${execs:-?} executions; the input is in $build/tests/fuzz/crash-*"
  [ -n "$tmpbuild" ] && cp tests/fuzz/crash-* "$OLDPWD"/ 2>/dev/null
  exit 1
fi
echo "run-fuzz: ${execs:-?} executions in $secs s, no finding"
exit 0
