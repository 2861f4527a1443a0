#!/usr/bin/env bash
# Postgres CPU spent on N listening Tickerboard instances at 400 single-row commits/s.
# usage: scaleout.sh BIN "1 4 16" [window seconds]
set -euo pipefail
BIN=$1 NS=${2:-"1 4 16"} WIN=${3:-30}
PG="-h 127.0.0.1 -U postgres"
db=scaleout; url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap 'cleanup; psql $PG -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
psql $PG -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
"$BIN" migrate -database-url "$url" up >/dev/null
psql $PG -d $db -q >/dev/null <<'SQL'
INSERT INTO quotes (symbol, price) SELECT 'S' || lpad(i::text, 4, '0'), 100 FROM generate_series(1, 1000) i;
VACUUM ANALYZE;
SQL
f=$(mktemp); printf '\\set s random(1, 1000)\nUPDATE quotes SET price = price + 0.01 WHERE symbol = '"'"'S'"'"' || lpad(:s::text, 4, '"'"'0'"'"');\n' >$f
ticks() { local t=0; for p in "$@"; do [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
backends() { psql $PG -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'client backend' AND application_name NOT IN ('pgbench', 'psql') AND pid <> pg_backend_pid()" | tr '\n' ' '; }
allpg() { pgrep -u postgres -d ' ' postgres; }
hz=$(getconf CLK_TCK)
echo "instances,backends,listeners,window_s,commits_per_s,backend_cores,per_instance_pct,all_postgres_cores,box_cores"
for n in $NS; do
  cleanup; pids=()
  for i in $(seq 1 $n); do
    DATABASE_URL=$url TICKERBOARD_FEEDS=none "$BIN" -addr 127.0.0.1:$((18600+i)) -log-level warn >${OUT:-/tmp}/scaleout_${n}_$i.log 2>&1 &
    pids+=($!)
  done
  sleep 3
  pgbench $PG -n -R 400 -T $((WIN+8)) -c 2 -j 2 -f $f $db >${OUT:-/tmp}/scaleout-pgbench-$n.txt 2>&1 &
  pb=$!
  sleep 5
  b=$(backends); a=$(allpg)
  listeners=$(psql $PG -Atc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND application_name = 'tickerboard-listener'")
  t0=$(ticks $b); p0=$(ticks $a); box0=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat)
  c0=$(psql $PG -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'")
  sleep $WIN
  t1=$(ticks $b); p1=$(ticks $a); box1=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat)
  c1=$(psql $PG -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'")
  wait $pb || true
  nb=$(echo $b | wc -w)
  awk -v n=$n -v nb=$nb -v l=$listeners -v w=$WIN -v hz=$hz -v t=$((t1-t0)) -v p=$((p1-p0)) -v bx=$((box1-box0)) -v c=$((c1-c0)) \
    'BEGIN { cores = t/hz/w; printf "%d,%d,%d,%d,%.0f,%.3f,%.2f,%.3f,%.3f\n", n, nb, l, w, c/w, cores, 100*cores/n, p/hz/w, bx/hz/w }'
done
