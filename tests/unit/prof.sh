#!/bin/sh
# prof.sh - the heap profiler (HAKMEM_PROF, hakmem(7)), read back the way
# a user reads it, by google-pprof (Debian package google-perftools):
#  - a site holding 80% of the live bytes gets 80% +- 8% of the profile
#    (at HAKMEM_PROF_RATE=16384: about 1500 samples, so the share is off
#    by more than 8 points with a probability below 1e-12);
#  - blocks freed before the dump, by their own thread or by others, are
#    not in it (HAKMEM_PROF_RATE=1 samples every block: exact counts);
#  - large blocks; fork() with another thread allocating; the signal;
#  - the folded stacks agree; hak_prof_dump fails without HAKMEM_PROF;
#  - hak_stats counts blocks and bytes exactly while sampling (blocks the
#    sampling windows hold are not handed out yet);
#  - an unmodified program (python3) under LD_PRELOAD (override build).
# Runs tests/unit/prof_child, built by make check.
set -u

[ -n "${TEST_BUILDDIR:-}" ] || { echo "prof: TEST_BUILDDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
child=$TEST_BUILDDIR/tests/unit/prof_child
lib=$TEST_LIB
[ -x "$child" ] || { echo "prof: $child not built"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-prof.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP: $*"; }
show() { sed 's/^/  | /' "$1" | head -n "${2:-20}"; }

pprof=
if command -v google-pprof >/dev/null 2>&1; then
  pprof=google-pprof
elif command -v pprof >/dev/null 2>&1 && pprof --help 2>&1 | grep -q -- --inuse_objects; then
  pprof=pprof
fi

# run NAME MODE [VAR=VALUE...]: prof_child MODE $tmp/NAME.heap
run() {
  name=$1 mode=$2
  shift 2
  if ! env "$@" "$child" "$mode" "$tmp/$name.heap" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    fail "$name: prof_child $mode ($*) failed:"
    show "$tmp/$name.err"
    return 1
  fi
}

# text NAME [OPTION...]: google-pprof's text report of $tmp/NAME.heap
text() {
  name=$1
  shift
  $pprof --text "$@" "$child" "$tmp/$name.heap" >"$tmp/$name.txt" 2>"$tmp/$name.txt.err"
}

# The columns of google-pprof --text: flat flat% sum% cum cum% function.
# A site's blocks are all below it (its own code may be inlined helpers),
# so its cumulative figures are what it holds.
# share FILE SITE: the cumulative percentage of SITE (0 if absent)
share() {
  awk -v site="$2" '$NF == site { sub(/%/, "", $5); print $5 + 0; found = 1; exit }
                    END { if (!found) print 0 }' "$1"
}

# cum FILE SITE: the cumulative value (bytes or objects) of SITE
cum() {
  awk -v site="$2" '$NF == site { print $4 + 0; found = 1; exit }
                    END { if (!found) print 0 }' "$1"
}

# folded_share FILE SITE: SITE's share (percent) of the folded stacks' bytes
folded_share() {
  awk -v site="$2" '{ n = $NF; all += n; if ($0 ~ (";" site " ")) mine += n }
                    END { if (all == 0) print -1; else printf "%.1f\n", 100 * mine / all }' "$1"
}

# 1. The shares of site_a and site_b.
if run sites sites HAKMEM_PROF="$tmp/auto" HAKMEM_PROF_RATE=16384; then
  if [ ! -s "$tmp/sites.heap" ] || [ ! -s "$tmp/sites.heap.folded" ]; then
    fail "sites: hak_prof_dump wrote no profile or no folded stacks"
  elif ! head -n 1 "$tmp/sites.heap" | grep -q '^heap profile: .* @ heap_v2/16384$'; then
    fail "sites: not a heap_v2 profile of rate 16384:"; show "$tmp/sites.heap" 3
  elif ! grep -q '^MAPPED_LIBRARIES:$' "$tmp/sites.heap"; then
    fail "sites: the profile has no MAPPED_LIBRARIES section"
  else
    pass "sites: profile and folded stacks written"
  fi
  a=$(folded_share "$tmp/sites.heap.folded" site_a)
  b=$(folded_share "$tmp/sites.heap.folded" site_b)
  if awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= 72 && a <= 88 && b >= 12 && b <= 28) }'; then
    pass "sites: folded stacks give site_a $a% and site_b $b% (80 and 20 +- 8)"
  else
    fail "sites: folded stacks give site_a $a% and site_b $b%, want 80 and 20 +- 8:"
    show "$tmp/sites.heap.folded"
  fi
  grep -q 'site_gone' "$tmp/sites.heap.folded" &&
    fail "sites: the folded stacks name site_gone, whose blocks were all freed"
  if ls "$tmp"/auto.*.exit.heap >/dev/null 2>&1 && ls "$tmp"/auto.*.exit.folded >/dev/null 2>&1; then
    pass "sites: HAKMEM_PROF wrote PREFIX.PID.exit.heap and .folded at exit"
  else
    fail "sites: no PREFIX.PID.exit.heap and .folded at exit: $(ls "$tmp")"
  fi
  if [ -z "$pprof" ]; then
    skip "google-pprof not found (Debian: apt-get install google-perftools): profiles not read back"
  elif ! text sites; then
    fail "sites: google-pprof --text failed:"; show "$tmp/sites.txt.err"
  else
    a=$(share "$tmp/sites.txt" site_a) b=$(share "$tmp/sites.txt" site_b)
    if awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= 72 && a <= 88 && b >= 12 && b <= 28) }'; then
      pass "sites: google-pprof gives site_a $a% and site_b $b% of the live heap (80 and 20 +- 8)"
    else
      fail "sites: google-pprof gives site_a $a% and site_b $b%, want 80 and 20 +- 8:"
      show "$tmp/sites.txt"
    fi
    if [ "$(cum "$tmp/sites.txt" site_gone)" = 0 ]; then
      pass "sites: site_gone, all freed before the dump, holds nothing"
    else
      fail "sites: site_gone's freed blocks are in the profile:"; show "$tmp/sites.txt"
    fi
  fi
