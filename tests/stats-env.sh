#!/bin/sh
# stats-env.sh - the environment variables hakmem reads at start-up:
# HAKMEM_STATS=1/text/json prints statistics on stderr at exit (also when
# exit() is called while another thread allocates), and a misspelt
# HAKMEM_* variable draws exactly one warning naming the closest known one.
# Runs tests/env_child (built by make check) with a clean HAKMEM_* slate.
set -u

builddir=${HK_TEST_BUILDDIR:-.}
child=$builddir/tests/env_child
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
for mode in basic threads exit-thread; do
  if run quiet-$mode $mode; then
    [ -s "$tmp/quiet-$mode.err" ] && { bad "$mode without HAKMEM_STATS printed:"; sed 's/^/  | /' "$tmp/quiet-$mode.err"; }
  fi
done

# 2. The table, for "1" and "text".
for val in 1 text; do
  for mode in basic threads exit-thread; do
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
for mode in basic threads exit-thread; do
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
check_typo HAKMEM_STATSS HAKMEM_STATS basic
check_typo HAKMEM_CACHE_M HAKMEM_CACHE_MB basic
check_typo HAKMEM_VERBOS HAKMEM_VERBOSE basic

# 5. The known variables themselves draw no warning (HAKMEM_VERBOSE=1 may
#    speak in a debug-guards build, so only the quiet ones are checked).
for var in HAKMEM_CACHE_MB=4 HAKMEM_CACHE_MB=0; do
  n=known-$(echo "$var" | tr '=' '-')
  if run "$n" basic "$var"; then
    [ -s "$tmp/$n.err" ] && { bad "$var printed:"; sed 's/^/  | /' "$tmp/$n.err"; }
  fi
done

if [ $fail -eq 0 ]; then echo "stats-env: all checks passed (python3 JSON check: $have_python)"; fi
exit $fail
