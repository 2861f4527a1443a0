#!/usr/bin/env bash
# One repeat of capture.sh's four cells (main's tax) with 100 tbload viewers (idle mode,
# reading every event) on the instance. usage: benchmarks/capture-viewers.sh BINARY [seconds]
# (needs $TBLOAD, default /tmp/tbload; logs in $OUT, default /tmp)
set -euo pipefail
BIN=$1 SECS=${2:-10}
PG="-h 127.0.0.1 -U postgres"
export PGOPTIONS="-c synchronous_commit=off"
db=capture_view; url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; psql $PG -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
psql $PG -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
"$BIN" migrate -database-url "$url" up >/dev/null
psql $PG -d $db -q >/dev/null <<'SQL'
INSERT INTO quotes (symbol, price) SELECT 'S' || lpad(i::text, 4, '0'), 100 FROM generate_series(1, 1000) i;
INSERT INTO quotes (symbol, price) SELECT 'TB' || lpad(i::text, 4, '0'), 100 FROM generate_series(0, 99) i;
CREATE TABLE quotes_plain (LIKE quotes INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
INSERT INTO quotes_plain SELECT * FROM quotes;
VACUUM ANALYZE;
SQL
DATABASE_URL=$url TICKERBOARD_FEEDS=none "$BIN" -addr 127.0.0.1:18490 -max-streams-per-ip 0 -log-level warn >${OUT:-/tmp}/capture_view.log 2>&1 &
tbpid=$!; pids+=($tbpid)
sleep 2
${TBLOAD:-/tmp/tbload} -server http://127.0.0.1:18490 -pid $tbpid -targets tickerboard -clients 100 -mode idle -settle 1s -duration $((SECS*4+15))s -quiet -json ${OUT:-/tmp}/capture-viewers-tbload.json >${OUT:-/tmp}/capture-viewers-tbload.txt 2>&1 &
pids+=($!)
sleep 6
curl -s -m 2 127.0.0.1:18490/metrics 2>/dev/null | grep -E "^tickerboard_streams" | head -5 >&2 || true
dir=$(mktemp -d)
for t in quotes quotes_plain; do
  printf '\\set s random(1, 1000)\nUPDATE %s SET price = price + 0.01 WHERE symbol = '"'"'S'"'"' || lpad(:s::text, 4, '"'"'0'"'"');\n' $t >$dir/one_$t.sql
  printf '\\set s random(1, 801)\nUPDATE %s SET price = price + 0.01 WHERE symbol BETWEEN '"'"'S'"'"' || lpad(:s::text, 4, '"'"'0'"'"') AND '"'"'S'"'"' || lpad((:s + 199)::text, 4, '"'"'0'"'"');\n' $t >$dir/many_$t.sql
done
echo "rep,side,workload,table,tps"
for w in one many; do
  clients=4; [ $w = many ] && clients=1
  for t in quotes quotes_plain; do
    tps=$(pgbench $PG -n -T $SECS -c $clients -j $clients -f $dir/${w}_$t.sql $db 2>/dev/null | awk '/^tps/ {print $3; exit}')
    echo "1,viewers100,$w,$t,$tps"
  done
done
curl -s -m 2 127.0.0.1:18490/metrics 2>/dev/null | grep -E "^tickerboard_(streams|events)" | head -8 >&2 || true