fi

# 2. Exact counts (every block sampled): blocks freed by other threads
#    leave no record; large blocks.
if [ -n "$pprof" ] && run threads threads HAKMEM_PROF="$tmp/t" HAKMEM_PROF_RATE=1; then
  if ! text threads --inuse_objects; then
    fail "threads: google-pprof failed:"; show "$tmp/threads.txt.err"
  else
    kept=$(cum "$tmp/threads.txt" site_kept) cross=$(cum "$tmp/threads.txt" site_cross)
    if [ "$kept" = 2000 ] && [ "$cross" = 0 ]; then
      pass "threads: 2000 live site_kept blocks, no record of the 20000 freed by other threads"
    else
      fail "threads: site_kept $kept (want 2000), site_cross $cross (want 0):"
      show "$tmp/threads.txt"
    fi
  fi
fi
if [ -n "$pprof" ] && run large large HAKMEM_PROF="$tmp/l" HAKMEM_PROF_RATE=1; then
  text large --inuse_objects
  n=$(cum "$tmp/large.txt" site_large)
  if [ "$n" = 8 ]; then
    pass "large: the 8 live blocks of 3 MiB, not the 8 freed"
  else
    fail "large: site_large has $n live blocks, want 8:"; show "$tmp/large.txt"
  fi
fi

# 3. fork() while another thread allocates: the child's profile has its
#    own blocks and the parent's it inherited; the parent's not the child's.
if [ -n "$pprof" ] && run fork fork HAKMEM_PROF="$tmp/f" HAKMEM_PROF_RATE=4096; then
  text fork
  cp "$tmp/fork.heap.child" "$tmp/forkchild.heap" 2>/dev/null && text forkchild
  if [ "$(cum "$tmp/fork.txt" site_parent)" != 0 ] && [ "$(cum "$tmp/fork.txt" site_child)" = 0 ] &&
    [ "$(cum "$tmp/forkchild.txt" site_parent)" != 0 ] &&
    [ "$(cum "$tmp/forkchild.txt" site_child)" != 0 ]; then
    pass "fork: parent and child profiles hold the blocks each has live"
  else
    fail "fork: wrong sites in the parent's or the child's profile:"
    show "$tmp/fork.txt" 10
    show "$tmp/forkchild.txt" 10
  fi
