# Shared by capture.sh and capture-viewers.sh: the database, the pgbench scripts and the
# four cells of the writer-tax measurement. Source it; it uses $PG.

# capture_db DB BINARY [SQL]: a fresh database migrated by BINARY with 1,000 quotes
# S0001…S1000 (and whatever SQL adds), then quotes_plain, the same table (columns,
# constraints, indexes, storage parameters) and rows with no triggers.
capture_db() {
  local db=$1 bin=$2 extra=${3:-}
  psql $PG -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  "$bin" migrate -database-url "postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" up >/dev/null
  psql $PG -d "$db" -q >/dev/null <<SQL
INSERT INTO quotes (symbol, price) SELECT 'S' || lpad(i::text, 4, '0'), 100 FROM generate_series(1, 1000) i;
$extra
CREATE TABLE quotes_plain (LIKE quotes INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
-- identical storage too: quotes' fillfactor (LIKE does not copy it)
DO \$\$ DECLARE o text[] := (SELECT reloptions FROM pg_class WHERE oid = 'quotes'::regclass); BEGIN
  IF o IS NOT NULL THEN EXECUTE format('ALTER TABLE quotes_plain SET (%s)', array_to_string(o, ', ')); END IF;
END \$\$;
INSERT INTO quotes_plain SELECT * FROM quotes;
VACUUM ANALYZE;
SQL
}

# capture_scripts DIR: pgbench scripts one_<table>.sql (one random row a transaction)
# and many_<table>.sql (200 consecutive rows a transaction) for both tables.
capture_scripts() {
  local dir=$1 t
  for t in quotes quotes_plain; do
    printf '\\set s random(1, 1000)\nUPDATE %s SET price = price + 0.01 WHERE symbol = '"'"'S'"'"' || lpad(:s::text, 4, '"'"'0'"'"');\n' $t >$dir/one_$t.sql
    printf '\\set s random(1, 801)\nUPDATE %s SET price = price + 0.01 WHERE symbol BETWEEN '"'"'S'"'"' || lpad(:s::text, 4, '"'"'0'"'"') AND '"'"'S'"'"' || lpad((:s + 199)::text, 4, '"'"'0'"'"');\n' $t >$dir/many_$t.sql
  done
}

# capture_drain DB: under the WAL capture, wait until the capture has logged everything
# committed so far (its slot confirms the current WAL position) and print how long that
# took, in seconds; under the triggers there is nothing to wait for (prints 0).
capture_drain() {
  local db=$1 lsn start=$(date +%s.%N) n=0
  lsn=$(psql $PG -d "$db" -Atc "SELECT pg_current_wal_lsn()")
  while [ "$(psql $PG -d "$db" -Atc "SELECT coalesce((SELECT s.confirmed_flush_lsn < '$lsn'
      FROM pg_replication_slots s WHERE s.database = current_database() AND s.slot_name LIKE 'tickerboard%'), false)")" = t ]; do
    n=$((n+1)); [ $n -gt 6000 ] && { echo "capture did not drain in 10 min" >&2; return 1; }
    sleep 0.1
  done
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }'
}

# capture_cells DIR DB SECONDS REP SIDE: the four cells (one row × 4 clients, 200 rows ×
# 1 client, on quotes and quotes_plain), a CSV line each: rep,side,workload,table,tps,
# drain. Every cell starts with the capture caught up, and drain is how long the
# capture took after the cell to log what the cell committed (0 for the triggers, which
# log inside the writer's transaction): a capture that cannot keep up shows here.
capture_cells() {
  local dir=$1 db=$2 secs=$3 rep=$4 side=$5 w t clients tps drain
  capture_drain $db >/dev/null
  for w in one many; do
    clients=4; [ $w = many ] && clients=1
    for t in quotes quotes_plain; do
      tps=$(pgbench $PG -n -T $secs -c $clients -j $clients -f $dir/${w}_$t.sql $db 2>/dev/null | awk '/^tps/ {print $3; exit}')
      drain=$(capture_drain $db)
      echo "$rep,$side,$w,$t,$tps,$drain"
    done
  done
}
