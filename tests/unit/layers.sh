#!/bin/sh
# layers.sh - every file of src/ includes only headers of its own module
# and of the modules on lower layers, as src/local.mk lists them
# (src_layers, top down; src_layer_exceptions names the allowed upward
# includes).  An include that climbs a layer makes a cycle waiting to
# happen; this test fails on the first one written.
set -u

[ -n "${TEST_SRCDIR:-}" ] || {
  echo "layers: TEST_SRCDIR not set (make check sets it; by hand: . tests/test-env.sh)"; exit 99; }
srcdir=$TEST_SRCDIR
mk=$srcdir/src/local.mk
[ -f "$mk" ] || { echo "layers: $mk missing"; exit 99; }

# Layer numbers, bottom = 0, one "module rank" line each; then the
# exceptions, as "file:header" words.
awk '
  /^src_layers = *\\$/ { on = 1; next }
  on { line = $0; more = sub(/\\$/, "", line); gsub(/[ \t]/, "", line)
       if (line != "") layers[n++] = line
       if (!more) on = 0; next }
  /^src_layer_exceptions *=/ { sub(/^[^=]*= */, ""); print "exceptions " $0 }
  END { for (i = 0; i < n; i++) { k = split(layers[i], m, ",")
          for (j = 1; j <= k; j++) print "layer " m[j] " " n - 1 - i } }
' "$mk" >"${TMPDIR:-/tmp}/layers.$$" || exit 99
trap 'rm -f "${TMPDIR:-/tmp}/layers.$$"' EXIT

status=0
checked=0
for f in "$srcdir"/src/*.c "$srcdir"/src/*.h; do
  base=${f##*/}
  out=$(awk -v file="$base" '
    FNR == NR {
      if ($1 == "layer") rank[$2] = $3
      else if ($1 == "exceptions") for (i = 2; i <= NF; i++) allowed[$i] = 1
      next
    }
    FNR == 1 {
      mod = file; sub(/\.[ch]$/, "", mod)
      if (!(mod in rank)) { print "layers: " file " belongs to no layer of src_layers"; bad = 1; exit }
      top = rank["api"]
    }
    /^#include "/ {
      h = $2; gsub(/"/, "", h)
      if (h == "config.h") next
      if (h == "hakmem.h") {
        if (rank[mod] < top) { print "layers: " file " includes the public hakmem.h below the api layer"; bad = 1 }
        next
      }
      hm = h; sub(/\.h$/, "", hm)
      if (!(hm in rank)) { print "layers: " file " includes " h ", which belongs to no layer"; bad = 1; next }
      if (hm == mod || rank[hm] < rank[mod]) next
      if ((file ":" h) in allowed) next
      print "layers: " file " (layer " rank[mod] ") includes " h " (layer " rank[hm] ")"; bad = 1
    }
    END { exit bad }
  ' "${TMPDIR:-/tmp}/layers.$$" "$f") || status=1
  [ -n "$out" ] && echo "$out"
  checked=$((checked + 1))
done
[ "$checked" -gt 10 ] || { echo "layers: only $checked files found in $srcdir/src"; exit 99; }
[ $status -eq 0 ] && echo "layers: $checked files include only their own layer and those below"
exit $status
