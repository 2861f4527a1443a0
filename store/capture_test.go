package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// runCapture runs WAL captures on st until the test ends, starting a new one whenever
// one returns (as a new leader would, after a pause), waits until one streams, and
// returns a stop func for ending them early.
func runCapture(t *testing.T, st *store.Store) (stop func()) {
	t.Helper()
	stop, streaming := captureLoop(t, st)
	deadline := time.Now().Add(30 * time.Second)
	for !streaming() {
		if time.Now().After(deadline) {
			t.Fatal("the capture is not streaming after 30s")
		}
		time.Sleep(5 * time.Millisecond) // Streaming is a flag, not an event
	}
	return stop
}

// captureLoop is runCapture without the wait.
func captureLoop(t *testing.T, st *store.Store) (stop func(), streaming func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var current atomic.Pointer[store.Capture]
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			c := store.NewCapture(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
			c.Status = 20 * time.Millisecond
			current.Store(c)
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				t.Logf("capture ended: %v", err)
			}
			select { // a leader that lost its work tries again after a pause
			case <-ctx.Done():
			case <-time.After(time.Duration(20+rand.IntN(80)) * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop, func() bool { c := current.Load(); return c != nil && c.Streaming() }
}

// volumes returns, per symbol, the volumes of its price events in log order.
func volumes(t *testing.T, st *store.Store) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	var all []decoded
	for after := int64(0); ; {
		page := events(t, st, after)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = lastID(page)
	}
	for _, e := range all {
		if e.Name != "price" {
			continue
		}
		var q struct {
			Symbol string
			Volume int64
		}
		if err := json.Unmarshal(e.Payload, &q); err != nil {
			t.Fatal(err)
		}
		out[q.Symbol] = append(out[q.Symbol], q.Volume)
	}
	return out
}

// write commits n single-row updates of symbol on its own connection, setting volume
// to 1..n in order, and calls at(i) after each commit.
func write(ctx context.Context, dbURL, symbol string, n int, at func(int)) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for i := 1; i <= n; i++ {
		if _, err := conn.Exec(ctx, `UPDATE quotes SET volume = $1, price = price + 0.01 WHERE symbol = $2`, i, symbol); err != nil {
			return fmt.Errorf("%s update %d: %w", symbol, i, err)
		}
		at(i)
	}
	return nil
}

// Two captures running at once (two instances that both think they lead), each
// stealing the slot from the other, and one of them killed mid-stream by
// pg_terminate_backend, while four writers commit: every change is logged exactly
// once, in each writer's commit order. The first capture starts while the writers
// are already running, so the switch from the triggers happens mid-stream too.
func TestCaptureExactlyOnceThroughFailover(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	symbols := []string{"WA", "WB", "WC", "WD"}
	for _, s := range symbols {
		testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ($1, 10)`, s)
	}
	const n = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := make(chan struct{})
	var startOnce sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, len(symbols))
	for _, s := range symbols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- write(ctx, dbURL, s, n, func(i int) {
				if i == 20 {
					startOnce.Do(func() { close(started) })
				}
			})
		}()
	}
	<-started
	runCapture(t, st)
	captureLoop(t, st) // a second "leader", which takes the capture over
	// Kill the capture's sessions (stream or apply, by turns) again and again while the
	// writers go on: a capture dies between appending a batch and confirming it to
	// the slot, and its successor is sent those transactions again.
	writing := make(chan struct{})
	killed := make(chan int)
	go func() {
		kills := 0
		defer func() { killed <- kills }()
		for i := 0; ; i++ {
			select {
			case <-writing:
				return
			case <-time.After(30 * time.Millisecond): // let some changes flow between the kills
			}
			app := store.CaptureApplicationName
			if i%2 == 1 {
				app = store.CaptureApplyApplicationName
			}
			if err := testdb.ExecErr(dbURL, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name = $1 AND datname = current_database()`, app); err == nil {
				kills++
			}
		}
	}()
	wg.Wait()
	close(writing)
	t.Logf("%d kills", <-killed)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	testdb.AwaitCapture(t, dbURL)
	got := volumes(t, st)
	for _, s := range symbols {
		vs := got[s]
		// The insert's event (volume 0) and then 1..n, each once, in order.
		if len(vs) != n+1 {
			t.Errorf("%s: %d events, want %d (%v…)", s, len(vs), n+1, vs[:min(len(vs), 10)])
			continue
		}
		for i, v := range vs {
			if v != int64(i) {
				t.Fatalf("%s: event %d has volume %d, want %d (lost, repeated or out of order)", s, i, v, i)
			}
		}
	}
}

