package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
)

// seedSymbols lists n quotes, TB0000 up, with names long enough that the board is
// several times go-sse's 64 KiB event limit.
func seedSymbols(t *testing.T, dbURL string, n int) {
	t.Helper()
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, name, price, prev_close, volume)
		SELECT 'TB' || lpad(i::text, 4, '0'), 'Tickerboard test listing number ' || i || ' Incorporated', 100, 100, 0
		FROM generate_series(0, $1 - 1) i`, n)
}

// A client nobody here wrote, with its default settings (64 KiB per event), gets a
// 1,000-symbol board whole and then a live change, without reconnecting.
func TestGoSSEClientGetsALargeBoard(t *testing.T) {
	st, dbURL := testdb.Open(t)
	seedSymbols(t, dbURL, 1000)
	srv := testserver.Start(t, st, dbURL, testserver.Options{})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := *gosse.DefaultClient // the defaults; OnRetry only watches
	retried := make(chan error, 1)
	client.OnRetry = func(err error, _ time.Duration) {
		select {
		case retried <- err:
		default:
		}
	}
	conn := client.NewConnection(req)
	events := make(chan gosse.Event, 4096)
	conn.SubscribeToAll(func(ev gosse.Event) { events <- ev })
	done := make(chan error, 1)
	go func() { done <- conn.Connect() }()
	defer func() { cancel(); <-done }()

	next := func(what string) gosse.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case err := <-retried:
			t.Fatalf("waiting for %s: go-sse reconnected: %v", what, err)
		case err := <-done:
			t.Fatalf("waiting for %s: go-sse stopped: %v", what, err)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		return gosse.Event{}
	}

	var asm sse.SnapshotAssembler
	var snap sse.Snapshot
	for parts := 0; ; {
		ev := next("the snapshot")
		if ev.Type != "snapshot" {
			t.Fatalf("event %q before the snapshot was whole: %.200s", ev.Type, ev.Data)
		}
		parts++
		s, whole, err := asm.Add(sse.Event{ID: ev.LastEventID, Name: ev.Type, Data: ev.Data})
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Data) > 32<<10 {
			t.Errorf("part %d: %d bytes of data", parts, len(ev.Data))
		}
		if whole {
			snap = s
			if snap.Parts != parts || snap.Parts < 2 {
				t.Errorf("snapshot in %d parts, read %d; want several", snap.Parts, parts)
			}
			if ev.LastEventID == "" {
				t.Error("the last part set no event id")
			}
			break
		}
	}
	symbols := map[string]bool{}
	for _, q := range snap.Quotes {
		var row struct{ Symbol string }
		if err := json.Unmarshal(q, &row); err != nil {
			t.Fatal(err)
		}
		symbols[row.Symbol] = true
	}
	if len(symbols) != 1000 || len(snap.Quotes) != 1000 {
		t.Fatalf("snapshot has %d quotes, %d distinct; want 1,000", len(snap.Quotes), len(symbols))
	}
	t.Logf("1,000 symbols in %d parts", snap.Parts)

	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 123.45 WHERE symbol = 'TB0999'`)
	for {
		ev := next("the price change")
		if ev.Type == "price" && strings.Contains(ev.Data, `"TB0999"`) && strings.Contains(ev.Data, `123.45`) {
			break
		}
		if ev.Type == "snapshot" || ev.Type == "reset" {
			t.Fatalf("unexpected %s after the snapshot", ev.Type)
		}
	}
}
