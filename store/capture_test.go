package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// waitKey waits until c has published an event with key, without reading the log
// (which would tick and do the notifier's work for it).
func (c *collector) waitKey(t *testing.T, key string) store.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		evs, ch := append([]store.Event(nil), c.events...), c.changed
		c.mu.Unlock()
		for _, e := range evs {
			if e.Key == key {
				return e
			}
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for an event keyed %s; have %d events", key, len(evs))
		}
	}
}

// awaitListening waits until n is connected and listening.
func awaitListening(t *testing.T, n *store.Notifier) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		connected, changed := n.State()
		if connected {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatal("notifier not listening within 30s")
		}
	}
}

// One tick serves every instance: the leader ticks on a writer's doorbell, and its
// notification carries the events, so neither it nor a follower reads the log for
// them; the follower leaves the tick to the leader.
func TestOneTickServesEveryInstance(t *testing.T) {
	st, url := testdb.Open(t)
	leader, fromLeader := startNotifier(t, st)
	follower, fromFollower := startNotifier(t, st, func(n *store.Notifier) {
		n.Leads = func() bool { return false }
		n.Grace = time.Minute // it must not tick itself in this test
	})
	awaitListening(t, leader)
	awaitListening(t, follower)
	ctx := context.Background()
	var ticksBefore int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM ticks`).Scan(&ticksBefore); err != nil {
		t.Fatal(err)
	}
	fetched := [2]int64{leader.Fetched(), follower.Fetched()}
	followerTicks := follower.Ticks()

	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('ONE', 1), ('TWO', 2)`)
	for _, c := range []*collector{fromLeader, fromFollower} {
		c.waitKey(t, "TWO")
	}
	if got := [2]int64{leader.Fetched(), follower.Fetched()}; got != fetched {
		t.Errorf("events read from the log went from %v to %v; the tick's notification carried them", fetched, got)
	}
	if leader.Carried() < 2 || follower.Carried() < 2 {
		t.Errorf("carried: leader %d, follower %d; want both events each", leader.Carried(), follower.Carried())
	}
	if n := follower.Ticks() - followerTicks; n != 0 {
		t.Errorf("the follower ticked %d times; the leader's tick covered the commit", n)
	}
	var ticks int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM ticks`).Scan(&ticks); err != nil {
		t.Fatal(err)
	}
	if ticks != ticksBefore+1 {
		t.Errorf("%d ticks recorded for one commit, want 1", ticks-ticksBefore)
	}
}

// A follower whose leader is gone (or slow) does not leave events queued: it ticks
// itself once a doorbell has waited Grace.
func TestFollowerTicksWhenNoLeaderDoes(t *testing.T) {
	st, url := testdb.Open(t)
	follower, c := startNotifier(t, st, func(n *store.Notifier) {
		n.Leads = func() bool { return false }
		n.Grace = 50 * time.Millisecond
		n.Idle = time.Minute // so it is the grace, not the idle poll, that ticks
	})
	awaitListening(t, follower)
	start := time.Now()
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('ALONE', 1)`)
	c.waitKey(t, "ALONE")
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("delivered after %s, before the grace of 50ms: the follower did not wait for a leader", waited)
	}
}

// A session that holds the tick lock cannot hang a new viewer: a snapshot that must
// tick gives up after TickLockWait, and works again once the lock is free.
func TestSnapshotWaitForTheTickLockIsBounded(t *testing.T) {
	st, url := testdb.Open(t)
	ctx := context.Background()
	hog, err := st.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Release()
	if _, err := hog.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(store.OrderingLockKey)); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('HELD', 1)`) // queued: the snapshot must tick
	start := time.Now()
	_, err = st.Snapshot(ctx, store.Filter{Quotes: true})
	waited := time.Since(start)
	if err == nil {
		t.Fatal("snapshot succeeded while the tick lock was held and a change was queued")
	}
	if waited < store.TickLockWait-time.Second || waited > store.TickLockWait+10*time.Second {
		t.Errorf("snapshot gave up after %s, want about %s", waited, store.TickLockWait)
	}
	if _, err := hog.Exec(ctx, `SELECT pg_advisory_unlock($1)`, int64(store.OrderingLockKey)); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx, store.Filter{Quotes: true})
	if err != nil || len(snap.Quotes) != 1 {
		t.Fatalf("snapshot after the lock was freed: %d quotes, %v", len(snap.Quotes), err)
	}
}

// A session holding the tick lock stalls delivery, not the notifier: its ticks give
// up after the bound without dropping the connection, and once the lock is free every
// queued event is delivered, in commit order.
func TestNotifierOutlastsAHeldTickLock(t *testing.T) {
	st, url := testdb.Open(t)
	n, c := startNotifier(t, st)
	awaitListening(t, n)
	ctx := context.Background()
	hog, err := st.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Release()
	if _, err := hog.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(store.OrderingLockKey)); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('FIRST', 1)`)
	ticks := n.Ticks()
	// Wait for the notifier's tick to have started and given up (it counts on start).
	deadline := time.Now().Add(30 * time.Second)
	for n.Ticks() == ticks {
		if time.Now().After(deadline) {
			t.Fatal("the notifier never tried to tick")
		}
		time.Sleep(10 * time.Millisecond) // polling a counter, bounded by the deadline
	}
	if _, err := hog.Exec(ctx, `SELECT pg_advisory_unlock($1)`, int64(store.OrderingLockKey)); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('SECOND', 2)`)
	second := c.waitKey(t, "SECOND")
	first := c.waitKey(t, "FIRST")
	if first.ID >= second.ID {
		t.Errorf("FIRST got id %d, SECOND %d: want commit order", first.ID, second.ID)
	}
	if r := n.Reconnects(); r != 0 {
		t.Errorf("the notifier reconnected %d times over a held tick lock", r)
	}
}

// Any session may NOTIFY on the ticks' channel. A forged tick — events of its own, or
// a snapshot claiming every transaction is covered so listeners stop ticking — is not
// believed: the forged event never reaches a viewer and later commits still arrive.
func TestForgedTickNotificationsAreNotBelieved(t *testing.T) {
	st, url := testdb.Open(t)
	n, c := startNotifier(t, st)
	awaitListening(t, n)
	next := n.Last() + 1
	forged := fmt.Sprintf("%d 1:9000000000000000000: %064d\n"+
		`[{"id": %d, "event": "price", "key": "FORGED", "payload": {"symbol": "FORGED", "price": 1}, "created_at": "2026-12-01T10:30:17+00:00"}]`,
		next, 0, next)
	testdb.Exec(t, url, `SELECT pg_notify('tickerboard', $1)`, forged)
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('REAL', 1)`)
	real := c.waitKey(t, "REAL")
	for _, e := range c.waitFor(t, real.ID) {
		if e.Key == "FORGED" {
			t.Fatalf("a forged tick's event was published: %+v", e)
		}
	}
}
