package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
)

// awaitWALCapture waits until the leader has made the WAL the capture (the server
// runs with wal_level = logical; without it the test is skipped, or fails under CI).
func awaitWALCapture(t *testing.T, dbURL string) {
	t.Helper()
	if level := queryValue[string](t, dbURL, `SHOW wal_level`); level != "logical" {
		testdb.Require(t, "the WAL capture needs wal_level = logical, the server has %s", level)
	}
	deadline := time.Now().Add(30 * time.Second)
	for queryValue[string](t, dbURL, `SELECT mode FROM capture_mode`) != "wal" {
		if time.Now().After(deadline) {
			t.Fatal("the leader did not make the WAL the capture within 30s")
		}
		time.Sleep(20 * time.Millisecond) // the switch is not announced
	}
}

// Under the WAL capture the log trails the tables, so a snapshot often shows a change
// whose event comes after the snapshot's id. While one writer commits single-row
// updates, viewers connect one after another (some filtered by topic, whose frames are
// shared, some by symbol): none is sent, after its snapshot, a change the snapshot
// already showed, and each gets every later change, once, in order.
func TestViewersNeverGetWhatTheirSnapshotShowed(t *testing.T) {
	dbURL := testdb.URL(t)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	awaitWALCapture(t, dbURL)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price, volume) VALUES ('XQ', 1, 0)`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const writes, every = 400, 10 // a new viewer every 10 writes
	wrote := make(chan int, writes)
	var writeErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(wrote)
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			writeErr = err
			return
		}
		defer conn.Close(context.Background())
		for v := 1; v <= writes; v++ {
			if _, err := conn.Exec(ctx, `UPDATE quotes SET volume = $1, price = price + 0.01 WHERE symbol = 'XQ'`, v); err != nil {
				writeErr = err
				return
			}
			wrote <- v
		}
	}()

	type outcome struct {
		query    string
		snapshot int // the volume the snapshot showed
		err      error
	}
	results := make(chan outcome, writes/every+1)
	viewers := 0
	for v := range wrote {
		if v%every != 1 {
			continue
		}
		query := "?topics=price"
		if viewers%2 == 1 {
			query = "?symbols=XQ"
		}
		viewers++
		wg.Add(1)
		go func() {
			defer wg.Done()
			shown, err := watch(ctx, srv.URL+"/events"+query, "XQ", writes)
			results <- outcome{query, shown, err}
		}()
	}
	wg.Wait()
	close(results)
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	for r := range results {
		if r.err != nil {
			t.Errorf("viewer %s, snapshot at volume %d: %v", r.query, r.snapshot, r.err)
		}
	}
	t.Logf("%d viewers", viewers)
}

// watch opens a stream at url, reads its snapshot's volume of symbol, then checks that
// the price events of symbol carry every later volume once, in order, up to last.
func watch(ctx context.Context, url, symbol string, last int) (shown int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET: %s", resp.Status)
	}
	r := sse.NewReader(resp.Body)
	snap, err := r.NextSnapshot()
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	type quote struct {
		Symbol string
		Volume int
	}
	shown = -1
	for _, row := range snap.Quotes {
		var q quote
		if err := json.Unmarshal(row, &q); err != nil {
			return 0, err
		}
		if q.Symbol == symbol {
			shown = q.Volume
		}
	}
	if shown < 0 {
		return 0, fmt.Errorf("the snapshot (id %d) has no %s", snap.ID, symbol)
	}
	for want := shown + 1; want <= last; want++ {
		var ev sse.Event
		for ev.Name != "price" {
			if ev, err = r.Next(); err != nil {
				return shown, fmt.Errorf("waiting for volume %d: %w", want, err)
			}
			if ev.Name == "reset" || ev.Name == "snapshot" {
				return shown, fmt.Errorf("a %s while waiting for volume %d", ev.Name, want)
			}
		}
		var q quote
		if err := json.Unmarshal([]byte(ev.Data), &q); err != nil {
			return shown, err
		}
		if q.Symbol != symbol || q.Volume != want {
			return shown, fmt.Errorf("event %s is %s volume %d, want volume %d (the snapshot, id %d, showed %d)",
				ev.ID, q.Symbol, q.Volume, want, snap.ID, shown)
		}
	}
	return shown, nil
}
