#!/bin/sh
# glibc-compat.sh - glibc's malloc extensions under LD_PRELOAD=libhakmem.so.1:
# glibc_compat_probe makes the same calls with glibc's malloc and with
# hakmem's, and every "same" line must read the same in both runs; where
# hakmem differs by design ("differs" lines) it must do what hakmem(7)
# says.  malloc_info's documents parse as XML (python3's xml.etree) with
# glibc's elements in both, and hakmem's per-class detail adds up.  A
# Python program calls malloc_trim through ctypes and reaches hakmem's.
set -u

. "$(dirname "$0")/lib.sh"
need python3:python3
probe=$TEST_BUILDDIR/tests/preload/glibc_compat_probe
[ -x "$probe" ] || { echo "$test_name: $probe not built"; exit 99; }
lib=$TEST_LIB
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$probe" "$tmp/glibc.xml" "$tmp/glibc.stats" >"$tmp/glibc.out" 2>"$tmp/glibc.err" ||
  { echo "$test_name: the probe fails with glibc's malloc:"; cat "$tmp/glibc.err"; exit 99; }
# Without the purge thread, which would give back memory idle for a
# second before malloc_trim looks.
LD_PRELOAD=$lib HAKMEM_BACKGROUND=0 "$probe" "$tmp/hakmem.xml" "$tmp/hakmem.stats" >"$tmp/hakmem.out" 2>"$tmp/hakmem.err" ||
  { bad "the probe fails under LD_PRELOAD:"; sed 's/^/  | /' "$tmp/hakmem.err"; exit 1; }

# The same calls, the same results.
grep '^same ' "$tmp/glibc.out" >"$tmp/glibc.same"
grep '^same ' "$tmp/hakmem.out" >"$tmp/hakmem.same"
if [ "$(wc -l <"$tmp/glibc.same")" -lt 40 ]; then
  bad "the probe printed only $(wc -l <"$tmp/glibc.same") lines to compare"
elif ! cmp -s "$tmp/glibc.same" "$tmp/hakmem.same"; then
  bad "hakmem answers otherwise than glibc (- glibc, + hakmem):"
  diff "$tmp/glibc.same" "$tmp/hakmem.same" | sed -n 's/^< /  - /p; s/^> /  + /p'
else
  echo "ok: $(wc -l <"$tmp/hakmem.same") results as glibc's"
fi

# Where hakmem answers otherwise, by design.  (Debug-guard builds fill
# freed blocks with their own poison byte.)
freed_fill=0x5a
[ "$TEST_DEBUG_GUARDS" = yes ] && freed_fill=0xdb
cat >"$tmp/hakmem.want" <<EOF
differs perturb: a freed small block holds past 16 bytes: $freed_fill
differs free_sized and free_aligned_sized exist: yes
differs mallopt(0, 1) = 0
differs mallopt(5, 1) = 0
differs mallopt(9, 1) = 0
differs mallopt(-9, 1) = 0
differs mallopt(100, 1) = 0
EOF
grep '^differs ' "$tmp/hakmem.out" >"$tmp/hakmem.differs"
if ! cmp -s "$tmp/hakmem.want" "$tmp/hakmem.differs"; then
  bad "hakmem's own answers (- expected, + hakmem):"
  diff "$tmp/hakmem.want" "$tmp/hakmem.differs" | sed -n 's/^< /  - /p; s/^> /  + /p'
else
  echo "ok: where hakmem differs from glibc, as hakmem(7) says"
fi

# malloc_info: XML, with glibc's elements in both; hakmem's classes.
if ! python3 - "$tmp/glibc.xml" "$tmp/hakmem.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

def skeleton(path):
    """glibc's structure: the root, the heap and their totals."""
    root = ET.parse(path).getroot()
    heap = root.find("heap")
    assert root.tag == "malloc" and root.get("version") == "1", "root"
    assert heap is not None and heap.get("nr") == "0", "heap 0"
    assert heap.find("sizes") is not None, "sizes"
    def totals(e):
        return [(c.tag, c.get("type")) for c in e if c.tag in ("total", "system", "aspace")]
    for e in [heap] + [root]:
        for c in e:
            if c.tag in ("total", "system", "aspace"):
                int(c.get("size"))
    return totals(heap), totals(root)

glibc, hakmem = skeleton(sys.argv[1]), skeleton(sys.argv[2])
if glibc != hakmem:
    sys.exit("malloc_info elements differ:\n  glibc  %s\n  hakmem %s" % (glibc, hakmem))

root = ET.parse(sys.argv[2]).getroot()
heap = root.find("heap")
sizes = heap.find("sizes").findall("size")
assert sizes, "no size elements"
prev_to = -1
free_bytes = 0
for s in sizes:
    a = {k: int(s.get(k)) for k in ("from", "to", "total", "count", "in_use", "slabs")}
    assert prev_to < a["from"] <= a["to"], "classes out of order: %s" % s.attrib
    assert a["total"] == a["count"] * a["to"], "total != count * size: %s" % s.attrib
    assert a["slabs"] > 0 or a["in_use"] > 0, "an unused class: %s" % s.attrib
    prev_to = a["to"]
    free_bytes += a["total"]
rest = heap.find("total[@type='rest']")
assert free_bytes <= int(rest.get("size")), "free blocks exceed the free bytes"
info = root.find("hakmem")
assert info is not None and info.get("version"), "no hakmem element"
print("ok: malloc_info parses as XML, glibc's elements, %d size classes" % len(sizes))
EOF
then
  bad "malloc_info's document:"; sed 's/^/  | /' "$tmp/hakmem.xml"
fi

# A Python program calls malloc_trim through ctypes: hakmem's, which
# gives back what the program freed.
if ! LD_PRELOAD=$lib HAKMEM_BACKGROUND=0 python3 -c 'import ctypes; c = ctypes.CDLL(None); h = ctypes.CDLL("libhakmem.so.1"); addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value; assert addr(c.malloc_trim) == addr(h.malloc_trim), "not hakmem s malloc_trim"; b = [bytearray(200000) for i in range(100)]; del b; assert c.malloc_trim(0) == 1, "malloc_trim(0) gave nothing back"' \
     >"$tmp/python.err" 2>&1; then
  bad "python3 calling malloc_trim through ctypes:"; sed 's/^/  | /' "$tmp/python.err"
else
  echo "ok: python3 called hakmem's malloc_trim through ctypes"
fi

exit $fail