// A slot that disappears while the WAL is the capture (dropped by hand, or
// invalidated past max_slot_wal_keep_size) cannot say what it missed: the next
// capture makes a new slot and tells viewers to start over, and goes on capturing.
func TestCaptureResetsWhenItsSlotIsGone(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('GONE', 10)`)
	stop := runCapture(t, st)
	stop()
	testdb.ReleaseSlot(t, st)
	testdb.Exec(t, dbURL, `SELECT pg_drop_replication_slot($1)`, st.CaptureSlot())
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 11 WHERE symbol = 'GONE'`) // never decoded
	before := headID(t, st)
	runCapture(t, st)
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 12 WHERE symbol = 'GONE'`)
	testdb.AwaitCapture(t, dbURL)
	evs := events(t, st, before)
	if len(evs) != 2 || evs[0].Name != "reset" || !strings.Contains(string(evs[0].Payload), "capture-restarted") ||
		evs[1].Name != "price" || !strings.Contains(string(evs[1].Payload), `"price": 12.0000`) {
		t.Fatalf("after the slot was lost: %v, want a capture-restarted reset, then price 12", evs)
	}
}

// A leader cut off while it was creating the capture's slot leaves a WAL sender still
// creating it (waiting for a consistent point). The next capture ends that session,
// and the half-made slot goes with it: the capture must make its own rather than
// switch to the WAL and then find no slot to stream from (the fault test's "replication
// slot does not exist", after which changes committed meanwhile were never decoded).
func TestCaptureReplacesASlotStillBeingCreated(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	ctx := context.Background()
	// A transaction with an xid keeps a slot's creation waiting until it ends.
	holder, err := testdb.Conn(t, dbURL, "").Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["replication"] = "database"
	cutOff, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cutOff.Close(ctx)
	creating := make(chan error, 1)
	go func() {
		_, err := pglogrepl.CreateReplicationSlot(ctx, cutOff, st.CaptureSlot(), "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{SnapshotAction: "NOEXPORT_SNAPSHOT"})
		creating <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var being bool
		if err := st.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots
			WHERE slot_name = $1 AND active)`, st.CaptureSlot()).Scan(&being); err != nil {
			t.Fatal(err)
		}
		if being {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slot's creation never showed in pg_replication_slots")
		}
		time.Sleep(5 * time.Millisecond) // polling the catalog view: there is no event to await
	}
	// Once the capture has ended the creating session, let creations finish.
	released := make(chan error, 1)
	go func() {
		err := <-creating
		holder.Rollback(ctx)
		released <- err
	}()
	testdb.RunCapture(t, st) // fails unless the capture streams
	if err := <-released; err == nil {
		t.Fatal("the cut-off creation finished: the capture should have ended its session first")
	}
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('NEWSLOT', 10)`)
	testdb.AwaitCapture(t, dbURL)
	if evs := events(t, st, 0); len(evs) == 0 || evs[len(evs)-1].Name != "price" || evs[len(evs)-1].Key != "NEWSLOT" {
		t.Fatalf("the log after the capture made its slot: %v, want NEWSLOT's price last", evs)
	}
}

// Going back to the triggers (an instance started with -capture triggers) switches the
// capture, resets viewers (what the WAL had not yet decoded is unknown), and drops the
// slot so it keeps no WAL; the triggers then log every change at once.
func TestCaptureBackToTriggers(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('BACK', 10)`)
	stop := runCapture(t, st)
	stop()
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 11 WHERE symbol = 'BACK'`)
	before := headID(t, st)
	if err := st.CaptureWithTriggers(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	status, err := st.CaptureStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if status.Mode != store.CaptureTriggers || status.Slot != "" {
		t.Fatalf("after going back: %+v, want triggers and no slot", status)
	}
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 12 WHERE symbol = 'BACK'`)
	evs := events(t, st, before)
	if len(evs) != 2 || evs[0].Name != "reset" || evs[1].Name != "price" || !strings.Contains(string(evs[1].Payload), `"price": 12.0000`) {
		t.Fatalf("after going back to the triggers: %v, want a reset, then price 12 at once", evs)
	}
}

