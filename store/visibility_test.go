package store_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

func TestParseVisibility(t *testing.T) {
	cases := []struct {
		text    string
		visible []uint64
		hidden  []uint64
		err     bool
	}{
		{text: "10:10:", visible: []uint64{3, 9}, hidden: []uint64{0, 10, 11, 1 << 40}},
		{text: "10:20:12,15", visible: []uint64{9, 10, 11, 13, 19}, hidden: []uint64{0, 12, 15, 20}},
		{text: "10:20:15,12", visible: []uint64{13}, hidden: []uint64{12, 15}}, // any order
		{text: "4294967300:4294967310:4294967305", visible: []uint64{5, 4294967299, 4294967304}, hidden: []uint64{4294967305, 4294967310}},
		{text: "", err: true},
		{text: "10", err: true},
		{text: "10:x:", err: true},
		{text: "20:10:", err: true},
		{text: "10:20:9", err: true},
		{text: "10:20:20", err: true},
		{text: "10:20:12,", err: true},
		{text: "-1:20:", err: true},
	}
	for _, c := range cases {
		v, err := store.ParseVisibility(c.text)
		if c.err {
			if err == nil {
				t.Errorf("ParseVisibility(%q) = %v, want an error", c.text, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseVisibility(%q): %v", c.text, err)
			continue
		}
		for _, x := range c.visible {
			if !v.Visible(x) {
				t.Errorf("%q: xid %d not visible, want visible", c.text, x)
			}
		}
		for _, x := range c.hidden {
			if v.Visible(x) {
				t.Errorf("%q: xid %d visible, want not", c.text, x)
			}
		}
	}
	var zero store.Visibility
	if zero.Visible(1) || zero.Visible(1<<62) || !zero.NoneFrom(0) {
		t.Error("the zero Visibility saw something")
	}
	if v, _ := store.ParseVisibility("10:20:12,15"); v.String() != "10:20:12,15" || v.NoneFrom(19) || !v.NoneFrom(20) {
		t.Errorf("%v: String or NoneFrom wrong", v)
	}
}

// Under the WAL capture a snapshot's Visible says exactly which writes its tables show,
// while two writers commit one update after another: a write is visible if and only if
// the snapshot's quote has its volume. Each writer's transaction spans two round trips,
// so one often commits while the other, with a lower xid, is still open (its xid is in
// the snapshot's in-progress list). The events the capture writes carry the writers'
// transactions, and those after a snapshot's id that it already showed are exactly the
// ones whose xid it saw.
func TestSnapshotVisibleUnderWALCapture(t *testing.T) {
	st, dbURL := testdb.Open(t)
	testdb.RequireWALCapture(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	symbols := []string{"XV", "XW"}
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price, volume) VALUES ('XV', 1, 0), ('XW', 1, 0)`)
	evs, err := st.EventsAfter(ctx, 0, 1<<62, 10)
	if err != nil || len(evs) != 2 || evs[0].Xid != 0 || evs[1].Xid != 0 {
		t.Fatalf("the triggers' insert: %+v %v; want two events with no xid", evs, err)
	}
	runCapture(t, st)

	const writes = 300
	xids := make([][]uint64, len(symbols)) // xids[s][v] wrote volume v of symbols[s]
	errs := make([]error, len(symbols))
	var wg sync.WaitGroup
	for s, sym := range symbols {
		xids[s] = make([]uint64, writes+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[s] = writeXids(ctx, dbURL, sym, xids[s])
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	type seen struct {
		snap    store.Snapshot
		volumes []int // by symbol
	}
	var snaps []seen
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		snap, err := st.Snapshot(ctx, store.Filter{Quotes: true, Symbols: symbols})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Quotes) != len(symbols) {
			t.Fatalf("snapshot has %d quotes, want %d", len(snap.Quotes), len(symbols))
		}
		s := seen{snap: snap}
		for _, q := range snap.Quotes { // by symbol, as symbols are
			s.volumes = append(s.volumes, quoteVolume(t, q))
		}
		snaps = append(snaps, s)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// The capture writes the log a little after the commits: wait for both last writes.
	logged := map[string]map[int]store.Event{}
	for _, sym := range symbols {
		logged[sym] = map[int]store.Event{}
	}
	deadline := time.Now().Add(30 * time.Second)
	for after := int64(0); logged["XV"][writes].ID == 0 || logged["XW"][writes].ID == 0; {
		page, err := st.EventsAfter(ctx, after, 1<<62, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			after = e.ID
			if e.Name == "price" {
				logged[e.Key][quoteVolume(t, e.Payload)] = e
			}
		}
		if len(page) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the capture did not log the last writes within 30s")
			}
			time.Sleep(20 * time.Millisecond) // nothing rings here (the notifier would)
		}
	}
	for s, sym := range symbols {
		for v := 1; v <= writes; v++ {
			if e := logged[sym][v]; e.Xid != xids[s][v] {
				t.Fatalf("event %d (%s volume %d) has xid %d, its writer's was %d", e.ID, sym, v, e.Xid, xids[s][v])
			}
		}
	}

	// trailing: the snapshot showed a write whose event came after its id (a stream
	// must leave it out); open: a write the snapshot did not show though it showed one
	// with a higher xid (its xid was in progress).
	trailing, open := 0, 0
	for _, sn := range snaps {
		var highest uint64 // the highest xid shown
		for s, sym := range symbols {
			for v := 1; v <= writes; v++ {
				shown := v <= sn.volumes[s]
				if got := sn.snap.Visible.Visible(xids[s][v]); got != shown {
					t.Fatalf("snapshot %v (id %d) shows %s volume %d; Visible(xid %d of volume %d) = %t",
						sn.snap.Visible, sn.snap.ID, sym, sn.volumes[s], xids[s][v], v, got)
				}
				e := logged[sym][v]
				switch {
				case e.ID <= sn.snap.ID && !shown:
					// The capture logged the change before its writer's commit was visible
					// (WAL order is not visibility order): a viewer of this snapshot, sent
					// only events after its id, would never get this change.
					t.Fatalf("snapshot id %d (%v) shows %s volume %d, but event %d (volume %d, xid %d) is at or below its id",
						sn.snap.ID, sn.snap.Visible, sym, sn.volumes[s], e.ID, v, e.Xid)
				case e.ID > sn.snap.ID && shown:
					trailing++
				}
				if shown {
					highest = max(highest, xids[s][v])
				}
			}
		}
		for s := range symbols {
			if v := sn.volumes[s] + 1; v <= writes && xids[s][v] < highest {
				open++
			}
		}
	}
	t.Logf("%d snapshots; %d (snapshot, write) pairs showed a write logged after the snapshot's id; %d snapshots did not show an open write below one they showed",
		len(snaps), trailing, open)
	if len(snaps) < 10 || trailing == 0 || open == 0 {
		t.Fatal("the cases this test is for did not happen")
	}
}

// writeXids commits len(xids)-1 updates of symbol's volume, 1, 2, ..., each in a
// transaction of two round trips, and records each transaction's xid in xids[volume].
func writeXids(ctx context.Context, dbURL, symbol string, xids []uint64) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for v := 1; v < len(xids); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `UPDATE quotes SET volume = $1, price = price + 0.01 WHERE symbol = $2
				RETURNING pg_current_xact_id()`, v, symbol).Scan(&xids[v])
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// quoteVolume is the volume of a quote's JSON.
func quoteVolume(t *testing.T, row []byte) int {
	t.Helper()
	var q struct{ Volume int }
	if err := json.Unmarshal(row, &q); err != nil {
		t.Fatalf("quote %s: %v", row, err)
	}
	return q.Volume
}
