"""py_dicts.py - a real program for the hakmem benchmarks: CPython building
and dropping large dicts and lists (integers, strings, tuples, nested
lists), as a data-processing script does.  The runner starts it with
PYTHONMALLOC=malloc so every object goes through the preloaded malloc
rather than CPython's own small-object arenas.

usage: python3 py_dicts.py [items [rounds]]   (prints "seconds S")
"""

import sys
import time


def one_round(n):
    # A table keyed by int and one keyed by str, with small values: many
    # small objects and a few big hash tables that grow by resizing.
    by_id = {i: str(i) for i in range(n)}
    by_name = {v: [k, k + 1] for k, v in by_id.items() if k % 2 == 0}
    # Lists that grow by append (realloc of the item array) and tuples.
    rows = []
    for i in range(n):
        rows.append((i, by_id[i], float(i)))
    rows.sort(key=lambda r: r[1])
    # Drop half the table in scattered order, then rebuild part of it,
    # so frees and allocations interleave as in a long-running process.
    for i in range(0, n, 2):
        del by_id[i]
    for i in range(0, n, 4):
        by_id[i] = "x" * (i % 64)
    total = sum(len(v) for v in by_id.values()) + len(by_name) + len(rows)
    del by_id, by_name, rows
    return total


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    start = time.perf_counter()
    check = 0
    for _ in range(rounds):
        check += one_round(n)
    elapsed = time.perf_counter() - start
    print("py_dicts: %d items x %d rounds, %.3f s (check %d)" % (n, rounds, elapsed, check))
    print("seconds %.6f" % elapsed)


if __name__ == "__main__":
    main()
