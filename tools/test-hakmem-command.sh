#!/bin/sh
# test-hakmem-command.sh - runs the built hakmem(1) script against the
# freshly built library (make check runs it from the top build directory).
# shellcheck disable=SC2016 # the sh -c scripts expand in the child

: "${srcdir:=.}"
cmd=./tools/hakmem
lib=src/.libs/libhakmem.so.1

if [ ! -x "$cmd" ]; then
    echo "ERROR: $cmd has not been built" >&2
    exit 99
fi
if [ ! -f "$lib" ]; then
    echo "SKIP: no shared library $lib (built with --disable-shared?)"
    exit 77
fi
# Some sanitizer builds cannot be preloaded into uninstrumented programs
# (the address and thread run-times insist on coming first; clang leaves
# __ubsan_* undefined): then there is nothing to run the command with.
if ! LD_PRELOAD=$(pwd)/$lib true 2>/dev/null || grep -q -e __asan_ -e __tsan_ "$lib"; then
    echo "SKIP: $lib cannot be preloaded into an uninstrumented program"
    exit 77
fi

failed=0
passed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-cmd.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }

# expect_status WANT DESCRIPTION COMMAND... - runs COMMAND with stdout in
# $tmp/out and stderr in $tmp/err and compares its exit status with WANT.
expect_status() {
    want=$1 what=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -eq "$want" ]; then
        pass "$what"
    else
        fail "$what: exit status $got, expected $want"
        sed 's/^/  stderr: /' "$tmp/err"
    fi
}

# expect_out TEXT DESCRIPTION - the last command printed exactly TEXT.
expect_out() {
    if [ "$(cat "$tmp/out")" = "$1" ]; then
        pass "$2"
    else
        fail "$2: printed '$(cat "$tmp/out")', expected '$1'"
    fi
}

# expect_err PATTERN DESCRIPTION - the last command's stderr matches.
expect_err() {
    if grep -q -e "$1" "$tmp/err"; then
        pass "$2"
    else
        fail "$2: no '$1' on stderr"
        sed 's/^/  stderr: /' "$tmp/err"
    fi
}

top=$(pwd)
abslib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")

expect_status 0 "--help" "$cmd" --help
if grep -q '^Usage: hakmem ' "$tmp/out"; then pass "--help prints usage"; else fail "--help prints usage"; fi

expect_status 0 "--version" "$cmd" --version
version=$(sed -n 's/^hakmem \([0-9][0-9.]*\)$/\1/p' "$tmp/out")
if [ -n "$version" ]; then pass "--version prints a version ($version)"; else fail "--version prints 'hakmem X.Y.Z'"; fi

# The exit status of the program passes through unchanged.
expect_status 3 "exit status 3 passes through" \
    "$cmd" --library "$lib" -- sh -c 'exit 3'
expect_status 0 "exit status 0 passes through" "$cmd" --library "$lib" true
expect_status 1 "exit status 1 passes through" "$cmd" --library="$lib" false

# The library is preloaded by absolute path, ahead of any preloads the
# caller had; arguments arrive unchanged.
expect_status 0 "LD_PRELOAD is set" \
    "$cmd" --library "$lib" -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
expect_out "$abslib" "LD_PRELOAD names the library by absolute path"
expect_status 0 "an existing LD_PRELOAD" \
    env LD_PRELOAD="$abslib" "$cmd" --library "$lib" -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
expect_out "$abslib:$abslib" "an existing LD_PRELOAD is kept after the library"
expect_status 0 "an empty LD_PRELOAD" \
    env LD_PRELOAD= "$cmd" --library "$lib" -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
expect_out "$abslib" "an empty LD_PRELOAD adds no separator"
expect_status 0 "arguments pass through" \
    "$cmd" --library "$lib" -- sh -c 'printf "[%s]" "$@"; echo' sh 'a b' '' '--stats' '-x'
expect_out "[a b][][--stats][-x]" "arguments arrive unchanged"

# The preloaded library is really mapped into the program.
expect_status 0 "program runs with the library" \
    "$cmd" --library "$lib" -- cat /proc/self/maps
if grep -q 'libhakmem\.so' "$tmp/out"; then
    pass "libhakmem is mapped into the program"
else
    fail "libhakmem is mapped into the program"
fi

# --stats sets HAKMEM_STATS; without it the environment is left alone.
expect_status 0 "--stats" \
    "$cmd" --library "$lib" --stats -- sh -c 'printf "%s\n" "${HAKMEM_STATS-unset}"'
expect_out "1" "--stats sets HAKMEM_STATS=1"
expect_status 0 "--stats=text" \
    "$cmd" --library "$lib" --stats=text -- sh -c 'printf "%s\n" "${HAKMEM_STATS-unset}"'
expect_out "1" "--stats=text sets HAKMEM_STATS=1"
expect_status 0 "--stats=json" \
    "$cmd" --library "$lib" --stats=json -- sh -c 'printf "%s\n" "${HAKMEM_STATS-unset}"'
