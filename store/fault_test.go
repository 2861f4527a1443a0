package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/tcpproxy"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// proxiedStore opens a second Store on the test database whose every connection passes
// through a proxy the test can cut, as if the network to Postgres went away.
func proxiedStore(t *testing.T, dbURL string) (*store.Store, *tcpproxy.Proxy) {
	t.Helper()
	p, viaProxy, err := tcpproxy.ListenFor(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, viaProxy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, p
}

// logSince is the log's ids after after, read directly from Postgres.
func logSince(t *testing.T, st *store.Store, after int64) []int64 {
	t.Helper()
	if _, err := st.Tick(context.Background()); err != nil { // as any instance's notifier would
		t.Fatal(err)
	}
	rows, err := st.Pool().Query(context.Background(), `SELECT id FROM events WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// The network to Postgres goes away three times while a writer keeps committing
// straight to the server: each time the notifier notices, reports itself
// disconnected, reconnects when the path is back and catches up. Every change is
// published once, in id order.
func TestNotifierDatabaseDownAndBack(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('DOWN', 100);
		INSERT INTO games (league, home_team, away_team) VALUES ('NFL', 'Bills', 'Jets')`)
	proxied, proxy := proxiedStore(t, dbURL)
	n, c := startNotifier(t, proxied)
	n.MaxBackoff = 200 * time.Millisecond // keep the outage short; the path is what is tested
	start := n.Last()

	ctx := context.Background()
	stop := make(chan struct{})
	// The test is about delivery, not durability: without waiting for each commit's
	// WAL flush, a busy CI machine still commits hundreds of changes a second.
	writer, err := pgx.Connect(ctx, dbURL+"&synchronous_commit=off")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(context.Background())
	var commits atomic.Int64
	progress := make(chan int64, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop: // between commits, so the log read after holds every one
				return
			default:
			}
			sql := `UPDATE quotes SET price = price + 0.01 WHERE symbol = 'DOWN'`
			if i%5 == 0 {
				sql = `INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 1)`
			}
			if _, err := writer.Exec(ctx, sql); err != nil {
				t.Errorf("direct write during the outage: %v", err)
				return
			}
			select {
			case progress <- commits.Add(1):
			default:
			}
		}
	}()
	awaitCommits := func(n int64) {
		t.Helper()
		for got := commits.Load(); got < n; {
			select {
			case got = <-progress:
			case <-time.After(30 * time.Second):
				t.Fatalf("the writer made %d commits, waiting for %d", got, n)
			}
		}
	}

	const outages = 3
	var during int64
	for i := range outages {
		awaitCommits(int64(i+1) * 60)
		proxy.Cut()
		waitConnected(t, n, false)
		before := commits.Load()
		awaitCommits(before + 60) // these commit while this instance cannot hear
		during += commits.Load() - before
		proxy.Restore()
		waitConnected(t, n, true)
	}
	awaitCommits(commits.Load() + 50)
	close(stop)
	wg.Wait()

	want := logSince(t, st, start)
	got := c.waitFor(t, want[len(want)-1])
	assertExactlyOnce(t, got, want)
	if r := n.Reconnects(); r < outages {
		t.Fatalf("Reconnects() = %d after %d outages", r, outages)
	}
	t.Logf("%d events published exactly once across %d outages (%d commits made while cut off); %d connections refused while cut",
		len(got), outages, during, proxy.Refused())
}

