#!/bin/sh
# redis.sh - redis-server with hakmem preloaded, on 127.0.0.1 and a
# random high port, under redis-benchmark -q -n 20000 (every command
# type), then a data check: 2000 keys written, DBSIZE and GET read back,
# a 1 MiB value round-tripped, and a clean SHUTDOWN.  The server is
# always stopped (trap), never left running.  Long form only
# (TEST_LONG=1, make check-long).  Needs redis-server and redis-tools.
set -u
. "$(dirname "$0")/lib.sh"
if [ "$long" != 1 ]; then
  echo "$test_name: long form only (make check-long); skipped"
  exit 77
fi
need redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools
requests=${TEST_REDIS_REQUESTS:-20000}

pid=
cleanup_hooks='[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null'
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# A random high port; retried when taken.
tries=0
while :; do
  tries=$((tries + 1))
  port=$(awk -v s="$$$tries" 'BEGIN { srand(s); print 20000 + int(rand() * 40000) }')
  HAKMEM_STATS=json LD_PRELOAD=$TEST_LIB redis-server --port "$port" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --dir "$tmp" --logfile "$tmp/redis.log" \
    2>"$tmp/stats" &
  pid=$!
  up=0
  n=0
  while [ $n -lt 100 ]; do
    n=$((n + 1))
    if [ "$(cli ping 2>/dev/null)" = PONG ]; then up=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ $up = 1 ] && break
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=
  if [ $tries -ge 5 ]; then
    echo "$test_name: FAIL: redis-server did not start with hakmem:"
    tail -n 20 "$tmp/redis.log" "$tmp/stats"
    exit 1
  fi
done
echo "$test_name: redis-server (hakmem preloaded) on 127.0.0.1:$port"

fail() { echo "$test_name: FAIL: $*"; tail -n 20 "$tmp/redis.log"; exit 1; }

redis-benchmark -h 127.0.0.1 -p "$port" -q -n "$requests" >"$tmp/bench" 2>&1 ||
  fail "redis-benchmark failed: $(tail -n 3 "$tmp/bench")"
tr '\r' '\n' <"$tmp/bench" | grep 'requests per second' | sed 's/^/  /'
kill -0 "$pid" 2>/dev/null || fail "redis-server died under the benchmark"

cli flushall >/dev/null || fail "FLUSHALL"
awk 'BEGIN { for (i = 1; i <= 2000; i++) printf "SET key:%d value-%d-%s\n", i, i, substr("abcdefghijklmnopqrstuvwxyz", 1, 1 + i % 26) }' |
  cli >/dev/null || fail "SET pipeline"
[ "$(cli dbsize)" = 2000 ] || fail "DBSIZE is $(cli dbsize), 2000 expected"
for i in 1 777 1500 2000; do
  want=$(awk -v i=$i 'BEGIN { printf "value-%d-%s", i, substr("abcdefghijklmnopqrstuvwxyz", 1, 1 + i % 26) }')
  [ "$(cli get key:$i)" = "$want" ] || fail "GET key:$i is '$(cli get key:$i)', '$want' expected"
done
awk 'BEGIN { for (i = 0; i < 16384; i++) printf "%063d\n", i }' >"$tmp/big"
cli -x set big <"$tmp/big" >/dev/null || fail "SET of 1 MiB"
# redis-cli --raw ends its output with a newline of its own
cli --raw get big >"$tmp/big.back" || fail "GET big"
{ cat "$tmp/big"; echo; } | cmp -s - "$tmp/big.back" || fail "the 1 MiB value came back different"
[ "$(cli strlen big)" = "$(wc -c <"$tmp/big" | tr -d ' ')" ] || fail "STRLEN big"

cli shutdown nosave >/dev/null 2>&1
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || fail "redis-server exited with status $rc"
proves_hakmem "$tmp/stats" || exit 1
echo "$test_name: benchmark, 2000 keys, 1 MiB value and shutdown all fine with hakmem"
