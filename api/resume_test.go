package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
)

// label names an event for comparison: its name, and a reset's reason.
func label(t *testing.T, ev sse.Event) string {
	if ev.Name != "reset" {
		return ev.Name
	}
	var r struct{ Reason string }
	if err := json.Unmarshal([]byte(ev.Data), &r); err != nil {
		t.Fatalf("reset %q: %v", ev.Data, err)
	}
	return "reset:" + r.Reason
}

// A resume is right from every id a viewer can hold: the head, a snapshot's id, the
// prune mark, an id the log never had, one too far behind, a reset's own id, the id
// just before a reset, and any id after the log's ids went backwards. Every stream's
// first frame carries the retry; resets carry no id.
func TestResumeBoundaries(t *testing.T) {
	cfg := hub.DefaultStreamConfig
	cfg.MaxCatchUp = 8
	e := newEnvOpts(t, testserver.Options{Ring: 1024, Stream: cfg})
	ctx := context.Background()
	update := func() int64 {
		testdb.Exec(t, e.db, `UPDATE quotes SET price = price + 1 WHERE symbol = 'AAPL'`)
		head, err := e.st.Position(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !e.hub.WaitFor(ctx, head.Head) {
			t.Fatal("the hub did not hear the update")
		}
		return head.Head
	}
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100), ('MSFT', 200)`)
	testdb.Exec(t, e.db, `TRUNCATE scores`) // a reset in the log
	reset := int64(-1)
	for _, ev := range e.logIDs(t, 0) {
		if evs, _ := e.st.EventsAfter(ctx, ev-1, ev, 1); len(evs) == 1 && evs[0].Name == "reset" {
			reset = ev
		}
	}
	if reset < 0 {
		t.Fatal("TRUNCATE scores logged no reset")
	}
	var head int64
	for range 3 {
		head = update()
	}
	live := e.raw(t, "")
	if ev := live.next(); ev.Name != "snapshot" || live.r.Retry() != cfg.Retry.Milliseconds() {
		t.Fatalf("a new stream began with %s (retry %d)", ev.Name, live.r.Retry())
	}
	var pruned int64

	cases := []struct {
		name  string
		setup func() (lastID int64) // runs in order: cases build on each other
		want  []string
		then  func(s *client) // optional: what follows
	}{
		{"at head", func() int64 { return head }, []string{"heartbeat"}, func(s *client) {
			id := update()
			if ev := s.next(); ev.Name != "price" || ev.ID != strconv.FormatInt(id, 10) {
				t.Fatalf("after the heartbeat: %s %s, want price %d", ev.Name, ev.ID, id)
			}
			head = id
		}},
		{"ahead of head", func() int64 { return head + 1000 }, []string{"reset:unknown-id", "snapshot"}, nil},
		{"a reset's id", func() int64 { return reset }, []string{"reset:reset", "snapshot"}, nil},
		{"just before a reset", func() int64 { return reset - 1 }, []string{"reset:truncate", "snapshot"}, nil},
		{"a snapshot's id", func() int64 {
			s := e.raw(t, "")
			snap := s.next()
			if snap.Name != "snapshot" {
				t.Fatalf("fresh stream began with %s", snap.Name)
			}
			head = update()
			return eventID(snap)
		}, []string{"price"}, nil},
		{"too far behind", func() int64 {
			from := head
			for range 10 {
				head = update()
			}
			return from
		}, []string{"reset:too-far-behind", "snapshot"}, nil},
		{"at the prune mark", func() int64 {
			if _, _, err := e.st.Prune(ctx, -time.Hour); err != nil {
				t.Fatal(err)
			}
			pos, err := e.st.Position(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pruned = pos.Pruned
			return pruned
		}, []string{"heartbeat"}, nil},
		{"below the prune mark", func() int64 { return pruned - 1 }, []string{"reset:retention", "snapshot"}, nil},
		{"after a rewind", func() int64 {
			// A restore from a backup 5 events old: the log and its sequence go back.
			back := strconv.FormatInt(pruned-5, 10)
			testdb.Exec(t, e.db, `UPDATE events_pruned SET through = `+back+`; DELETE FROM events WHERE id > `+back+`;
				SELECT setval(pg_get_serial_sequence('events', 'id'), `+back+`)`)
			testdb.Exec(t, e.db, `UPDATE quotes SET price = price + 1 WHERE symbol = 'AAPL'`)
			// The viewer that was live all along is told to start over.
			evs := []string{label(t, live.next()), label(t, live.next())}
			for evs[len(evs)-2] != "reset:rewound" {
				if len(evs) > 50 {
					t.Fatalf("the live viewer got %v, no reset for the rewind", evs)
				}
				evs = append(evs, label(t, live.next()))
			}
			if evs[len(evs)-1] != "snapshot" {
				t.Fatalf("the live viewer got %v after the rewind, want reset:rewound and a snapshot", evs)
			}
			return head // what a viewer still holds from before the restore
		}, []string{"reset:unknown-id", "snapshot"}, func(*client) {
			id := update()
			if id > pruned {
				t.Fatalf("after the rewind the log's head is %d, above the old %d", id, pruned)
			}
			for ev := live.next(); ; ev = live.next() {
				if ev.Name == "price" {
					if eventID(ev) != id {
						t.Fatalf("live viewer after the rewind: price %s, want %d", ev.ID, id)
					}
					break
				}
			}
		}},
	}
	for _, c := range cases {
		lastID := c.setup()
		s := e.raw(t, strconv.FormatInt(lastID, 10))
		var got []string
		for range c.want {
			ev := s.next()
			got = append(got, label(t, ev))
			if (ev.Name == "reset" || ev.Name == "heartbeat") && ev.ID != "" {
				t.Errorf("%s: %s carries id %q", c.name, ev.Name, ev.ID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("%s (Last-Event-ID %d): got %v, want %v", c.name, lastID, got, c.want)
		}
		if s.r.Retry() != cfg.Retry.Milliseconds() {
			t.Errorf("%s: retry %d, want it on the first frame", c.name, s.r.Retry())
		}
		if c.then != nil {
			c.then(s)
		}
	}
	// An id that is no id at all is one the log never had (a 400 would stop EventSource).
	for _, bad := range []string{"garbage", "-5"} {
		s := e.raw(t, bad)
		if got := []string{label(t, s.next()), label(t, s.next())}; fmt.Sprint(got) != "[reset:unknown-id snapshot]" {
			t.Fatalf("Last-Event-ID %q: got %v", bad, got)
		}
	}
	if !strings.Contains(fmt.Sprint(e.hub.Skipped()), "order:0") {
		t.Fatalf("skipped %v: the rewind's reset was taken for an event out of order", e.hub.Skipped())
	}
}
