# interpose-work.py - a deterministic Python workload for interpose.sh:
# dicts, lists, strings, threads and big buffers over a generated data
# set.  Prints digests only, so runs with and without hakmem preloaded
# must print the same bytes.
import collections
import hashlib
import json
import sys
import threading

with open(sys.argv[1], "rb") as f:
    data = f.read()
lines = data.decode("ascii").split("\n")

counts = collections.Counter(w for line in lines for w in line.split())
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:200]
print("words", len(counts), hashlib.sha256(json.dumps(top).encode()).hexdigest())
print("sorted", hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest())

by_len = {}
for i, line in enumerate(lines):
    by_len.setdefault(len(line), []).append(i)
print("lengths", len(by_len), sum(len(v) for v in by_len.values()))

parts = [str(i * i) for i in range(200000)]
print("join", hashlib.md5("".join(parts).encode()).hexdigest())

results = [None] * 4


def worker(k):
    acc = [line[::-1].upper() for line in lines[k::4]]
    acc.sort()
    d = {s: n for n, s in enumerate(acc)}
    results[k] = hashlib.sha1(("|".join(acc) + str(len(d))).encode()).hexdigest()


threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", " ".join(results))

# buffers above 1 MiB take hakmem's large path; bytearray growth reallocs
blobs = [bytes([i % 251]) * ((1 << 20) + i * 4099) for i in range(12)]
grow = bytearray()
for i in range(3000):
    grow += bytes([i % 256]) * 1000
print("big", sum(len(b) for b in blobs), hashlib.md5(bytes(grow)).hexdigest())
