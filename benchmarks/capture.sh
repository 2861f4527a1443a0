#!/usr/bin/env bash
# Writer tax, side by side in one run: pgbench UPDATEs of `quotes` (captured) against
# the same UPDATEs of an identical table with no triggers, synchronous_commit=off, with
# an app instance (feeds off) following each database. OLD and NEW are two binaries
# (main's against another capture's, or the same binary twice for main's tax alone);
# each gets its own database.
# usage: benchmarks/capture.sh OLD_BINARY NEW_BINARY [seconds] [repeats]
set -euo pipefail
OLD=$1 NEW=$2 SECS=${3:-10} REPS=${4:-3}
PG="-h 127.0.0.1 -U postgres"
export PGOPTIONS="-c synchronous_commit=off"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
port=18480
for side in old new; do
  db=capture_$side; bin=$OLD; [ $side = new ] && bin=$NEW
  psql $PG -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
  "$bin" migrate -database-url "$url" up >/dev/null
  psql $PG -d $db -q >/dev/null <<'SQL'
INSERT INTO quotes (symbol, price) SELECT 'S' || lpad(i::text, 4, '0'), 100 FROM generate_series(1, 1000) i;
CREATE TABLE quotes_plain (LIKE quotes INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
INSERT INTO quotes_plain SELECT * FROM quotes;
VACUUM ANALYZE;
SQL
  port=$((port+1))
  DATABASE_URL=$url TICKERBOARD_FEEDS=none "$bin" -addr 127.0.0.1:$port -log-level warn >/tmp/capture_$side.log 2>&1 &
  pids+=($!)
done
sleep 2 # the instances connect and listen; pgbench's own numbers are what is measured
dir=$(mktemp -d)
for t in quotes quotes_plain; do
  printf '\\set s random(1, 1000)\nUPDATE %s SET price = price + 0.01 WHERE symbol = '"'"'S'"'"' || lpad(:s::text, 4, '"'"'0'"'"');\n' $t >$dir/one_$t.sql
  printf '\\set s random(1, 801)\nUPDATE %s SET price = price + 0.01 WHERE symbol BETWEEN '"'"'S'"'"' || lpad(:s::text, 4, '"'"'0'"'"') AND '"'"'S'"'"' || lpad((:s + 199)::text, 4, '"'"'0'"'"');\n' $t >$dir/many_$t.sql
done
echo "rep,side,workload,table,tps"
for rep in $(seq 1 $REPS); do
  for side in old new; do
    for w in one many; do
      clients=4; [ $w = many ] && clients=1
      for t in quotes quotes_plain; do
        tps=$(pgbench $PG -n -T $SECS -c $clients -j $clients -f $dir/${w}_$t.sql capture_$side 2>/dev/null | awk '/^tps/ {print $3; exit}')
        echo "$rep,$side,$w,$t,$tps"
      done
    done
  done
done