expect_out "json" "--stats=json sets HAKMEM_STATS=json"
expect_status 0 "no --stats" \
    env -u HAKMEM_STATS "$cmd" --library "$lib" -- sh -c 'printf "%s\n" "${HAKMEM_STATS-unset}"'
expect_out "unset" "HAKMEM_STATS stays unset without --stats"

# The library itself prints the statistics when the program exits.  The
# program must leave through exit(3) with stderr open (dash's _exit(2)
# would silence it): true(1) does.
expect_status 0 "--stats=json with a real program" \
    "$cmd" --library "$lib" --stats=json -- true
expect_err '^{"version":"' "the library prints JSON statistics on stderr"
expect_status 0 "--stats with a real program" \
    "$cmd" --library "$lib" --stats -- true
expect_err '^hakmem .* statistics' "the library prints a statistics table on stderr"

# --hardened preloads libhakmem-hardened.so.1 from the library directory
# (the installed one: here it is found, or reported missing, by that name);
# an option after it wins.
"$cmd" --hardened -- sh -c 'printf "%s\n" "$LD_PRELOAD"' >"$tmp/out" 2>"$tmp/err"
if grep -q '/libhakmem-hardened\.so\.1$' "$tmp/out" "$tmp/err"; then
    pass "--hardened names libhakmem-hardened.so.1"
else
    fail "--hardened names libhakmem-hardened.so.1"
    sed 's/^/  output: /' "$tmp/out" "$tmp/err"
fi
expect_status 0 "--hardened then --library" \
    "$cmd" --hardened --library "$lib" -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
expect_out "$abslib" "--library after --hardened wins"
hlib=src/.libs/libhakmem-hardened.so.1
# (Only a library that overrides malloc sees the program's frees.)
if [ -f "$hlib" ] && [ "${TEST_OVERRIDE:-yes}" = yes ] && command -v python3 >/dev/null 2>&1; then
    expect_status 0 "a program runs under the hardened library" "$cmd" --library "$hlib" true
    "$cmd" --library "$hlib" -- python3 -c '
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
p = libc.malloc(40)
libc.free(ctypes.c_void_p(p))
libc.free(ctypes.c_void_p(p))
print("not caught")' >"$tmp/out" 2>"$tmp/err"
    expect_err '^hakmem: free(): double free of 0x' "the hardened library names a double free"
fi

# --profile sets HAKMEM_PROF to an absolute prefix, and the library
# writes the profile at exit.
expect_status 0 "--profile" \
    "$cmd" --library "$lib" --profile /x/p -- sh -c 'printf "%s\n" "${HAKMEM_PROF-unset}"'
expect_out "/x/p" "--profile sets HAKMEM_PROF"
expect_status 0 "--profile=relative" \
    "$cmd" --library "$lib" --profile=rel/p -- sh -c 'printf "%s\n" "${HAKMEM_PROF-unset}"'
expect_out "$top/rel/p" "--profile makes a relative prefix absolute"
expect_status 0 "--profile with a real program" \
    env -u HAKMEM_PROF_RATE "$cmd" --library "$lib" --profile "$tmp/prof" -- \
    sort "$srcdir/tools/hakmem.in"
if [ -s "$(ls "$tmp"/prof.*.exit.heap 2>/dev/null | head -n 1)" ] &&
    head -n 1 "$tmp"/prof.*.exit.heap | grep -q '^heap profile: .*heap_v2/524288$'; then
    pass "--profile: the library wrote PREFIX.PID.exit.heap at exit"
else
    fail "--profile: no PREFIX.PID.exit.heap at exit ($(ls "$tmp"))"
fi
expect_status 125 "--profile without a prefix" "$cmd" --library "$lib" --profile
expect_status 125 "--profile= empty" "$cmd" --library "$lib" --profile= true

# Errors of hakmem itself exit 125; a missing program 127.
expect_status 125 "no program" "$cmd" --library "$lib"
expect_err 'no PROGRAM' "no program: message"
expect_status 125 "unknown option" "$cmd" --library "$lib" --frobnicate true
expect_err "unknown option '--frobnicate'" "unknown option: message"
expect_status 125 "bad --stats format" "$cmd" --library "$lib" --stats=xml true
expect_status 125 "--library without a path" "$cmd" --library
expect_status 125 "missing library" "$cmd" --library "$tmp/nonexistent.so" true
expect_err 'cannot find the hakmem library' "missing library: message"
expect_status 127 "program not found" "$cmd" --library "$lib" "$tmp/no-such-program"

# A program whose name starts with a dash after "--" is still run.
printf '#!/bin/sh\nexit 7\n' >"$tmp/-prog"
chmod +x "$tmp/-prog"
(cd "$tmp" && PATH=$tmp:$PATH; export PATH
 "$top/$cmd" --library "$abslib" -- -prog) >/dev/null 2>&1
got=$?
if [ "$got" -eq 7 ]; then pass "'--' ends the options"; else fail "'--' ends the options: exit status $got, expected 7"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
