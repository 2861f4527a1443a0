package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// Pruning removes a prefix of the log older than retention, with its price ticks, and
// records how far it cut so resumers can tell a gap from a quiet spell.
func TestPruneCutsOldEventsAndRecordsHow(t *testing.T) {
	st, url := testdb.Open(t)
	ctx := context.Background()
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('OLD', 1)`)
	testdb.Exec(t, url, `UPDATE quotes SET price = 2`)
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

// Pruning walks the log in id order (there is no index on time) across many reads,
// and stops at the first event younger than retention: an older event after it stays
// (ids follow commits, not the times a writer's transaction began), so no event
// younger than retention is ever cut.
func TestPruneStopsAtTheFirstYoungEvent(t *testing.T) {
	st, url := testdb.Open(t)
	ctx := context.Background()
	old := int64(2*store.PruneWalk + 5) // more than two of the walk's reads
	testdb.Exec(t, url, fmt.Sprintf(`ALTER TABLE events DISABLE TRIGGER events_capture_only;
		INSERT INTO events (id, event, key, payload, created_at)
		SELECT i, 'note', '', '{}', now() - interval '2 hours' + i * interval '1 ms' FROM generate_series(1, %[1]d) i;
		INSERT INTO events (id, event, key, payload, created_at) VALUES
			(%[1]d + 1, 'note', '', '{}', now()), (%[1]d + 2, 'note', '', '{}', now() - interval '2 hours');
		ALTER TABLE events ENABLE TRIGGER events_capture_only;
		SELECT setval('events_id_seq', %[1]d + 2);`, old))
	events, _, err := st.Prune(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := st.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if events != old || pos.Pruned != old {
		t.Fatalf("pruned %d events through %d; want %d through %d (the first young event is %d)", events, pos.Pruned, old, old, old+1)
	}
	left, err := st.EventsAfter(ctx, 0, 1<<62, 10)
	if err != nil || len(left) != 2 || left[0].ID != old+1 || left[1].ID != old+2 {
		t.Fatalf("left in the log: %v %v; want %d and %d", left, err, old+1, old+2)
	}
}

// Price ticks are pruned symbol by symbol (there is no index on their time): every
// symbol's old ticks go, a symbol with no quote included, and the young ones stay.
func TestPruneTicksOfEverySymbol(t *testing.T) {
	st, url := testdb.Open(t)
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('ACME', 1), ('BOLT', 2);
		DELETE FROM price_ticks;
		INSERT INTO price_ticks (symbol, price, ts) SELECT s, 1, now() - age
		FROM unnest(ARRAY['ACME', 'BOLT', 'GONE']) s, unnest(ARRAY[interval '3 hours', interval '2 hours', interval '1 minute']) age`)
	_, ticks, err := st.Prune(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var left string
	if err := st.Pool().QueryRow(context.Background(), `SELECT string_agg(symbol, ' ' ORDER BY symbol) FROM price_ticks
		WHERE ts > now() - interval '1 hour'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	var all int
	if err := st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM price_ticks`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	if ticks != 6 || all != 3 || left != "ACME BOLT GONE" {
		t.Fatalf("pruned %d ticks, %d left (young: %q); want 6 pruned, the 3 young left", ticks, all, left)
	}
}
