#!/bin/sh
# stats-env.sh - the environment variables hakmem reads at start-up:
# HAKMEM_STATS=1/text/json prints statistics on stderr at exit (also when
# exit() is called while another thread allocates), and a misspelt
# HAKMEM_* variable draws exactly one warning naming the closest known one,
# a value not understood draws one line and is ignored, and HAKMEM_CACHE_MB
# bounds what stays mapped after everything is freed.
# Runs tests/unit/env_child (built by make check) with a clean HAKMEM_*
# slate.
set -u

[ -n "${TEST_BUILDDIR:-}" ] || { echo "stats-env: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
child=$TEST_BUILDDIR/tests/unit/env_child
[ -x "$child" ] || { echo "stats-env: $child not built"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-env.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

# Whatever the caller's environment holds, start without any HAKMEM_ variable.
for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

have_python=no
if python3 -c pass >/dev/null 2>&1; then have_python=yes; fi

bad() { echo "FAIL: $*"; fail=1; }

# run NAME MODE [VAR=VALUE...]: runs the child, leaves $tmp/NAME.err
run() {
  name=$1 mode=$2
  shift 2
  env "$@" "$child" "$mode" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  if [ $rc -ne 0 ]; then
    bad "$name: env_child $mode ($*) exited with $rc; stderr:"
    sed 's/^/  | /' "$tmp/$name.err"
  fi
  return $rc
}

lines() { wc -l <"$1" | tr -d ' '; }

is_json() {
  if [ $have_python = yes ]; then
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if isinstance(d, dict) and d else 1)' <"$1"
  else
    # without python3: at least an object from first to last character
    first=$(tr -d ' \n\t' <"$1" | cut -c1)
    last=$(tr -d ' \n\t' <"$1" | tail -c 1)
    [ "$first" = "{" ] && [ "$last" = "}" ]
  fi
}

# 1. No variable: nothing on stderr.
for mode in basic threads exit-thread preinit; do
  if run quiet-$mode $mode; then
    [ -s "$tmp/quiet-$mode.err" ] && { bad "$mode without HAKMEM_STATS printed:"; sed 's/^/  | /' "$tmp/quiet-$mode.err"; }
  fi
done

# 2. The table, for "1" and "text".  "preinit" makes its first allocation
#    before the C library has set up the environment (sanitizer runtimes
#    do that): the settings must still be read.
for val in 1 text; do
  for mode in basic threads exit-thread preinit; do
    n=text-$val-$mode
    run $n $mode HAKMEM_STATS=$val || continue
    if [ ! -s "$tmp/$n.err" ]; then
      bad "HAKMEM_STATS=$val ($mode) printed nothing at exit"
    elif [ "$(lines "$tmp/$n.err")" -lt 2 ]; then
      bad "HAKMEM_STATS=$val ($mode): not a table:"; sed 's/^/  | /' "$tmp/$n.err"
    elif [ "$(tr -d ' \n\t' <"$tmp/$n.err" | cut -c1)" = "{" ]; then
      bad "HAKMEM_STATS=$val ($mode) printed JSON, not the table"
    fi
    [ -s "$tmp/$n.out" ] && bad "HAKMEM_STATS=$val ($mode) wrote to stdout"
  done
done

# 3. JSON, including at exit() with a thread still allocating.
for mode in basic threads exit-thread preinit; do
  n=json-$mode
  run $n $mode HAKMEM_STATS=json || continue
  if [ ! -s "$tmp/$n.err" ]; then
    bad "HAKMEM_STATS=json ($mode) printed nothing at exit"
  elif ! is_json "$tmp/$n.err"; then
    bad "HAKMEM_STATS=json ($mode): stderr is not one JSON object:"; sed 's/^/  | /' "$tmp/$n.err"
  fi
done

# 4. Misspelt variables: exactly one line naming the closest known one,
#    once per process however many threads it runs.
check_typo() {
  var=$1 want=$2 mode=$3
  n=typo-$var-$mode
  run $n $mode "$var=1" || return
  nl=$(lines "$tmp/$n.err")
  if [ "$nl" -ne 1 ]; then
    bad "$var=1 ($mode): want exactly one warning line, got $nl:"; sed 's/^/  | /' "$tmp/$n.err"
  elif ! grep -q "$want\\([^A-Z_]\\|\$\\)" "$tmp/$n.err"; then
    bad "$var=1 ($mode): the warning does not name $want:"; sed 's/^/  | /' "$tmp/$n.err"
  elif ! grep -q "$var" "$tmp/$n.err"; then
    bad "$var=1 ($mode): the warning does not name the variable $var itself:"; sed 's/^/  | /' "$tmp/$n.err"
  fi
}
check_typo HAKMEM_STAT HAKMEM_STATS basic
check_typo HAKMEM_STAT HAKMEM_STATS threads
check_typo HAKMEM_STAT HAKMEM_STATS preinit
check_typo HAKMEM_STATSS HAKMEM_STATS basic
check_typo HAKMEM_CACHE_M HAKMEM_CACHE_MB basic
check_typo HAKMEM_VERBOS HAKMEM_VERBOSE basic

# 5. Known variables with valid values draw no warning (HAKMEM_VERBOSE=1
#    may speak in a debug-guards build, so only the quiet ones are checked;
#    HAKMEM_CACHE_MB is also checked in 7).
for var in HAKMEM_CACHE_MB=4 HAKMEM_VERBOSE=0; do
  n=known-$(echo "$var" | tr '=' '-')
  if run "$n" basic "$var"; then
    [ -s "$tmp/$n.err" ] && { bad "$var printed:"; sed 's/^/  | /' "$tmp/$n.err"; }
  fi
done

# 6. Values that are not understood: one line naming the variable, and
#    the value is ignored (no statistics for a bad HAKMEM_STATS).
check_bad_value() {
  var=$1 val=$2
  n=badval-$var
  run "$n" basic "$var=$val" || return
  nl=$(lines "$tmp/$n.err")
  if [ "$nl" -ne 1 ] || ! grep -q "$var" "$tmp/$n.err"; then
    bad "$var=$val: want one line naming $var, got $nl:"; sed 's/^/  | /' "$tmp/$n.err"
  fi
}
check_bad_value HAKMEM_STATS bogus
check_bad_value HAKMEM_CACHE_MB abc
for val in 0 no ''; do
  if run "stats-off-$val" basic "HAKMEM_STATS=$val"; then
    [ -s "$tmp/stats-off-$val.err" ] && { bad "HAKMEM_STATS='$val' printed:"; sed 's/^/  | /' "$tmp/stats-off-$val.err"; }
  fi
done
if run stats-yes basic HAKMEM_STATS=yes; then
  [ "$(lines "$tmp/stats-yes.err")" -ge 2 ] || bad "HAKMEM_STATS=yes printed no table"
fi

# 7. Half of HAKMEM_CACHE_MB bounds what stays mapped once 48 MiB of
#    blocks are freed: nothing with 0, at most that (+1 MiB of slack for
#    metadata) otherwise, and a large budget does keep SuperSlabs.  (7 and
#    8 run without the purge thread, which would return the same memory a
#    second later: they check the slab paths' own budget and decay.)
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$2"; }
for mb in 0 4 default 64; do
  n=cache-$mb
  if [ $mb = default ]; then run "$n" cache HAKMEM_BACKGROUND=0 || continue; budget=64
  else run "$n" cache "HAKMEM_CACHE_MB=$mb" HAKMEM_BACKGROUND=0 || continue; budget=$((mb / 2)); fi
  cached=$(field cached "$tmp/$n.out") kept=$(field kept_kib "$tmp/$n.out")
  returned=$(field returned_kib "$tmp/$n.out")
  if [ -z "$cached" ] || [ -z "$kept" ] || [ -z "$returned" ]; then
    bad "cache ($mb): unexpected output: $(cat "$tmp/$n.out")"; continue
  fi
  [ "$kept" -le $((budget * 1024 + 1024)) ] ||
    bad "HAKMEM_CACHE_MB=$mb: $kept KiB stay mapped after freeing everything (budget $budget MiB)"
  [ -s "$tmp/$n.err" ] && { bad "HAKMEM_CACHE_MB=$mb printed:"; sed 's/^/  | /' "$tmp/$n.err"; }
  case $mb in
    0) [ "$cached" -eq 0 ] || bad "HAKMEM_CACHE_MB=0 still caches $cached SuperSlabs"
       [ "$returned" -ge $((40 * 1024)) ] ||
         bad "HAKMEM_CACHE_MB=0 returned only $returned KiB of 48 MiB freed" ;;
    64) [ "$cached" -ge 1 ] || bad "HAKMEM_CACHE_MB=64 cached no SuperSlab of 48 MiB freed" ;;
  esac