fi

# 4. HAKMEM_PROF_SIGNAL: the signal (raised by the child) writes
#    PREFIX.PID.0001.heap; without the handler it would kill the child.
if run signal signal HAKMEM_PROF="$tmp/s" HAKMEM_PROF_SIGNAL=USR1 HAKMEM_PROF_RATE=4096; then
  f=$(ls "$tmp"/s.*.0001.heap 2>/dev/null | head -n 1)
  if [ -n "$f" ] && [ -s "${f%.heap}.folded" ] && grep -q 'site_a' "${f%.heap}.folded"; then
    pass "signal: SIGUSR1 wrote PREFIX.PID.0001.heap and .folded"
  else
    fail "signal: no numbered profile after SIGUSR1: $(ls "$tmp")"
  fi
fi

# 5. Without HAKMEM_PROF: no profiling, hak_prof_dump says so.
if run off off; then
  if [ -e "$tmp/off.heap" ]; then
    fail "off: hak_prof_dump wrote a file with profiling off"
  else
    pass "off: hak_prof_dump fails with ENOTSUP when HAKMEM_PROF is unset"
  fi
fi

# 6. hak_stats while sampling, at the default rate and at a rate that
#    samples a dozen of the blocks.
for rate in 524288 4096; do
  if run "stats$rate" stats HAKMEM_PROF="$tmp/st" HAKMEM_PROF_RATE=$rate; then
    pass "stats: HAKMEM_PROF_RATE=$rate: hak_stats counts the 1000 blocks and their bytes exactly"
  fi
done

# 7. A program never built for it, under LD_PRELOAD.  The interpreter
#    itself, not a version manager's shim script (which would write a
#    profile for each program it runs).
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ "${TEST_OVERRIDE:-}" != yes ]; then
  skip "python3: a --disable-override build does not replace malloc"
elif [ -z "$python" ] || [ ! -x "$python" ]; then
  skip "python3 not found"
elif ! HAKMEM_PROF="$tmp/py" HAKMEM_PROF_SIGNAL=USR1 LD_PRELOAD=$lib "$python" -c '
import os, signal
keep = [bytes(n % 1000) * 3 for n in range(20000)]
os.kill(os.getpid(), signal.SIGUSR1)
print(sum(map(len, keep)))' >"$tmp/py.out" 2>"$tmp/py.err"; then
  fail "python3 under LD_PRELOAD with HAKMEM_PROF failed:"; show "$tmp/py.err"
else
  # Written on SIGUSR1, while the 30 MB are live (at exit Python has
  # freed them).
  f=$(ls "$tmp"/py.*.0001.heap 2>/dev/null | head -n 1)
  if [ -z "$f" ] || [ ! -s "${f%.heap}.folded" ]; then
    fail "python3: no profile on SIGUSR1: $(ls "$tmp")"
  elif [ -n "$pprof" ] && ! $pprof --text "$python" "$f" >"$tmp/py.txt" 2>&1; then
    fail "python3: google-pprof cannot read its profile:"; show "$tmp/py.txt"
  elif [ -n "$pprof" ] && ! grep -q '^Total: ' "$tmp/py.txt"; then
    fail "python3: google-pprof shows no total:"; show "$tmp/py.txt"
  elif ! grep -q 'Py' "${f%.heap}.folded"; then
    fail "python3: the folded stacks name no Python function:"; show "${f%.heap}.folded"
  else
    pass "python3 under LD_PRELOAD: a profile on SIGUSR1 google-pprof reads, with names"
  fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
