#!/bin/sh
# sqlite.sh - sqlite3 builds and queries a generated database with
# hakmem preloaded; every result must equal the run without hakmem.
# Short form: 20000 rows; long (TEST_LONG=1): 400000.  Needs sqlite3.
set -u
. "$(dirname "$0")/lib.sh"
need sqlite3:sqlite3
rows=20000
[ "$long" = 1 ] && rows=400000

cat >"$tmp/script.sql" <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL, tags TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO item SELECT i, printf('item-%08d-%s', i, hex(i * 7919)),
       i % 97, (i * 37 % 1000) / 10.0, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 11)
FROM n;
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 96)
INSERT INTO grp SELECT i, 'group ' || i || ' ' || replace(hex(i * 31337), '0', 'z') FROM n;
CREATE INDEX item_grp ON item(grp, price);
CREATE INDEX item_name ON item(name);
SELECT count(*), sum(price), min(name), max(name) FROM item;
SELECT g.label, count(*), round(avg(i.price), 3), group_concat(DISTINCT i.tags)
  FROM item i JOIN grp g ON g.id = i.grp GROUP BY g.id ORDER BY g.id;
SELECT id, name, rank() OVER (PARTITION BY grp ORDER BY price DESC, id) AS r
  FROM item WHERE id % 1000 = 7 ORDER BY id;
UPDATE item SET tags = upper(tags) || '-' || length(name) WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
SELECT count(*), sum(length(tags)), total(price) FROM item;
SELECT tags, count(*) FROM item GROUP BY tags ORDER BY count(*) DESC, tags LIMIT 20;
SELECT name FROM item WHERE name LIKE '%-1%A%' ORDER BY name LIMIT 20;
CREATE TABLE doc AS SELECT id, json_object('id', id, 'name', name, 'tags', json_array(tags, grp)) AS j
  FROM item WHERE id % 7 = 1;
SELECT count(*), sum(json_extract(j, '\$.id')), max(length(j)) FROM doc;
VACUUM;
PRAGMA integrity_check;
SQL

run() {
  rm -f "$tmp/db" "$tmp/db-wal" "$tmp/db-shm"
  "$@" sqlite3 -batch "$tmp/db" <"$tmp/script.sql"
}
run env >"$tmp/ref" 2>&1 || { echo "$test_name: sqlite3 fails without hakmem:"; tail "$tmp/ref"; exit 99; }
run env HAKMEM_STATS=json LD_PRELOAD="$TEST_LIB" >"$tmp/out" 2>"$tmp/stats"
rc=$?
if [ $rc -ne 0 ] || ! cmp -s "$tmp/ref" "$tmp/out"; then
  echo "$test_name: FAIL: with hakmem (status $rc) the results differ:"
  diff "$tmp/ref" "$tmp/out" | head -n 20
  grep -v '^{' "$tmp/stats" | tail -n 10
  exit 1
fi
proves_hakmem "$tmp/stats" || exit 1
echo "$test_name: $rows rows, $(wc -l <"$tmp/out") lines of results, identical with hakmem"
