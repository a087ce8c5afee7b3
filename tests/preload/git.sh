#!/bin/sh
# git.sh - git builds a generated repository (init, many commits
# on two branches, a merge, tags, gc, log, fsck) once plainly and once
# with hakmem preloaded into every git process.  Commit dates and names
# are fixed, so both runs must produce the same commit ids and the same
# log and fsck output.  Short form: 40 commits; long (TEST_LONG=1): 600
# and gc --aggressive.  Needs git.
set -u
. "$(dirname "$0")/lib.sh"
need git:git
commits=40
gc="gc -q"
[ "$long" = 1 ] && commits=600 && gc="gc -q --aggressive"

# A reproducible environment: no user or system configuration.
HOME=$tmp/home
mkdir -p "$HOME"
GIT_CONFIG_NOSYSTEM=1
GIT_CONFIG_GLOBAL=$HOME/gitconfig
GIT_AUTHOR_NAME="Hak Mem" GIT_AUTHOR_EMAIL=hakmem@example.org
GIT_COMMITTER_NAME="Hak Mem" GIT_COMMITTER_EMAIL=hakmem@example.org
export HOME GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL \
  GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
printf '[pack]\n\tthreads = 1\n[gc]\n\tauto = 0\n[init]\n\tdefaultBranch = main\n' >"$GIT_CONFIG_GLOBAL"

# build DIR: the whole repository story, every git process in "$@" context.
build() {
  dir=$1
  shift
  (
    set -e
    "$@" git init -q "$dir"
    cd "$dir"
    i=0
    while [ $i -lt "$commits" ]; do
      i=$((i + 1))
      f=file$((i % 23)).txt
      awk -v i=$i 'BEGIN { for (j = 0; j < 40 + i % 60; j++) printf "line %d of commit %d: %x\n", j, i, i * 2654435761 % 4294967296 + j }' >>"$f"
      [ $((i % 10)) -eq 0 ] && mkdir -p "dir$((i % 7))" && cp "$f" "dir$((i % 7))/copy$i.txt"
      [ $((i % 17)) -eq 0 ] && rm -f "file$(((i + 5) % 23)).txt"
      "$@" git add -A
      d="@$((1700000000 + i * 3600)) +0000"
      GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d "$@" git commit -q -m "commit $i: $f"
      [ $((i % 25)) -eq 0 ] && "$@" git tag -a "v$i" -m "tag $i"
      if [ $i -eq $((commits / 2)) ]; then
        "$@" git checkout -q -b side
        echo "side work" >side.txt
        "$@" git add side.txt
        GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d "$@" git commit -q -m "side"
        "$@" git checkout -q main
      fi
    done
    d="@$((1700000000 + (commits + 1) * 3600)) +0000"
    GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d "$@" git merge -q --no-edit side
    "$@" git $gc
    "$@" git rev-parse HEAD
    "$@" git log --stat --format='%H %an %ad %s' --date=raw
    "$@" git log -p -n 20 --format='%H'
    "$@" git fsck --full --strict 2>&1
    "$@" git count-objects -v | grep -v -E '^size'
  )
}

build "$tmp/ref" env >"$tmp/ref.out" 2>&1 || { echo "$test_name: git fails without hakmem:"; tail "$tmp/ref.out"; exit 99; }
build "$tmp/hak" env LD_PRELOAD="$TEST_LIB" >"$tmp/hak.out" 2>&1
rc=$?
if [ $rc -ne 0 ] || ! cmp -s "$tmp/ref.out" "$tmp/hak.out"; then
  echo "$test_name: FAIL: with hakmem (status $rc) the output differs:"
  diff "$tmp/ref.out" "$tmp/hak.out" | head -n 20
  exit 1
fi
# One more command with statistics on: hakmem really was the allocator.
(cd "$tmp/hak" && HAKMEM_STATS=json LD_PRELOAD="$TEST_LIB" git log -p >/dev/null 2>"$tmp/stats")
proves_hakmem "$tmp/stats" || exit 1
echo "$test_name: $commits commits, HEAD $(head -n 1 "$tmp/hak.out"), $(wc -l <"$tmp/hak.out") lines identical with hakmem"
