package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collector gathers what a Notifier publishes and lets a test wait for an event id.
type collector struct {
	mu      sync.Mutex
	events  []store.Event
	changed chan struct{}
	// overBytes counts batches whose events but the last already held
	// store.MaxBatchBytes of payload: a read that went on past its byte cap.
	overBytes int
}

func newCollector() *collector { return &collector{changed: make(chan struct{})} }

func (c *collector) publish(evs []store.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, evs...)
	size := 0
	for _, e := range evs[:len(evs)-1] {
		size += len(e.Payload)
	}
	if size >= store.MaxBatchBytes {
		c.overBytes++
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitFor blocks until an event with id >= id has been published.
func (c *collector) waitFor(t *testing.T, id int64) []store.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		evs, ch := append([]store.Event(nil), c.events...), c.changed
		c.mu.Unlock()
		if len(evs) > 0 && evs[len(evs)-1].ID >= id {
			return evs
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for event %d; have %d events", id, len(evs))
		}
	}
}

func startNotifier(t *testing.T, st *store.Store, configure ...func(*store.Notifier)) (*store.Notifier, *collector) {
	t.Helper()
	c := newCollector()
	if _, err := st.Tick(context.Background()); err != nil { // what came before is not this test's
		t.Fatal(err)
	}
	pos, err := st.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := store.NewNotifier(st, pos.Head, c.publish, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, f := range configure {
		f(n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("notifier: %v", err)
		}
	})
	waitConnected(t, n, true)
	return n, c
}

func waitConnected(t *testing.T, n *store.Notifier, want bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		connected, changed := n.State()
		if connected == want {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("notifier connected = %t, want %t", connected, want)
		}
	}
}

func headID(t *testing.T, st *store.Store) int64 {
	t.Helper()
	if _, err := st.Tick(context.Background()); err != nil { // as any instance's notifier would
		t.Fatal(err)
	}
	pos, err := st.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pos.Head
}

// assertExactlyOnce checks evs are strictly increasing and hold every id in want.
func assertExactlyOnce(t *testing.T, evs []store.Event, want []int64) {
	t.Helper()
	seen := make(map[int64]bool, len(evs))
	for i, e := range evs {
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Fatalf("event %d after %d: out of order or repeated", e.ID, evs[i-1].ID)
		}
		seen[e.ID] = true
	}
	missing := 0
	for _, id := range want {
		if !seen[id] {
			missing++
		}
	}
	if missing > 0 || len(evs) != len(want) {
		t.Fatalf("published %d events, want %d; %d of the committed ones missing", len(evs), len(want), missing)
	}
}

// A transaction that began and wrote first but committed last is still delivered,
// once, after the one that committed first: ids follow commit order.
func TestNotifierDeliversLateCommits(t *testing.T) {
	st, url := testdb.Open(t)
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('EARLY', 10), ('LATE', 10)`)
	_, c := startNotifier(t, st)
	ctx := context.Background()

	slow, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close(ctx)
	slowTx, err := slow.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slowTx.Exec(ctx, `UPDATE quotes SET price = 11 WHERE symbol = 'LATE'`); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, url, `UPDATE quotes SET price = 12 WHERE symbol = 'EARLY'`) // commits first
	early := c.waitFor(t, headID(t, st))
	if err := slowTx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	all := c.waitFor(t, headID(t, st))
	if len(early) != 1 || early[0].Key != "EARLY" {
		t.Fatalf("before the slow commit: %v, want just EARLY", keys(early))
	}
	if len(all) != 2 || all[1].Key != "LATE" || all[1].ID <= all[0].ID {
		t.Fatalf("after the slow commit: %v, want EARLY then LATE with a higher id", keys(all))
	}
}

func keys(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%d:%s/%s", e.ID, e.Name, e.Key)
	}
	return out
}

// Killing the LISTEN backend again and again while changes commit loses nothing: the
// notifier reconnects and catches up from the log.
func TestNotifierSurvivesTerminatedListener(t *testing.T) {
	st, url := testdb.Open(t)
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('KILL', 100)`)
	n, c := startNotifier(t, st)
	ctx := context.Background()
	start := headID(t, st)

	const commits, kills = 300, 5
	writer, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(ctx)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	for i := 0; i < commits; i++ {
		if _, err := writer.Exec(ctx, `UPDATE quotes SET price = $1 WHERE symbol = 'KILL'`, 100+i); err != nil {
			t.Fatal(err)
		}
		if i%(commits/kills) == commits/kills/2 {
			waitConnected(t, n, true)
			var killed bool
			err := admin.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name = $1 AND datname = current_database()`, store.ListenerApplicationName).Scan(&killed)
			if err != nil || !killed {
				t.Fatalf("terminate listener: %t, %v", killed, err)
			}
		}
	}
	end := headID(t, st)
	got := c.waitFor(t, end)
	want := make([]int64, 0, commits)
	rows, err := admin.Query(ctx, `SELECT id FROM events WHERE id > $1 ORDER BY id`, start)
	if err != nil {
		t.Fatal(err)
	}
	want, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != commits {
		t.Fatalf("log holds %d events, want %d", len(want), commits)
	}
	assertExactlyOnce(t, got, want)
	if r := n.Reconnects(); r < kills {
		t.Fatalf("Reconnects() = %d, want at least %d", r, kills)
	}
}
