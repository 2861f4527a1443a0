package store_test

import (
	"context"
	"testing"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// A snapshot is exactly "as of" its id, even when changes have committed that no tick
// has moved into the log yet: they are in the snapshot, and their events are at or
// below its id, never after it (a play after the snapshot would be shown twice).
func TestSnapshotIsAsOfItsID(t *testing.T) {
	st, url := testdb.Open(t)
	ctx := context.Background()
	testdb.Exec(t, url, `INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Lakers', 'Celtics')`)
	for _, tt := range []struct{ name, sql string }{
		{"queued (no tick yet)", `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 3, 'queued')`},
		{"a second play, queued", `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'away', 2, 'again')`},
	} {
		testdb.Exec(t, url, tt.sql)
		var queued int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM events_queue`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			t.Fatalf("%s: nothing queued; the test needs a change no tick has moved", tt.name)
		}
		snap, err := st.Snapshot(ctx, store.Filter{Quotes: true, Scores: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Plays) == 0 {
			t.Fatalf("%s: the snapshot has no plays", tt.name)
		}
		after, err := st.EventsAfter(ctx, snap.ID, 1<<62, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != 0 {
			t.Fatalf("%s: events after the snapshot's id %d: %v; they are in the snapshot already", tt.name, snap.ID, after)
		}
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM events_queue`).Scan(&queued); err != nil || queued != 0 {
			t.Fatalf("%s: %d rows left queued after the snapshot (%v)", tt.name, queued, err)
		}
	}
	// With nothing queued, a snapshot takes no lock and writes nothing.
	before, err := st.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx, store.Filter{Quotes: true, Scores: true})
	if err != nil || snap.ID != before.Head {
		t.Fatalf("snapshot of a quiet board: id %d (%v), want the head %d", snap.ID, err, before.Head)
	}
}