// While no capture reads the slot, Postgres keeps the WAL for it, and the status says
// how much: what the tickerboard_capture_retained_wal_bytes metric shows.
func TestCaptureStatusShowsRetainedWAL(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('KEEP', 10)`)
	stop := runCapture(t, st)
	testdb.AwaitCapture(t, dbURL)
	running, err := st.CaptureStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stop()
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = price + 0.01, name = repeat('x', 90) FROM generate_series(1, 2000) WHERE symbol = 'KEEP'`)
	for range 200 {
		testdb.Exec(t, dbURL, `UPDATE quotes SET price = price + 0.01 WHERE symbol = 'KEEP'`)
	}
	stopped, err := st.CaptureStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !running.Active || running.Slot != st.CaptureSlot() || running.Mode != store.CaptureWAL {
		t.Errorf("while capturing: %+v, want the slot active", running)
	}
	if stopped.Active || stopped.LagBytes <= running.LagBytes || stopped.RetainedBytes < stopped.LagBytes {
		t.Errorf("stopped: %+v (running: %+v), want inactive, lag grown, retained >= lag", stopped, running)
	}
}

// -capture wal on a server that cannot do it is refused with what to change; auto
// says why it chose what it chose.
func TestChooseCapture(t *testing.T) {
	st, _ := testdb.Open(t)
	c, err := st.ChooseCapture(context.Background(), store.CaptureTriggers)
	if err != nil || c.Mode != store.CaptureTriggers {
		t.Fatalf("triggers: %v %v", c, err)
	}
	if _, err := st.ChooseCapture(context.Background(), "fast"); err == nil {
		t.Fatal("capture \"fast\" accepted")
	}
	auto, err := st.ChooseCapture(context.Background(), store.CaptureAuto)
	if err != nil || auto.Why == "" {
		t.Fatalf("auto: %v %v", auto, err)
	}
	wal, err := st.ChooseCapture(context.Background(), store.CaptureWAL)
	switch auto.Mode {
	case store.CaptureWAL:
		if err != nil || wal.Mode != store.CaptureWAL {
			t.Fatalf("wal on a logical server: %v %v", wal, err)
		}
	default:
		if err == nil || !strings.Contains(err.Error(), "wal_level") {
			t.Fatalf("wal on a server without logical decoding: %v, want an error naming wal_level", err)
		}
	}
	// A role without REPLICATION falls back, saying so.
	testdb.Exec(t, testdb.DefaultURL, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tb_norepl') THEN CREATE ROLE tb_norepl LOGIN; END IF; END $$`)
	u := strings.Replace(st.ConnConfig().ConnString(), "postgres@", "tb_norepl@", 1)
	weak, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer weak.Close()
	c, err = weak.ChooseCapture(context.Background(), store.CaptureAuto)
	if err != nil || c.Mode != store.CaptureTriggers || !strings.Contains(c.Why, "REPLICATION") && !strings.Contains(c.Why, "wal_level") {
		t.Fatalf("auto as a role without REPLICATION: %v %v", c, err)
	}
	if _, err := weak.ChooseCapture(context.Background(), store.CaptureWAL); err == nil {
		t.Fatal("-capture wal accepted for a role without REPLICATION")
	}
}

// Under the WAL capture a notification carries the events it announces, so listening
// instances publish them without reading the log — the same bytes the log holds. A
// notification carrying forged events from any other session is not believed: the
// notifier reads the log instead, where they are not.
func TestNotifierTakesCarriedEventsOnlyFromTheCapture(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('CARRY', 10)`)
	runCapture(t, st)
	testdb.AwaitCapture(t, dbURL)
	n, c := startNotifier(t, st)
	start := n.Carried()
	before := headID(t, st)

	// A stranger rings with a well-formed batch of the very next id.
	forged := fmt.Sprintf(`[{"id": %d, "event": "price", "key": "EVIL", "payload": {"symbol": "EVIL"}, "created_at": "2026-12-01T00:00:00+00:00", "xid": 1}]`, before+1)
	testdb.Exec(t, dbURL, `SELECT pg_notify('tickerboard', $1)`, forged)
	for i := 1; i <= 50; i++ {
		testdb.Exec(t, dbURL, `UPDATE quotes SET volume = $1 WHERE symbol = 'CARRY'`, i)
	}
	testdb.AwaitCapture(t, dbURL)
	head := headID(t, st)
	got := c.waitFor(t, head)
	logged := events(t, st, before)
	var published []store.Event
	for _, e := range got {
		if e.ID > before {
			published = append(published, e)
		}
	}
	if len(published) != len(logged) {
		t.Fatalf("published %d events after %d, the log has %d", len(published), before, len(logged))
	}
	for i, e := range published {
		l := logged[i]
		if e.ID != l.ID || e.Name != l.Name || e.Key != l.Key || string(e.Payload) != string(l.Payload) || e.Xid == 0 {
			t.Fatalf("published %d %s/%s %s (xid %d), the log has %d %s/%s %s", e.ID, e.Name, e.Key, e.Payload, e.Xid, l.ID, l.Name, l.Key, l.Payload)
		}
		if e.Key == "EVIL" {
			t.Fatal("a forged event was published")
		}
	}
	if carried := n.Carried() - start; carried == 0 {
		t.Error("no event was taken from a notification: every one was read from the log")
	} else {
		t.Logf("%d of %d events taken from notifications", carried, len(published))
	}
}

// One transaction larger than the capture may hold (an UPDATE of millions of rows) is
// logged as a reset — viewers start over from a snapshot, which the tables hold —
// rather than held in memory; changes after it are captured as usual.
func TestCaptureBoundsAHugeTransaction(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.RunCapture(t, st, func(c *store.Capture) { c.MaxTxBytes = 64 << 10 })
	before := headID(t, st)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) SELECT 'H' || i, 10 FROM generate_series(1, 2000) i`)
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 11 WHERE symbol = 'H7'`)
	testdb.AwaitCapture(t, dbURL)
	evs := events(t, st, before)
	if len(evs) != 2 || evs[0].Name != "reset" || !strings.Contains(string(evs[0].Payload), "capture-overflow") ||
		evs[1].Name != "price" || evs[1].Key != "H7" {
		names := []string{}
		for _, e := range evs[:min(len(evs), 5)] {
			names = append(names, e.Name+"/"+e.Key)
		}
		t.Fatalf("after a 2,000-row transaction over a 64 KiB bound: %d events %v…, want a capture-overflow reset, then price H7", len(evs), names)
	}
}

// The leading instance publishes what its capture appends straight from the append
// (Notifier.handOver): price events it built itself exactly as the log holds them
// (same bytes, times and transactions), so nothing is read back, whatever the
// batch's size; events made in SQL (a game) from the notification's text, or from
// the log when too many to be carried. Its own NOTIFY, coming back moments later, is
// skipped as read: every event reaches the hub once, in id order, as the log has it.
func TestCaptureHandsItsAppendsToTheNotifier(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) SELECT 'O' || i, 10 FROM generate_series(1, 100) i`)
	n, c := startNotifier(t, st)
	before := headID(t, st)
	testdb.RunCapture(t, st, func(cp *store.Capture) { cp.Notifier = n })
	readBack := func() int64 { return n.Fetched() - n.Offered() - n.Carried() }

	testdb.Exec(t, dbURL, `INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Knicks', 'Nets')`)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 100; i++ {
				testdb.Exec(t, dbURL, `UPDATE quotes SET volume = $1 WHERE symbol = $2`, i, fmt.Sprintf("O%d", w*25+i%25+1))
			}
		}()
	}
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = price + 1, name = E'Ünï "q" \\ \n\t\x01'`) // 100 events: too many to carry
	wg.Wait()
	testdb.AwaitCapture(t, dbURL)
	c.waitFor(t, headID(t, st))
	if r := readBack(); r != 0 {
		t.Fatalf("%d events read back from the log; every append of price changes should have been handed over", r)
	}
	// One transaction of a game and 100 prices: made in SQL, too many to carry.
	testdb.Exec(t, dbURL, `BEGIN; INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Bulls', 'Heat');
		UPDATE quotes SET price = price + 1; COMMIT`)
	testdb.AwaitCapture(t, dbURL)
	head := headID(t, st)
	got := c.waitFor(t, head)
	if r := readBack(); r != 101 {
		t.Fatalf("%d events read back from the log, want the 101 of the game's transaction", r)
	}

	logged, err := st.EventsAfter(context.Background(), before, head, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var published []store.Event
	for _, e := range got {
		if e.ID > before {
			published = append(published, e)
		}
	}
	if len(published) != len(logged) {
		t.Fatalf("published %d events after %d, the log has %d", len(published), before, len(logged))
	}
	names := map[string]int{}
	for _, e := range logged {
		names[e.Name]++
	}
	if names["price"] != 600 || names["score"] != 2 {
		t.Fatalf("the log has %v after %d, want 600 price events and 2 scores", names, before)
	}
	for i, e := range published {
		l := logged[i]
		if e.ID != l.ID || e.Name != l.Name || e.Key != l.Key || e.Xid != l.Xid || !e.CreatedAt.Equal(l.CreatedAt) {
			t.Fatalf("published #%d: %d %s/%s xid %d at %s; the log has %d %s/%s xid %d at %s", i,
				e.ID, e.Name, e.Key, e.Xid, e.CreatedAt, l.ID, l.Name, l.Key, l.Xid, l.CreatedAt)
		}
		if string(e.Payload) != string(l.Payload) {
			t.Fatalf("published #%d (%d %s/%s):\n %s\nthe log has\n %s", i, e.ID, e.Name, e.Key, e.Payload, l.Payload)
		}
	}
	t.Logf("%d events handed over by the capture, %d carried by notifications, %d read from the log",
		n.Offered(), n.Carried(), readBack())
}

// A doorbell from this instance's own capture session waits for the capture to hand
// the append over; when that never comes (the append committed but its answer was
// lost with the connection) the notifier still reads the events from the log, after a
// bounded wait. Here the session that rings is registered as the capture's and never
// hands anything over.
func TestNotifierReadsAnAppendNeverHandedOver(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) SELECT 'N' || i, 10 FROM generate_series(1, 40) i`)
	n, c := startNotifier(t, st)
	before := headID(t, st)
	conn := testdb.Conn(t, dbURL, "")
	store.SetCaptureSession(n, conn.PgConn().PID())
	// 40 events in one transaction: the triggers' NOTIFY is the first id, a doorbell.
	if _, err := conn.Exec(context.Background(), `UPDATE quotes SET price = price + 1`); err != nil {
		t.Fatal(err)
	}
	head := headID(t, st)
	if head != before+40 {
		t.Fatalf("the log's head is %d, want %d", head, before+40)
	}
	got := c.waitFor(t, head)
	var ids []int64
	for i := before + 1; i <= head; i++ {
		ids = append(ids, i)
	}
	assertExactlyOnce(t, got, ids)
	if n.Offered() != 0 {
		t.Fatalf("%d events offered; nothing was handed over", n.Offered())
	}
}

