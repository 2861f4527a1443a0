package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// scrape returns the /metrics page of base.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// The leading instance stops while a writer commits one change after another: the
// other instance takes over the capture from the same slot, and a viewer on it gets
// every change exactly once, in commit order — nothing lost in the hand-over.
func TestLeaderFailoverWithWritesInFlight(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	a := startServer(t, dbURL, "127.0.0.1:0")
	b := startServer(t, dbURL, "127.0.0.1:0")
	deadline := time.Now().Add(20 * time.Second)
	for metric(t, a.URL, "tickerboard_capture_slot_active") != 1 && metric(t, b.URL, "tickerboard_capture_slot_active") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no instance captures from the WAL")
		}
		time.Sleep(50 * time.Millisecond) // the slot's state is only polled
	}
	leader, follower := a, b
	if metric(t, b.URL, "tickerboard_leader") == 1 {
		leader, follower = b, a
	}
	for body := ""; !strings.Contains(body, `tickerboard_capture_info{mode="wal"} 1`); body = scrape(t, follower.URL) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics do not say the capture is the WAL:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond) // the mode is a row, read at scrape time
	}

	r, closeStream := stream(t, follower.URL, "?topics=price")
	defer closeStream()
	nextNamed(t, r, "snapshot")

	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO quotes (symbol, price) VALUES ('FAIL', 10)`); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if i == n/3 {
			leader.Stop() // mid-stream: changes committed, some decoded, some not
		}
		if _, err := conn.Exec(ctx, `UPDATE quotes SET volume = $1, price = price + 0.01 WHERE symbol = 'FAIL'`, i); err != nil {
			t.Fatal(err)
		}
	}
	for want := int64(0); want <= n; want++ {
		ev := nextNamed(t, r, "price")
		var q struct{ Volume int64 }
		if err := json.Unmarshal([]byte(ev.Data), &q); err != nil {
			t.Fatal(err)
		}
		if q.Volume != want {
			t.Fatalf("viewer got volume %d (event %s), want %d: lost, repeated or out of order", q.Volume, ev.ID, want)
		}
	}
	if metric(t, follower.URL, "tickerboard_leader") != 1 {
		t.Error("the survivor does not lead")
	}
}