// When this instance is cut off from Postgres for longer than the retention, another
// instance prunes events it never read. When it is back it must not skip them
// silently: it publishes a reset (reason "retention"), so every stream sends a fresh
// snapshot, and then the events that are still there.
func TestNotifierResetsAfterMissingPrunedEvents(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.Exec(t, dbURL, `INSERT INTO games (league, home_team, away_team) VALUES ('NFL', 'Bills', 'Jets')`)
	proxied, proxy := proxiedStore(t, dbURL)
	n, c := startNotifier(t, proxied)
	n.MaxBackoff = 200 * time.Millisecond

	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 3, 'heard')`)
	heard := c.waitFor(t, headID(t, st))

	proxy.Cut()
	waitConnected(t, n, false)
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'away', 7, 'pruned unheard')`)
	if _, err := st.Tick(context.Background()); err != nil { // as another instance's notifier would
		t.Fatal(err)
	}
	if _, _, err := st.Prune(context.Background(), -time.Hour); err != nil { // as the leader would, an hour on
		t.Fatal(err)
	}
	pruned, err := st.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 2, 'after the prune')`)
	after := logSince(t, st, 0)
	proxy.Restore()
	waitConnected(t, n, true)

	got := c.waitFor(t, after[len(after)-1])[len(heard):]
	if len(got) == 0 || got[0].Name != "reset" {
		t.Fatalf("after missing pruned events (log pruned through %d, notifier had %d) it published %v; want a reset first",
			pruned.Pruned, heard[len(heard)-1].ID, keys(got))
	}
	if got[0].ID != pruned.Pruned || string(got[0].Payload) != `{"reason":"retention"}` {
		t.Fatalf("reset %d %s, want id %d (where the log was cut) and reason retention", got[0].ID, got[0].Payload, pruned.Pruned)
	}
	assertExactlyOnce(t, got[1:], after)
}

// openLog removes the events table's CHECKs and guard triggers, so a test can write
// what a superuser, an old row or another capture could.
func openLog(t *testing.T, db string) {
	t.Helper()
	testdb.Exec(t, db, `DO $$ DECLARE c text; BEGIN
		FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'c' LOOP
			EXECUTE format('ALTER TABLE events DROP CONSTRAINT %I', c);
		END LOOP; END $$;
		ALTER TABLE events DISABLE TRIGGER USER`)
}

// Rows dated ±infinity (which pgx cannot put in a time.Time) and multi-megabyte
// payloads do not stall the notifier: every row is published, in order, the odd times
// as zero, and no read goes on past its byte cap.
func TestNotifierReadsHostileRows(t *testing.T) {
	st, db := testdb.Open(t)
	n, c := startNotifier(t, st)
	from := n.Last()
	openLog(t, db)
	testdb.Exec(t, db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 1)`)
	testdb.Exec(t, db, `INSERT INTO events (event, key, payload, created_at) VALUES
		('price', 'INF', '{}', 'infinity'), ('price', 'NEGINF', '{}', '-infinity');
		SELECT pg_notify('tickerboard', '')`)
	testdb.Exec(t, db, `INSERT INTO events (event, key, payload)
		SELECT 'price', 'BIG' || i, jsonb_build_object('s', repeat('x', 3000000)) FROM generate_series(1, 4) i;
		SELECT pg_notify('tickerboard', '')`)
	testdb.Exec(t, db, `UPDATE quotes SET price = 2`)
	head := headID(t, st)
	evs := c.waitFor(t, head)
	want := logSince(t, st, from)
	assertExactlyOnce(t, evs, want)
	if len(want) != 8 {
		t.Fatalf("log has %d events after %d, want 8", len(want), from)
	}
	for _, e := range evs {
		if (e.Key == "INF" || e.Key == "NEGINF") != e.CreatedAt.IsZero() {
			t.Fatalf("event %d (%s) created at %v", e.ID, e.Key, e.CreatedAt)
		}
	}
	c.mu.Lock()
	over := c.overBytes
	c.mu.Unlock()
	if over > 0 {
		t.Fatalf("%d batches went on past store.MaxBatchBytes", over)
	}
	if pos, err := st.Position(context.Background()); err != nil || pos.Head != head || n.Last() != head {
		t.Fatalf("position %+v (%v), notifier at %d, want %d", pos, err, n.Last(), head)
	}
}

// When the log's ids go backwards (a restore from a backup: fewer events, the sequence
// set back) the notifier adopts the new head and publishes a reset, reason rewound, at
// it; the events after it are published as usual.
func TestNotifierRewound(t *testing.T) {
	st, db := testdb.Open(t)
	n, c := startNotifier(t, st)
	testdb.Exec(t, db, `INSERT INTO quotes (symbol, price) SELECT 'S' || i, 1 FROM generate_series(1, 10) i`)
	old := headID(t, st)
	c.waitFor(t, old)
	back := old - 5
	testdb.Exec(t, db, `DELETE FROM events WHERE id > $1`, back)
	testdb.Exec(t, db, `SELECT setval(pg_get_serial_sequence('events', 'id'), $1)`, back)
	testdb.Exec(t, db, `UPDATE quotes SET price = 2 WHERE symbol = 'S1'`)
	testdb.Exec(t, db, `UPDATE quotes SET price = 3 WHERE symbol = 'S1'`)
	head := headID(t, st)
	if head > old {
		t.Fatalf("head %d after the rewind, above %d", head, old)
	}
	timeout := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		evs, changed := c.events, c.changed
		c.mu.Unlock()
		var tail []string
		for _, e := range evs {
			if e.Name == "reset" || e.ID > back && len(tail) > 0 {
				tail = append(tail, e.Name+":"+string(e.Payload))
			}
		}
		if n.Last() == head && len(tail) > 0 {
			if tail[0] != `reset:{"reason":"rewound"}` || len(tail) > 2 {
				t.Fatalf("after the rewind the notifier published %v", tail)
			}
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("notifier at %d, head %d: no rewind noticed", n.Last(), head)
		}
	}
}