done

# 8. What stays idle for a second goes back at the next slab set up or
#    given back, whatever the budget: the default keeps 48 MiB until then.
if run decay decay HAKMEM_BACKGROUND=0; then
  kept=$(field kept_kib "$tmp/decay.out") returned=$(field returned_kib "$tmp/decay.out")
  if [ -z "$kept" ] || [ -z "$returned" ]; then
    bad "decay: unexpected output: $(cat "$tmp/decay.out")"
  else
    [ "$kept" -le 3072 ] || bad "decay: $kept KiB still mapped after a second idle"
    [ "$returned" -ge $((40 * 1024)) ] || bad "decay: returned only $returned KiB of 48 MiB"
  fi
fi
# ... and the free slabs of SuperSlabs still in use are purged, when a
# slab is given back.
if run decay-purge decay-purge HAKMEM_BACKGROUND=0; then
  before=$(field returned_before_kib "$tmp/decay-purge.out")
  after=$(field returned_kib "$tmp/decay-purge.out")
  if [ -z "$before" ] || [ -z "$after" ]; then
    bad "decay-purge: unexpected output: $(cat "$tmp/decay-purge.out")"
  else
    [ "$before" -le 8192 ] || bad "decay-purge: $before KiB returned before any second idle"
    [ $((after - before)) -ge $((32 * 1024)) ] ||
      bad "decay-purge: only $((after - before)) KiB of about 40 MiB of free slabs returned"
  fi
fi

if [ $fail -eq 0 ]; then echo "stats-env: all checks passed (python3 JSON check: $have_python)"; fi
exit $fail
