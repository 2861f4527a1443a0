package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// Pruning removes a prefix of the log older than retention, with its price ticks, and
// records how far it cut so resumers can tell a gap from a quiet spell.
func TestPruneCutsOldEventsAndRecordsHow(t *testing.T) {
	st, url := testdb.Open(t)
	ctx := context.Background()
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('OLD', 1)`)
	testdb.Exec(t, url, `UPDATE quotes SET price = 2`)
	if _, err := st.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	// Only the capture path writes the log; the superuser turns its guard off to age it.
	testdb.Exec(t, url, `ALTER TABLE events DISABLE TRIGGER events_capture_only;
		UPDATE events SET created_at = now() - interval '2 hours';
		ALTER TABLE events ENABLE TRIGGER events_capture_only;
		UPDATE price_ticks SET ts = now() - interval '2 hours'`)
	old, err := st.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, url, `UPDATE quotes SET price = 3`)
	if _, err := st.Tick(ctx); err != nil {
		t.Fatal(err)
	}

	events, ticks, err := st.Prune(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if events != 2 || ticks != 2 {
		t.Fatalf("pruned %d events, %d ticks; want 2, 2", events, ticks)
	}
	pos, err := st.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos.Pruned != old.Head || pos.Head != old.Head+1 {
		t.Fatalf("position after prune %+v, want pruned %d, head %d", pos, old.Head, old.Head+1)
	}
	left, err := st.EventsAfter(ctx, 0, 1<<62, 10)
	if err != nil || len(left) != 1 || left[0].ID != pos.Head {
		t.Fatalf("left in the log: %v %v", left, err)
	}
	// An empty log still knows where it stands.
	if _, _, err := st.Prune(ctx, -time.Hour); err != nil {
		t.Fatal(err)
	}
	if pos, _ := st.Position(ctx); pos.Pruned != old.Head+1 || pos.Head != old.Head+1 {
		t.Fatalf("position of an emptied log %+v", pos)
	}
}
