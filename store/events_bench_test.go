package store_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// seedQuotes lists n quotes (B00000…) in one statement.
func seedQuotes(b *testing.B, dbURL string, n int) {
	b.Helper()
	testdb.Exec(b, dbURL, `INSERT INTO quotes (symbol, name, price)
		SELECT 'B' || lpad(i::text, 5, '0'), 'bench', 100 FROM generate_series(1, $1) i`, n)
}

// BenchmarkEventsAfter is the catch-up query: a page of 1,000 price events from the
// log, as a resuming or lagging viewer (and the notifier) reads it.
func BenchmarkEventsAfter(b *testing.B) {
	st, dbURL := testdb.Open(b)
	seedQuotes(b, dbURL, 1000)
	for range 10 { // 10,000 events after the inserts
		testdb.Exec(b, dbURL, `UPDATE quotes SET volume = volume + 1`)
	}
	ctx := context.Background()
	pos, err := st.Position(ctx)
	if err != nil {
		b.Fatal(err)
	}
	const page = 1000
	after := pos.Head - 10_000
	for b.Loop() {
		evs, err := st.EventsAfter(ctx, after, pos.Head, page)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) != page {
			b.Fatalf("read %d events, want %d", len(evs), page)
		}
		after += page
		if after >= pos.Head {
			after = pos.Head - 10_000
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*page), "ns/event")
}

// burstCounter counts the notifier's batches (one query each) and events.
type burstCounter struct {
	mu      sync.Mutex
	batches int
	last    int64
	changed chan struct{}
}

func (c *burstCounter) publish(evs []store.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	c.last = evs[len(evs)-1].ID
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *burstCounter) waitFor(id int64) {
	for {
		c.mu.Lock()
		last, ch := c.last, c.changed
		c.mu.Unlock()
		if last >= id {
			return
		}
		<-ch
	}
}

// BenchmarkNotifierBurst commits 10,000 changes in one transaction per op and waits
// for the notifier to publish them all: the doorbell and `id > last` pages, so a burst
// costs a handful of queries (queries/op), not 10,000 round trips.
func BenchmarkNotifierBurst(b *testing.B) {
	st, dbURL := testdb.Open(b)
	const burst = 10_000
	seedQuotes(b, dbURL, burst)
	ctx, cancel := context.WithCancel(context.Background())
	pos, err := st.Position(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c := &burstCounter{changed: make(chan struct{}), last: pos.Head}
	n := store.NewNotifier(st, pos.Head, c.publish, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for {
		connected, changed := n.State()
		if connected {
			break
		}
		<-changed
	}
	batches := 0
	for b.Loop() {
		c.mu.Lock()
		before := c.batches
		c.mu.Unlock()
		testdb.Exec(b, dbURL, `UPDATE quotes SET volume = volume + 1`)
		head, err := st.Position(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c.waitFor(head.Head)
		c.mu.Lock()
		batches += c.batches - before
		c.mu.Unlock()
	}
	b.ReportMetric(float64(batches)/float64(b.N), "queries/op")
	b.ReportMetric(float64(b.N*burst)/b.Elapsed().Seconds(), "events/s")
}
