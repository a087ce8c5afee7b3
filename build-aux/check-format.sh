#!/bin/sh
# check-format.sh [FILE...] - fails (exit 1) when a C file of the source
# tree is not formatted as .clang-format says, and shows how.  Without
# arguments it checks every C and C++ file git tracks (or, outside a git
# checkout, those under src, include, tests, bench and tools).
# `make check-format` and CI run it; clang-format 14 (Debian 12) is the
# reference: other versions may format some constructs differently.
# CLANG_FORMAT names the program (default clang-format).  To fix a file:
# clang-format -i FILE.
set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
  echo "check-format: $cf not found (Debian: apt-get install clang-format)" >&2
  exit 2
fi
cd "$top" || exit 2
[ -f .clang-format ] || { echo "check-format: no .clang-format in $top" >&2; exit 2; }

if [ $# -eq 0 ]; then
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    set -- $(git ls-files -- '*.c' '*.h' '*.cc')
  else
    set -- $(find src include tests bench tools \( -name '*.c' -o -name '*.h' -o -name '*.cc' \) \
      -type f 2>/dev/null | LC_ALL=C sort)
  fi
fi

tmp=$(mktemp "${TMPDIR:-/tmp}/hakmem-format.XXXXXX") || exit 2
trap 'rm -f "$tmp"' EXIT
bad=0 files=0 lines=0
for f in "$@"; do
  files=$((files + 1))
  "$cf" --style=file "$f" >"$tmp" || { echo "check-format: $cf failed on $f" >&2; exit 2; }
  if ! cmp -s "$f" "$tmp"; then
    n=$(diff "$f" "$tmp" | grep -c '^<')
    echo "$f: $n line(s) not formatted; clang-format would write:"
    diff -u "$f" "$tmp" | sed -n '3,$p' | head -n 20 | sed 's/^/  | /'
    bad=$((bad + 1))
    lines=$((lines + n))
  fi
done
version=$("$cf" --version | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p')
if [ $bad -ne 0 ]; then
  echo "check-format: $bad of $files files ($lines lines) differ from .clang-format" \
    "(clang-format $version); fix with: clang-format -i FILE"
  exit 1
fi
echo "check-format: $files files formatted as .clang-format says (clang-format $version)"
exit 0