// With other instances listening, the capture spaces its appends (Spacing per
// listener; two here): commits that arrive meanwhile join the next append, so Postgres
// delivers fewer notifications to each listener. Every change is still logged once,
// in order.
func TestCaptureSpacesAppendsWhileOthersListen(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('SPC', 10)`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	listen := func() *pgx.Conn { // as an instance's notifier listens
		cfg := st.ConnConfig()
		cfg.RuntimeParams["application_name"] = store.ListenerApplicationName
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, "LISTEN "+store.Channel); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	counter := listen()
	listen()
	testdb.RunCapture(t, st, func(c *store.Capture) { c.Spacing, c.MaxSpacing = 500*time.Millisecond, time.Minute })
	testdb.AwaitCapture(t, dbURL)
	before := headID(t, st)
	for i := 1; i <= 20; i++ {
		testdb.Exec(t, dbURL, `UPDATE quotes SET volume = $1 WHERE symbol = 'SPC'`, i)
	}
	testdb.AwaitCapture(t, dbURL)
	logged := events(t, st, before)
	if len(logged) != 20 {
		t.Fatalf("%d events logged for 20 commits", len(logged))
	}
	for i, e := range logged {
		var q struct{ Volume int }
		if err := json.Unmarshal(e.Payload, &q); err != nil || e.ID != before+int64(i)+1 || q.Volume != i+1 {
			t.Fatalf("event %d: id %d %s, want id %d volume %d", i, e.ID, e.Payload, before+int64(i)+1, i+1)
		}
	}
	notes := 0
	for seen := before; seen < before+20; {
		note, err := counter.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("after %d notifications up to id %d: %v", notes, seen, err)
		}
		var carried []struct{ ID int64 }
		if err := json.Unmarshal([]byte(note.Payload), &carried); err != nil || len(carried) == 0 {
			t.Fatalf("notification %q does not carry its events", note.Payload)
		}
		if last := carried[len(carried)-1].ID; last > before {
			notes++
			seen = last
		}
	}
	if notes > 3 {
		t.Fatalf("20 commits within a second were %d appends (notifications), want at most 3 with 1 s of spacing", notes)
	}
	t.Logf("20 commits, %d notifications", notes)
}

// Binaries from before migration 000005 call tickerboard_capture_apply and read its
// three columns: during a rolling upgrade an old leader goes on appending.
func TestCaptureApplyKeepsItsOldShape(t *testing.T) {
	st, _ := testdb.Open(t)
	ctx := context.Background()
	var xid int64
	if err := st.Pool().QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint & 4294967295`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	before := headID(t, st)
	rows, err := st.Pool().Query(ctx, `SELECT * FROM tickerboard_capture_apply(
		(SELECT applied_lsn FROM capture_progress), '0/10', 'wal', '[]',
		ARRAY[0]::bigint[], ARRAY['price'], ARRAY['OLDB'], ARRAY['{"symbol": "OLDB", "price": 1}'],
		ARRAY['2026-12-01T00:00:00+00:00'], ARRAY[$1]::bigint[])`, xid)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var first, written, skipped int64
	for rows.Next() {
		if err := rows.Scan(&first, &written, &skipped); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cols) != "[first_id written skipped]" || first != before+1 || written != 1 || skipped != 0 {
		t.Fatalf("tickerboard_capture_apply returned %v = %d, %d, %d; want [first_id written skipped] = %d, 1, 0",
			cols, first, written, skipped, before+1)
	}
	if evs := events(t, st, before); len(evs) != 1 || evs[0].Key != "OLDB" {
		t.Fatalf("logged %v, want the one price event", evs)
	}
}
