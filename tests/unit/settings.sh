#!/bin/sh
# settings.sh - what the library reads at start-up besides the environment
# (issue 16): /etc/hakmem.conf (the same settings, the environment wins,
# misspelt names and bad values reported with file and line), and the
# memory cgroup's limits under cgroup v1 (the hybrid layout), v2, a
# container's mount of part of a hierarchy, and nested groups, shown in
# hak_stats; the soft limit: past 90% of it the caches are emptied
# before more is mapped; and the heap profiler's settings in the file
# (issue 17).  Runs tests/unit/settings_child, linked with the library
# variant that reads those files under ./test-root, in a directory per
# case.
set -u

[ -n "${TEST_BUILDDIR:-}" ] && [ -n "${TEST_SRCDIR:-}" ] ||
  { echo "settings: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
srcdir=$TEST_SRCDIR
child=$TEST_BUILDDIR/tests/unit/settings_child
[ -x "$child" ] || { echo "settings: $child not built"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-settings.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

MiB=1048576
n=0
# newcase: a fresh directory with an empty test-root; sets $root.
newcase() {
  n=$((n + 1))
  case_dir=$tmp/case$n
  root=$case_dir/test-root
  mkdir -p "$root/etc" "$root/proc/self"
}
# put FILE CONTENT: writes FILE (under test-root) with printf's format.
put() {
  mkdir -p "$(dirname "$root/$1")"
  # shellcheck disable=SC2059
  printf "$2" >"$root/$1"
}
# run NAME [VAR=VALUE...] -- MODE: runs the child in the case directory.
run() {
  name=$1
  shift
  (cd "$case_dir" && env "$@" "$child" show) >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  [ $rc -eq 0 ] || { bad "$name: settings_child exited with $rc:"; sed 's/^/  | /' "$tmp/$name.err"; }
}
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$tmp/$2.out"; }
expect() { # expect NAME FIELD VALUE
  got=$(field "$2" "$1")
  [ "$got" = "$3" ] || bad "$1: $2 is '$got', expected $3 ($(cat "$tmp/$1.out"))"
}
quiet() { [ -s "$tmp/$1.err" ] && { bad "$1 printed:"; sed 's/^/  | /' "$tmp/$1.err"; }; }
one_line() { # one_line NAME PATTERN: stderr is exactly one line, matching
  lines=$(wc -l <"$tmp/$1.err" | tr -d ' ')
  if [ "$lines" -ne 1 ] || ! grep -q -- "$2" "$tmp/$1.err"; then
    bad "$1: want one line matching '$2', got $lines:"; sed 's/^/  | /' "$tmp/$1.err"
  fi
}

v1_mounts='31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
'
none=9223372036854771712

# 1. Nothing to read: no limit, the default budget, not a word.
newcase
run none
expect none cgroup_limit 0
expect none cgroup_soft_limit 0
expect none mapped_limit 0
expect none cache_limit $((128 * MiB))
quiet none

# 2. cgroup v1 in the hybrid layout (as on the machines this is built on):
#    the memory controller's group and its parent; the lower limit of
#    each kind wins; the v2 tree beside it is not looked at.
newcase
put proc/self/cgroup '9:name=systemd:/\n4:memory:/svc/app\n2:cpu,cpuacct:/\n0::/\n'
put proc/self/mountinfo "$v1_mounts"
put sys/fs/cgroup/memory/svc/app/memory.limit_in_bytes "$((512 * MiB))\n"
put sys/fs/cgroup/memory/svc/app/memory.soft_limit_in_bytes "$none\n"
put sys/fs/cgroup/memory/svc/memory.limit_in_bytes "$((256 * MiB))\n"
put sys/fs/cgroup/memory/svc/memory.soft_limit_in_bytes "$((192 * MiB))\n"
put sys/fs/cgroup/memory/memory.limit_in_bytes "$none\n"
put sys/fs/cgroup/unified/memory.max "$MiB\n"
run v1
expect v1 cgroup_limit $((256 * MiB))
expect v1 cgroup_soft_limit $((192 * MiB))
expect v1 cache_limit $((192 * MiB / 10))
quiet v1

# 3. cgroup v2: "max" is no limit; the parent's memory.max applies.
newcase
put proc/self/cgroup '0::/user.slice/app.service\n'
put proc/self/mountinfo '30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n'
put sys/fs/cgroup/user.slice/app.service/memory.max 'max\n'
put sys/fs/cgroup/user.slice/app.service/memory.high 'max\n'
put sys/fs/cgroup/user.slice/memory.max "$((1024 * MiB))\n"
put sys/fs/cgroup/user.slice/memory.high 'max\n'
run v2
expect v2 cgroup_limit $((1024 * MiB))
expect v2 cgroup_soft_limit 0
expect v2 cache_limit $((1024 * MiB / 10))
quiet v2

# 4. v2 in a container whose mount shows only its own group (the mount's
#    root is the group's path), at a mount point with a space in it.
newcase
put proc/self/cgroup '0::/docker/abc123\n'
put proc/self/mountinfo '100 90 0:26 /docker/abc123 /sys/fs/cgroup\\040v2 ro,nosuid - cgroup2 cgroup2 rw\n'
put "sys/fs/cgroup v2/memory.max" "$((256 * MiB))\n"
put "sys/fs/cgroup v2/memory.high" "$((128 * MiB))\n"
run container
expect container cgroup_limit $((256 * MiB))
expect container cgroup_soft_limit $((128 * MiB))
quiet container

# 5. The settings file: a limit, and a budget that the limit lowers.
newcase
put etc/hakmem.conf 'HAKMEM_LIMIT_MB=32\n'
run conf-limit
expect conf-limit mapped_limit $((32 * MiB))
expect conf-limit cache_limit $((32 * MiB / 10))
quiet conf-limit

# 6. Comments, blank lines, spaces around the names and values, CRLF line
#    ends, a last line without its newline: all understood, silently.
newcase
put etc/hakmem.conf '# hakmem settings\n\n   # indented comment\n  HAKMEM_CACHE_MB = 16   # sixteen\r\n\tHAKMEM_STATS=0\nHAKMEM_LIMIT_MB=512'
run conf-format
expect conf-format cache_limit $((16 * MiB))
expect conf-format mapped_limit $((512 * MiB))
quiet conf-format

# 7. The environment wins over the file.
newcase
put etc/hakmem.conf 'HAKMEM_CACHE_MB=16\nHAKMEM_STATS=1\n'
run env-wins HAKMEM_CACHE_MB=8 HAKMEM_STATS=0
expect env-wins cache_limit $((8 * MiB))
quiet env-wins
run conf-stats
if [ "$(wc -l <"$tmp/conf-stats.err")" -lt 2 ] || ! grep -q 'statistics' "$tmp/conf-stats.err"; then
  bad "HAKMEM_STATS=1 in the file printed no table:"; sed 's/^/  | /' "$tmp/conf-stats.err"
fi
run env-json HAKMEM_STATS=json
[ "$(tr -d ' \n\t' <"$tmp/env-json.err" | cut -c1)" = "{" ] ||
  bad "HAKMEM_STATS=json in the environment did not win over the file"

# 8. A misspelt name, a bad value, a line that is no setting, a line too
#    long: one line each on stderr naming the file and line; the rest of
#    the file still applies.
newcase
put etc/hakmem.conf '# typo on line 3\n\nHAKMEM_STAT=1\nHAKMEM_CACHE_MB=4\n'
run conf-typo
one_line conf-typo '^hakmem: /etc/hakmem.conf:3: unknown setting HAKMEM_STAT ignored; did you mean HAKMEM_STATS?$'
expect conf-typo cache_limit $((4 * MiB))
newcase
put etc/hakmem.conf 'HAKMEM_CACHE_MB=lots\n'
run conf-badval
one_line conf-badval '^hakmem: /etc/hakmem.conf:1: HAKMEM_CACHE_MB=lots is not a number of megabytes$'
expect conf-badval cache_limit $((128 * MiB))
newcase
put etc/hakmem.conf 'HAKMEM_CACHE_MB\n'
run conf-noeq
one_line conf-noeq '^hakmem: /etc/hakmem.conf:1: not NAME=value, ignored: HAKMEM_CACHE_MB$'
newcase
long=$(printf '%0300d' 0)
put etc/hakmem.conf "HAKMEM_STATS=$long\nHAKMEM_CACHE_MB=2\n"
run conf-long
one_line conf-long '^hakmem: /etc/hakmem.conf:1: line longer than 256 characters ignored$'
expect conf-long cache_limit $((2 * MiB))
# ... and the environment's own report is unchanged.
newcase
run env-typo HAKMEM_LIMIT_M=5
one_line env-typo '^hakmem: unknown environment variable HAKMEM_LIMIT_M ignored; did you mean HAKMEM_LIMIT_MB?$'

# 9. The commented example shipped with the packages changes nothing.
newcase
cp "$srcdir/doc/hakmem.conf" "$root/etc/hakmem.conf"
run example
expect example cache_limit $((128 * MiB))
expect example mapped_limit 0
quiet example

# 10. The soft limit: memory.high 64 MiB; past 90% of it, the caches are
#     emptied before anything more is mapped.  The control run has no
#     cgroup, so nothing is emptied and the same checks fail.
newcase
put proc/self/cgroup '0::/app\n'
put proc/self/mountinfo '30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n'
put sys/fs/cgroup/app/memory.max 'max\n'
put sys/fs/cgroup/app/memory.high "$((64 * MiB))\n"
if (cd "$case_dir" && HAKMEM_BACKGROUND=0 "$child" soft-mark) >"$tmp/soft.out" 2>"$tmp/soft.err"; then
  cat "$tmp/soft.out"
else
  bad "soft mark:"; sed 's/^/  | /' "$tmp/soft.out" "$tmp/soft.err"
fi
newcase
if (cd "$case_dir" && HAKMEM_BACKGROUND=0 "$child" soft-mark) >"$tmp/soft0.out" 2>"$tmp/soft0.err"; then
  bad "soft mark: the control run without a cgroup passed too: the test cannot tell"
elif ! grep -q 'still cached' "$tmp/soft0.err"; then
  bad "soft mark control failed otherwise:"; sed 's/^/  | /' "$tmp/soft0.err"
fi

# 11. The heap profiler's settings (issue 17) from the file too: a prefix
#     and a rate (the profile at exit says which rate it used); the
#     environment's empty HAKMEM_PROF turns it off; a misspelt name and a
#     signal no handler may take are reported like the others.
newcase
put etc/hakmem.conf "HAKMEM_PROF=$case_dir/conf-prof\nHAKMEM_PROF_RATE=4096\nHAKMEM_PROF_SIGNAL=USR2\n"
run conf-prof
quiet conf-prof
f=$(ls "$case_dir"/conf-prof.*.exit.heap 2>/dev/null | head -n 1)
if [ -z "$f" ] || ! head -n 1 "$f" | grep -q '@ heap_v2/4096$'; then
  bad "HAKMEM_PROF and HAKMEM_PROF_RATE in the file wrote no profile at rate 4096: $(ls "$case_dir")"
fi
rm -f "$case_dir"/conf-prof.*
run conf-prof-off HAKMEM_PROF=
quiet conf-prof-off
ls "$case_dir"/conf-prof.* >/dev/null 2>&1 &&
  bad "HAKMEM_PROF= in the environment did not turn off the file's profiling"
newcase
put etc/hakmem.conf 'HAKMEM_PROF_RAT=4096\nHAKMEM_PROF_SIGNAL=KILL\n'
run conf-prof-typo
if [ "$(wc -l <"$tmp/conf-prof-typo.err")" -ne 2 ] ||
  ! grep -q '^hakmem: /etc/hakmem.conf:1: unknown setting HAKMEM_PROF_RAT ignored; did you mean HAKMEM_PROF_RATE?$' "$tmp/conf-prof-typo.err" ||
  ! grep -q '^hakmem: /etc/hakmem.conf:2: HAKMEM_PROF_SIGNAL=KILL is not a signal a handler can catch$' "$tmp/conf-prof-typo.err"; then
  bad "conf-prof-typo: want the misspelt name and the bad signal reported:"
  sed 's/^/  | /' "$tmp/conf-prof-typo.err"
fi
newcase
run env-prof-typo HAKMEM_PROF_SIGNL=USR1
one_line env-prof-typo '^hakmem: unknown environment variable HAKMEM_PROF_SIGNL ignored; did you mean HAKMEM_PROF_SIGNAL?$'

[ $fail -eq 0 ] && echo "settings: all $n cases passed"
exit $fail
