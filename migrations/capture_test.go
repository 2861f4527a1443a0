package migrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// logged is one row of the event log, its payload decoded.
type logged struct {
	ID      int64
	Event   string
	Key     string
	Payload map[string]any
}

func (e logged) String() string { return fmt.Sprintf("%d %s/%s %v", e.ID, e.Event, e.Key, e.Payload) }

// logAfter reads the event log after id, as the superuser.
func logAfter(t *testing.T, dbURL string, after int64) []logged {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := testdb.Conn(t, dbURL, "")
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, event, key, payload FROM events WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		t.Fatal(err)
	}
	var out []logged
	for rows.Next() {
		var e logged
		var payload []byte
		if err := rows.Scan(&e.ID, &e.Event, &e.Key, &payload); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(payload, &e.Payload); err != nil {
			t.Fatalf("event %d payload %s: %v", e.ID, payload, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// head is the newest id in the log (0 when empty).
func head(t *testing.T, dbURL string) int64 {
	t.Helper()
	evs := logAfter(t, dbURL, 0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].ID
}

// mustPsql runs sql through psql at u and fails the test if psql stops on an error.
func mustPsql(t *testing.T, u, sql string) {
	t.Helper()
	if out, err := psql(t, u, sql); err != nil {
		t.Fatalf("psql: %v\n%s\n%s", err, sql, out)
	}
}

// wantEvent is an event expected in the log: its name, key and some payload fields.
type wantEvent struct {
	event, key string
	fields     map[string]any
}

// expectLog checks that the log after id holds exactly want, in order, and returns
// the newest id.
func expectLog(t *testing.T, dbURL string, after int64, what string, want ...wantEvent) int64 {
	t.Helper()
	got := logAfter(t, dbURL, after)
	if len(got) != len(want) {
		t.Fatalf("%s: logged %d events %v, want %d", what, len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Event != w.event || g.Key != w.key {
			t.Errorf("%s: event %d is %s/%s, want %s/%s (%v)", what, i, g.Event, g.Key, w.event, w.key, got)
		}
		for k, v := range w.fields {
			if g.Payload[k] != v {
				t.Errorf("%s: event %d (%s/%s) %s = %v, want %v; payload %v", what, i, g.Event, g.Key, k, g.Payload[k], v, g.Payload)
			}
		}
	}
	if len(got) == 0 {
		return after
	}
	return got[len(got)-1].ID
}

// A session whose own `events` comes first — a temporary table, or another schema
// ahead of the board's on its search_path — still writes its changes to the real
// log, and the doorbell rings for them.
func TestSearchPathCannotHideTheLog(t *testing.T) {
	_, dbURL := testdb.Open(t)
	mustPsql(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('ACME', 40);
CREATE SCHEMA myschema;
CREATE TABLE myschema.events (id bigserial, event text, key text, payload jsonb, created_at timestamptz);
CREATE TABLE myschema.events_commit (txid xid8);
CREATE TABLE myschema.tickerboard_pending (seq bigint, event text, key text, payload jsonb);
GRANT USAGE ON SCHEMA myschema TO tickerboard_writer;
GRANT ALL ON ALL TABLES IN SCHEMA myschema TO tickerboard_writer;`)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listener, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN tickerboard"); err != nil {
		t.Fatal(err)
	}

	shadows := map[string]string{
		"temp table": `CREATE TEMP TABLE events (id bigserial, event text, key text, payload jsonb, created_at timestamptz);
CREATE TEMP TABLE events_commit (txid xid8);
`,
		"schema first": `SET search_path = myschema, public;
`,
		"pg_temp first": `CREATE TEMP TABLE events (id bigserial, event text, key text, payload jsonb, created_at timestamptz);
SET search_path = pg_temp, myschema, public;
`,
	}
	price := 41
	after := head(t, dbURL)
	for _, as := range []struct{ role, url string }{{"postgres", dbURL}, {"writer", writerURL(t, dbURL)}} {
		for name, shadow := range shadows {
			price++
			mustPsql(t, as.url, shadow+fmt.Sprintf(`UPDATE quotes SET price = %d WHERE symbol = 'ACME';
SELECT count(*) AS shadow_rows FROM events;`, price))
			after = expectLog(t, dbURL, after, as.role+", "+name,
				wantEvent{"price", "ACME", map[string]any{"price": float64(price)}})
			n, err := listener.WaitForNotification(ctx)
			if err != nil {
				t.Fatalf("%s, %s: no NOTIFY for the change: %v", as.role, name, err)
			}
			if n.Payload != fmt.Sprint(after) {
				t.Errorf("%s, %s: NOTIFY %q, want the event id %d", as.role, name, n.Payload, after)
			}
		}
	}
	var shadowRows int
	if err := listener.QueryRow(ctx, `SELECT count(*) FROM myschema.events`).Scan(&shadowRows); err != nil {
		t.Fatal(err)
	}
	if shadowRows != 0 {
		t.Errorf("myschema.events got %d rows; the capture path wrote to a session's table", shadowRows)
	}
}

// A session's search_path cannot change what the fill triggers do. Were they to look
// names up on it, a schema ahead of pg_catalog with its own clock_timestamp() and
// operators (a <= that calls every price not positive, an = that calls it NaN) would
// stamp rows in 2001 and leave the day's open, high and low unfilled. The triggers
// name everything with its schema instead of pinning search_path with a SET clause,
// which Postgres pays for on every row (migration 000006).
func TestSearchPathCannotChangeTheFills(t *testing.T) {
	_, dbURL := testdb.Open(t)
	mustPsql(t, dbURL, `CREATE SCHEMA evil;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS 'SELECT timestamptz ''2001-01-01 00:00:00+00''';
CREATE FUNCTION evil.le(numeric, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.<= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = evil.le);
CREATE FUNCTION evil.eq(numeric, numeric) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = evil.eq);
GRANT USAGE ON SCHEMA evil TO tickerboard_writer;`)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for i, as := range []struct{ role, url string }{{"postgres", dbURL}, {"writer", writerURL(t, dbURL)}} {
		sym := fmt.Sprintf("HJK%d", i)
		mustPsql(t, as.url, fmt.Sprintf(`SET search_path = evil, pg_catalog, public;
INSERT INTO quotes (symbol, price) VALUES ('%[1]s', 10);
UPDATE quotes SET price = 12 WHERE symbol = '%[1]s';
UPDATE quotes SET price = 11 WHERE symbol = '%[1]s';
UPDATE market SET session = 'open';`, sym))
		var got string
		if err := conn.QueryRow(ctx, `SELECT concat_ws(' ', q.price, q.prev_close, q.day_open, q.day_high, q.day_low,
				q.updated_at > '2002-01-01', m.updated_at > '2002-01-01')
			FROM quotes q, market m WHERE q.symbol = $1`, sym).Scan(&got); err != nil {
			t.Fatal(err)
		}
		// price, prev_close, day_open, day_high, day_low; both rows stamped now
		if want := "11.0000 10.0000 10.0000 12.0000 10.0000 t t"; got != want {
			t.Errorf("as %s with evil first on its search_path: quote and market %q, want %q", as.role, got, want)
		}
	}
	var pinned string
	if err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(proname, ','), '') FROM pg_proc
		WHERE proname IN ('quotes_fill', 'market_fill') AND proconfig IS NOT NULL`).Scan(&pinned); err != nil {
		t.Fatal(err)
	}
	if pinned != "" {
		t.Errorf("%s carry a SET clause, which every changed row pays for", pinned)
	}
}

// Ids only go up: not back after `setval`, and not stuck behind a row written far
// ahead (possible only for a superuser who first disables the log's guard).
func TestEventIDsNeverGoBackwards(t *testing.T) {
	_, dbURL := testdb.Open(t)
	mustPsql(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('ACME', 40);
UPDATE quotes SET price = 41 WHERE symbol = 'ACME';
UPDATE quotes SET price = 42 WHERE symbol = 'ACME';`)
	last := head(t, dbURL)

	mustPsql(t, dbURL, `SELECT setval('events_id_seq', 1);
UPDATE quotes SET price = 43 WHERE symbol = 'ACME';`)
	got := logAfter(t, dbURL, 0)
	if n := got[len(got)-1]; n.ID != last+1 || n.Payload["price"] != 43.0 {
		t.Fatalf("after setval(1) the next change is %v, want id %d", n, last+1)
	}

	const far = 1_000_000_000_000_000
	mustPsql(t, dbURL, fmt.Sprintf(`ALTER TABLE events DISABLE TRIGGER events_capture_only;
INSERT INTO events (id, event, payload) VALUES (%d, 'note', '{}');
ALTER TABLE events ENABLE TRIGGER events_capture_only;`, far))
	// A transaction that took its snapshot before the far row still sees past it.
	mustPsql(t, dbURL, `BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE quotes SET price = 44 WHERE symbol = 'ACME';
COMMIT;
UPDATE quotes SET price = 45 WHERE symbol = 'ACME';`)
	expectLog(t, dbURL, far, "after a row at 10^15",
		wantEvent{"price", "ACME", map[string]any{"price": 44.0}},
		wantEvent{"price", "ACME", map[string]any{"price": 45.0}})
	if got := logAfter(t, dbURL, far); got[0].ID != far+1 {
		t.Errorf("first id after the far row is %d, want %d", got[0].ID, far+1)
	}
}

// A session holding the ordering lock cannot stall writers for long: a commit waits
// 5 s, then fails saying who holds the lock, and writes nothing. Once the lock is
// free, commits go through again.
func TestOrderingLockWaitIsBounded(t *testing.T) {
	_, dbURL := testdb.Open(t)
	mustPsql(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('ACME', 40);`)
	before := boardState(t, dbURL)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "lock-hog")
	u.RawQuery = q.Encode()
	hog, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close(context.Background())
	var pid int
	if err := hog.QueryRow(ctx, `SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock(7294615230471)) l`).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	for _, as := range []struct{ role, url string }{{"postgres", dbURL}, {"writer", writerURL(t, dbURL)}} {
		start := time.Now()
		out, err := psql(t, as.url, `UPDATE quotes SET price = 41 WHERE symbol = 'ACME';`)
		waited := time.Since(start)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%s: commit behind a held ordering lock: %v\n%s", as.role, err, out)
		}
		want := regexp.MustCompile(`ERROR:  tickerboard_ordering_lock_timeout: waited 5s for the event-ordering lock held by pid ` +
			fmt.Sprint(pid) + ` \(application "lock-hog"\); nothing was committed`)
		if !want.MatchString(out) {
			t.Errorf("%s: psql said\n%s\nwant it to match %s", as.role, out, want)
		}
		if waited < 4*time.Second || waited > 20*time.Second {
			t.Errorf("%s: the commit failed after %s, want about 5s", as.role, waited)
		}
		if after := boardState(t, dbURL); after != before {
			t.Fatalf("%s: the timed-out commit changed the board:\n%s", as.role, firstDifference(before, after))
		}
	}

	if _, err := hog.Exec(ctx, `SELECT pg_advisory_unlock(7294615230471)`); err != nil {
		t.Fatal(err)
	}
	last := head(t, dbURL)
	mustPsql(t, writerURL(t, dbURL), `UPDATE quotes SET price = 42 WHERE symbol = 'ACME';`)
	expectLog(t, dbURL, last, "after the lock was released", wantEvent{"price", "ACME", map[string]any{"price": 42.0}})
}

// The capture's append takes its locks in the order TRUNCATE … CASCADE does — quotes,
// then price_ticks — so a writer's TRUNCATE and the append may wait for each other but
// never deadlock. (An append that held price_ticks while it waited for quotes deadlocked
// with a TRUNCATE quotes CASCADE that held quotes and asked for price_ticks, and Postgres
// cancelled one of the two: sometimes the writer's TRUNCATE.) Here a session holds
// quotes as TRUNCATE would when the append has a price change to log; the append must
// wait for it holding nothing a TRUNCATE needs, then log the change once quotes is free.
func TestCaptureAppendTakesLocksInTruncatesOrder(t *testing.T) {
	st, dbURL := testdb.Open(t)
	after := head(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, pid := appendAgainstHeldLock(ctx, t, st, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('LOCK', 10);`,
		`LOCK TABLE quotes IN ACCESS EXCLUSIVE MODE`)

	// What the append waits for, and which board tables it holds meanwhile.
	var waitsFor, holds string
	if err := held.QueryRow(ctx, `SELECT coalesce(w.relation::regclass::text, w.locktype),
			coalesce((SELECT string_agg(h.relation::regclass::text || ' ' || h.mode, ', ' ORDER BY h.relation::regclass::text)
			          FROM pg_locks h WHERE h.pid = w.pid AND h.granted
			            AND h.relation IN ('quotes'::regclass, 'price_ticks'::regclass, 'capture_emit'::regclass)), '')
		FROM pg_locks w WHERE w.pid = $1 AND NOT w.granted`, pid).Scan(&waitsFor, &holds); err != nil {
		t.Fatal(err)
	}
	if waitsFor != "quotes" || holds != "" {
		t.Errorf("the append waits for %s holding %q; want it to wait for quotes holding none of quotes, price_ticks, capture_emit", waitsFor, holds)
	}
	if err := held.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	testdb.AwaitCapture(t, dbURL)
	expectLog(t, dbURL, after, "the price, once quotes was free", wantEvent{"price", "LOCK", map[string]any{"price": 10.0}})
}

// A quote deleted while the capture appends its last price change: the sparkline's tick
// for it is left out, and the capture goes on. (The DELETE waits for no append, and an
// append waits for the DELETE to commit before it reads the quotes it ticks.) Here the
// DELETE is held open until the append waits for it, then committed.
func TestCaptureAppendSkipsTicksOfQuotesDeletedMeanwhile(t *testing.T) {
	st, dbURL := testdb.Open(t)
	after := head(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, _ := appendAgainstHeldLock(ctx, t, st, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('GONE', 10);`,
		`DELETE FROM quotes WHERE symbol = 'GONE'`)
	if err := held.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	testdb.AwaitCapture(t, dbURL) // the capture's Run must not end with an error (checked when the test ends)
	expectPricedThenDeleted(t, st, dbURL, after, "GONE")
}

// The other order: the DELETE comes while an append that has read the quote is in
// flight. It must wait for that append to commit and then remove the tick it wrote,
// or the tick outlives its quote (price_ticks has no foreign key: a trigger on quotes
// does what its cascade did). Here the append is held after it wrote its events and
// the quote's tick (ALTER SEQUENCE holds off its setval, its last step but the NOTIFY),
// and the DELETE comes meanwhile.
func TestQuoteDeletedWhileAnAppendIsInFlightLeavesNoTick(t *testing.T) {
	st, dbURL := testdb.Open(t)
	after := head(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, _ := appendAgainstHeldLock(ctx, t, st, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('RACE', 10);`,
		`ALTER SEQUENCE events_id_seq CACHE 1`)

	writer := testdb.Conn(t, writerURL(t, dbURL), "")
	deleted := make(chan error, 1)
	go func() {
		_, err := writer.Exec(ctx, `DELETE FROM quotes WHERE symbol = 'RACE'`)
		deleted <- err
	}()
	// The DELETE either waits (for the append in flight) or, if it did not, is done.
	var deleteErr error
	finished, done := false, false
	for !done {
		select {
		case deleteErr = <-deleted:
			finished, done = true, true
		case <-time.After(5 * time.Millisecond): // (Postgres has no event for "now waiting")
			var waiting bool
			if err := held.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)`,
				writer.PgConn().PID()).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			done = waiting
		}
	}
	if err := held.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	testdb.AwaitCapture(t, dbURL)
	if !finished {
		deleteErr = <-deleted
	}
	if deleteErr != nil {
		t.Fatalf("DELETE: %v", deleteErr)
	}
	testdb.AwaitCapture(t, dbURL)
	expectPricedThenDeleted(t, st, dbURL, after, "RACE")
}

// The append locks no quote. (The ticks' foreign key locked each quote it ticked FOR
// KEY SHARE until the append committed: two WAL records per tick, and a writer's
// update of a quote so locked had to make a MultiXact.) Here the append
// is held after it wrote its events and ticks, and the quote's row must carry no lock.
func TestCaptureAppendLocksNoQuote(t *testing.T) {
	st, dbURL := testdb.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, pid := appendAgainstHeldLock(ctx, t, st, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('HELD', 10);`,
		`ALTER SEQUENCE events_id_seq CACHE 1`)
	var waitsFor string
	var lockers int
	if err := held.QueryRow(ctx, `SELECT coalesce(relation::regclass::text, locktype) FROM pg_locks WHERE pid = $1 AND NOT granted`,
		pid).Scan(&waitsFor); err != nil {
		t.Fatal(err)
	}
	if waitsFor != "events_id_seq" {
		t.Fatalf("the append waits for %s, want events_id_seq (after its events and ticks)", waitsFor)
	}
	// A row's xmax names whoever locks or deletes it (0: nobody).
	if err := held.QueryRow(ctx, `SELECT count(*) FROM quotes WHERE symbol = 'HELD' AND xmax <> '0'`).Scan(&lockers); err != nil {
		t.Fatal(err)
	}
	if lockers != 0 {
		t.Errorf("the append in flight holds a lock on the quote it ticked")
	}
	if err := held.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	testdb.AwaitCapture(t, dbURL)
	if ticks := ticksOf(t, st, "HELD"); ticks != 1 {
		t.Errorf("%d ticks for the quote, want 1", ticks)
	}
}

// price_ticks has no foreign key to quotes (the key's check locked quotes under a
// writer's feet); triggers do what its cascades did, for a writer at psql: a symbol
// changed takes its ticks along, a quote deleted takes them away, and TRUNCATE quotes
// (which the key refused without CASCADE) empties them.
func TestTicksFollowTheirQuote(t *testing.T) {
	_, dbURL := testdb.Open(t)
	mustPsql(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('ACME', 10), ('BOLT', 20);
		INSERT INTO price_ticks (symbol, price, ts) SELECT s, 10 + i, now() - i * interval '1 s'
		FROM unnest(ARRAY['ACME', 'BOLT']) s, generate_series(1, 3) i;`)
	owner := testdb.Conn(t, dbURL, "")
	ticks := func() string {
		t.Helper()
		var out string
		if err := owner.QueryRow(context.Background(), `SELECT coalesce(string_agg(symbol || ':' || n, ' ' ORDER BY symbol), 'none')
			FROM (SELECT symbol, count(*) n FROM price_ticks GROUP BY symbol) s`).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := ticks()
	writer := writerURL(t, dbURL)
	for _, step := range []struct{ sql, want string }{
		{`UPDATE quotes SET symbol = 'ACMX' WHERE symbol = 'ACME';`, strings.ReplaceAll(before, "ACME", "ACMX")},
		{`UPDATE quotes SET symbol = symbol WHERE symbol = 'BOLT';`, strings.ReplaceAll(before, "ACME", "ACMX")},
		{`DELETE FROM quotes WHERE symbol = 'ACMX';`, before[strings.Index(before, "BOLT"):]},
		{`TRUNCATE quotes;`, "none"},
	} {
		mustPsql(t, writer, step.sql)
		if got := ticks(); got != step.want {
			t.Errorf("after %s ticks per symbol are %q, want %q", step.sql, got, step.want)
		}
	}
}

// expectPricedThenDeleted checks that the log after id holds symbol's price of 10 and
// then its delete, and that no sparkline tick is left for it.
func expectPricedThenDeleted(t *testing.T, st *store.Store, dbURL string, after int64, symbol string) {
	t.Helper()
	expectLog(t, dbURL, after, "the price and the delete",
		wantEvent{"price", symbol, map[string]any{"price": 10.0}},
		wantEvent{"price", symbol, map[string]any{"deleted": true}})
	if ticks := ticksOf(t, st, symbol); ticks != 0 {
		t.Errorf("%d ticks left for the deleted quote %s", ticks, symbol)
	}
}

// ticksOf is how many sparkline ticks symbol has.
func ticksOf(t *testing.T, st *store.Store, symbol string) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM price_ticks WHERE symbol = $1`, symbol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// appendAgainstHeldLock makes the WAL capture append change while another session holds
// what hold takes: with the capture stopped, the writer commits change and a transaction
// runs hold; the capture, started again, decodes the change and appends it. It returns
// once the append waits for a lock, with the holding transaction (still open) and the
// append session's pid.
func appendAgainstHeldLock(ctx context.Context, t *testing.T, st *store.Store, dbURL, change, hold string) (pgx.Tx, uint32) {
	t.Helper()
	testdb.RequireWALCapture(t, st)
	testdb.RunCapture(t, st)() // the switch to the WAL made, and the slot there; then stopped
	mustPsql(t, writerURL(t, dbURL), change)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, hold); err != nil {
		t.Fatal(err)
	}
	testdb.RunCapture(t, st)
	for { // (Postgres has no event for "now waiting")
		var pid uint32
		err := tx.QueryRow(ctx, `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE a.application_name = $1 AND a.datname = current_database() AND NOT l.granted LIMIT 1`,
			store.CaptureApplyApplicationName).Scan(&pid)
		if err == nil {
			return tx, pid
		}
		if !errors.Is(err, pgx.ErrNoRows) || ctx.Err() != nil {
			t.Fatalf("waiting for the append to wait for a lock: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A feed updates each quote many times a second while the capture's append holds
// the xmin horizon (its transaction, ~100 ms for a large batch), so no old version can
// be pruned meanwhile. The new versions must still fit on their rows' pages (HOT
// updates, no index entries, no table growth): quotes' pages are packed loosely.
func TestQuoteUpdatesStayOnTheirPagesWhileTheHorizonIsHeld(t *testing.T) {
	_, dbURL := testdb.Open(t)
	ctx := context.Background()
	mustPsql(t, dbURL, `INSERT INTO quotes (symbol, name, price) SELECT 'S' || i, 'Symbol ' || i, 100 FROM generate_series(1, 100) i`)
	reader := testdb.Conn(t, dbURL, "")
	pages := func() map[string]string { // symbol → the page its row is on
		t.Helper()
		rows, err := reader.Query(ctx, `SELECT symbol, (ctid::text::point)[0]::text FROM quotes`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		var symbol, page string
		if _, err := pgx.ForEachRow(rows, []any{&symbol, &page}, func() error { out[symbol] = page; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := pages()

	holder := testdb.Conn(t, dbURL, "")
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // as the append: a transaction with an xid
		t.Fatal(err)
	}
	const rounds = 6
	for range rounds {
		mustPsql(t, dbURL, `UPDATE quotes SET price = price + 0.01`)
	}
	after := pages()
	moved := 0
	for symbol, page := range before {
		if after[symbol] != page {
			moved++
		}
	}
	if moved > 0 {
		t.Errorf("%d of %d quotes moved to another page within %d updates while the horizon was held (updates that are not HOT)", moved, len(before), rounds)
	}
}

// Every change to a board table is an event: corrected plays keep the totals right,
// key changes remove the old key first, TRUNCATE of any board table resets.
func TestEveryChangeIsAnEvent(t *testing.T) {
	_, dbURL := testdb.Open(t)
	everyChangeIsAnEvent(t, dbURL, func() {})
}

// The same changes captured from the WAL (migration 000004) make the same events, in
// the same order.
func TestEveryChangeIsAnEventFromTheWAL(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.RunCapture(t, st)
	everyChangeIsAnEvent(t, dbURL, func() { testdb.AwaitCapture(t, dbURL) })
}

// everyChangeIsAnEvent makes changes as the writer would with psql and checks the log
// after each, once settle says every commit so far is logged.
func everyChangeIsAnEvent(t *testing.T, dbURL string, settle func()) {
	writer := writerURL(t, dbURL)
	mustPsql(t, writer, `INSERT INTO quotes (symbol, name, price) VALUES ('OLD', 'Old Co', 40);
INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Knicks', 'Nets');
INSERT INTO games (league, home_team, away_team) VALUES ('NHL', 'Oilers', 'Flames');
INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 3, 'Brunson');`)
	settle()
	after := head(t, dbURL)

	// anyOrderFrom: the events from this index on are of different games, changed by
	// one UPDATE of games, in no particular order.
	steps := []struct {
		sql          string
		want         []wantEvent
		anyOrderFrom int
	}{
		{`UPDATE scores SET points = 2 WHERE scorer = 'Brunson';`, []wantEvent{
			{"play", "1", map[string]any{"id": 1.0, "points": 2.0, "team": "home"}},
			{"score", "1", map[string]any{"home_score": 2.0, "away_score": 0.0}},
		}, 0},
		{`UPDATE scores SET team = 'away' WHERE scorer = 'Brunson';`, []wantEvent{
			{"play", "1", map[string]any{"id": 1.0, "team": "away"}},
			{"score", "1", map[string]any{"home_score": 0.0, "away_score": 2.0}},
		}, 0},
		{`UPDATE scores SET scorer = 'J. Brunson' WHERE scorer = 'Brunson';`, []wantEvent{
			{"play", "1", map[string]any{"id": 1.0, "scorer": "J. Brunson"}}, // no score: totals unchanged
		}, 0},
		{`UPDATE scores SET game_id = 2 WHERE id = 1;`, []wantEvent{
			{"play", "1", map[string]any{"id": 1.0, "game_id": 1.0, "deleted": true}},
			{"play", "2", map[string]any{"id": 1.0, "game_id": 2.0, "points": 2.0}},
			{"score", "1", map[string]any{"away_score": 0.0}},
			{"score", "2", map[string]any{"away_score": 2.0, "status": "live"}},
		}, 2},
		{`DELETE FROM scores WHERE id = 1;`, []wantEvent{
			{"play", "2", map[string]any{"id": 1.0, "deleted": true}},
			{"score", "2", map[string]any{"home_score": 0.0, "away_score": 0.0}},
		}, 0},
		{`UPDATE quotes SET symbol = 'NEW' WHERE symbol = 'OLD';`, []wantEvent{
			{"price", "OLD", map[string]any{"symbol": "OLD", "deleted": true}},
			{"price", "NEW", map[string]any{"symbol": "NEW", "name": "Old Co", "price": 40.0}},
		}, 0},
		{`UPDATE games SET id = 7 WHERE id = 1;`, []wantEvent{
			{"score", "1", map[string]any{"id": 1.0, "deleted": true}},
			{"score", "7", map[string]any{"id": 7.0, "home_team": "Knicks"}},
		}, 0},
		{`INSERT INTO scores (game_id, team, points) VALUES (7, 'home', 1);
TRUNCATE scores;`, []wantEvent{
			{"play", "7", map[string]any{"points": 1.0}},
			{"score", "7", map[string]any{"home_score": 1.0}},
			{"reset", "scores", map[string]any{"reason": "truncate", "table": "scores"}},
		}, 0},
		{`TRUNCATE games CASCADE;`, []wantEvent{
			{"reset", "games", map[string]any{"reason": "truncate"}},
		}, 0},
		{`TRUNCATE quotes CASCADE;`, []wantEvent{
			{"reset", "quotes", map[string]any{"reason": "truncate", "table": "quotes"}},
		}, 0},
		{`SELECT tickerboard_emit('reset', '', '{"reason":"maintenance"}');`, []wantEvent{
			{"reset", "", map[string]any{"reason": "maintenance"}},
		}, 0},
		{`SELECT tickerboard_emit('note-1', 'k', '{}');`, []wantEvent{{"note-1", "k", nil}}, 0},
		{`UPDATE market SET session = 'open', day = 3;`, []wantEvent{
			{"market", "", map[string]any{"session": "open", "day": 3.0}},
		}, 0},
		// Settings a session can forge do not make its changes skip the log.
		{`SELECT set_config('tickerboard.staged', 'yes', false), set_config('tickerboard.truncated', statement_timestamp()::text, false);
INSERT INTO quotes (symbol, price) VALUES ('SET', 1);
TRUNCATE quotes CASCADE;`, []wantEvent{
			{"price", "SET", map[string]any{"price": 1.0}},
			{"reset", "quotes", map[string]any{"reason": "truncate"}},
		}, 0},
	}
	for _, s := range steps {
		mustPsql(t, writer, s.sql)
		settle()
		if s.anyOrderFrom > 0 {
			got := logAfter(t, dbURL, after)
			got = got[min(s.anyOrderFrom, len(got)):]
			tail := s.want[s.anyOrderFrom:]
			slices.SortFunc(tail, func(a, b wantEvent) int {
				return slices.IndexFunc(got, func(e logged) bool { return e.Key == a.key }) -
					slices.IndexFunc(got, func(e logged) bool { return e.Key == b.key })
			})
		}
		after = expectLog(t, dbURL, after, strings.TrimSpace(s.sql), s.want...)
	}
}
