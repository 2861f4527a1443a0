package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// emitRaw writes the rows (event, key, payload) a query selects straight into the log,
// in one transaction, and rings the doorbell: events bigger than any board row, in
// names tickerboard_emit keeps for the capture.
func emitRaw(t *testing.T, db, query string) {
	t.Helper()
	testdb.OpenEventLog(t, db)
	testdb.Exec(t, db, `INSERT INTO events (event, key, payload) `+query+`;
		SELECT pg_notify('tickerboard', '')`)
}

// writeRaw inserts one row straight into the log and rings the doorbell, as a psql
// user with rights on events could.
func writeRaw(t *testing.T, db, values string) {
	t.Helper()
	testdb.Exec(t, db, `INSERT INTO events (event, key, payload, created_at) VALUES `+values+`;
		SELECT pg_notify('tickerboard', '')`)
}

// Rows no encoder can carry reach the notifier: a name with a line break, a key with
// one, a 3 MB payload, a time of ±infinity, an id far ahead of the sequence. The server
// stays up and ready; the good events around them arrive in order, live and on resume
// (from the ring and from the log); the bad ones are counted by reason; the far-ahead
// id does not hide the ids after it.
func TestFaultHostileRows(t *testing.T) {
	e := newFaultEnv(t, 16, unconflated()) // a small ring: the resume reads the log
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100)`)
	live := e.watch(t, "", "")
	from := eventID(live.awaitCount(1)[0])
	testdb.OpenEventLog(t, e.db)

	update := func() { testdb.Exec(t, e.db, `UPDATE quotes SET price = price + 1`) }
	update()
	writeRaw(t, e.db, `(E'evil\nname', '', '{}', now())`)
	update()
	writeRaw(t, e.db, `('price', 'INF', '{"symbol":"INF"}', 'infinity')`)
	writeRaw(t, e.db, `('price', 'NEGINF', '{"symbol":"NEGINF"}', '-infinity')`)
	writeRaw(t, e.db, `('price', E'bad\nkey', '{}', now())`)
	writeRaw(t, e.db, `('price', 'HUGE', jsonb_build_object('name', repeat('x', 3000000)), now())`)
	for range 20 { // more than the ring holds
		update()
	}
	head := e.head(t)

	log := e.log(t, from)
	var want []store.Event // what can be carried
	for _, ev := range log {
		if ev.Name == "price" && (ev.Key == "AAPL" || ev.Key == "INF" || ev.Key == "NEGINF") {
			want = append(want, ev)
		}
	}
	if len(want) != 24 {
		t.Fatalf("log after %d: %d events, %d carriable; want 24 carriable", from, len(log), len(want))
	}
	check := func(who string, evs []sse.Event) {
		t.Helper()
		var got []sse.Event
		for _, ev := range evs {
			if eventID(ev) > from {
				got = append(got, ev)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s got %d events after %d, want %d", who, len(got), from, len(want))
		}
		for i, ev := range got {
			if ev.Name != "price" || eventID(ev) != want[i].ID || ev.Data != string(want[i].Payload) {
				t.Fatalf("%s: event %d is %s %s %.80s, want %d %.80s", who, i, ev.Name, ev.ID, ev.Data, want[i].ID, want[i].Payload)
			}
		}
	}
	check("live viewer", live.awaitID(head))
	resumer := e.watch(t, "", strconv.FormatInt(from, 10))
	check("resumer", resumer.awaitID(head))

	resp, err := http.Get(e.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz %d after the hostile rows", resp.StatusCode)
	}
	for _, reason := range []string{"name", "key", "payload_size"} {
		if n := e.metric(t, `tickerboard_events_skipped_total{reason="`+reason+`"}`); n < 1 {
			t.Errorf("skipped{reason=%q} = %v, want at least 1", reason, n)
		}
	}
	if e.notifier.Last() != head || e.hub.Last() != head {
		t.Fatalf("notifier at %d, hub at %d, log head %d", e.notifier.Last(), e.hub.Last(), head)
	}
	// A new instance (a restart) reads the same rows from before them and survives.
	h := hub.New(from, 16)
	defer h.Close(context.Background())
	h.Publish(e.log(t, from)) // each read bounded in bytes, the 3 MB row in one of them
	if h.Last() != head {
		t.Fatalf("a fresh hub fed the log from %d is at %d, want %d", from, h.Last(), head)
	}

	// An id far ahead, written with an id of its own, must not hide the ids after it
	// (with the old capture they stay below it; with one that numbers from the log's
	// maximum they jump past it): every change committed after it arrives, in order.
	testdb.Exec(t, e.db, `INSERT INTO events (id, event, key, payload) VALUES (1000000000, 'price', 'FAR', '{}');
		SELECT pg_notify('tickerboard', '1000000000')`)
	var after []int64
	for range 3 {
		update()
		after = append(after, e.head(t))
	}
	got := live.awaitID(after[2])
	var ids []int64
	for _, ev := range got {
		if ev.Name == "price" && eventID(ev) > head && ev.Data != `{}` {
			ids = append(ids, eventID(ev))
		}
	}
	if fmt.Sprint(ids) != fmt.Sprint(after) {
		t.Fatalf("after a far-ahead id the live viewer got %v, want %v", ids, after)
	}
}
