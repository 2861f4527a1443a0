package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is the NOTIFY channel the schema's triggers ring on every commit.
const Channel = "tickerboard"

// ListenerApplicationName marks the Notifier's connection in pg_stat_activity.
const ListenerApplicationName = "tickerboard-listener"

// Notifier follows the event log: it holds one dedicated LISTEN connection, and on
// every doorbell reads the new events in batches and hands them, in id order with no
// gaps and no repeats, to Publish. When the connection is lost it reconnects with
// backoff (milliseconds up to a few seconds) and catches up from the log, so nothing
// committed meanwhile is lost.
type Notifier struct {
	store   *Store
	config  *pgx.ConnConfig
	publish func([]Event)
	logger  *slog.Logger

	// Batch is how many events one catch-up query reads.
	Batch int
	// Idle is how long the listener waits for a notification before it pings the
	// connection and polls the log anyway, which finds a silently dead TCP path.
	Idle time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts.
	MinBackoff, MaxBackoff time.Duration
	// Leads, when set, reports whether this instance is the one that ticks (the
	// elected leader). The others leave a writer's doorbell to it and tick themselves
	// only when no tick has covered it within Grace, so one tick serves every instance
	// and a leader's failover delays events by at most about Grace. Nil: always tick.
	Leads func() bool
	// Grace is how long a follower waits for the leader's tick.
	Grace time.Duration
	// VacuumEvery is how often, at most, a ticking instance vacuums the capture queue.
	VacuumEvery time.Duration

	last       atomic.Int64
	reconnects atomic.Int64
	fetched    atomic.Int64
	carried    atomic.Int64
	ticks      atomic.Int64

	aheadLogged bool      // Run's goroutine only
	vacuumed    time.Time // Run's goroutine only

	mu        sync.Mutex
	connected bool
	changed   chan struct{} // closed and replaced on every connect or disconnect
}

// NewNotifier returns a Notifier that publishes events with ids above after.
// publish is called from Run's goroutine only, one batch at a time.
func NewNotifier(s *Store, after int64, publish func([]Event), logger *slog.Logger) *Notifier {
	n := &Notifier{
		store:       s,
		config:      s.ConnConfig(),
		publish:     publish,
		logger:      logger,
		Batch:       2000,
		Idle:        5 * time.Second,
		MinBackoff:  10 * time.Millisecond,
		MaxBackoff:  3 * time.Second,
		Grace:       100 * time.Millisecond,
		VacuumEvery: time.Second,
		changed:     make(chan struct{}),
	}
	n.config.RuntimeParams["application_name"] = ListenerApplicationName
	n.last.Store(after)
	return n
}

// Last is the id of the newest event published.
func (n *Notifier) Last() int64 { return n.last.Load() }

// Reconnects counts how many times the listener connection was lost and re-made.
func (n *Notifier) Reconnects() int64 { return n.reconnects.Load() }

// Ticks counts the ticks this instance ran.
func (n *Notifier) Ticks() int64 { return n.ticks.Load() }

// Carried counts the events that came inside a tick's notification, with no read of
// the log.
func (n *Notifier) Carried() int64 { return n.carried.Load() }

// Fetched counts the events read from the log.
func (n *Notifier) Fetched() int64 { return n.fetched.Load() }

// State reports whether the listener is connected and a channel that is closed at its
// next change, so callers can wait for a reconnect instead of polling.
func (n *Notifier) State() (connected bool, changed <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connected, n.changed
}

func (n *Notifier) setConnected(c bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.connected == c {
		return
	}
	n.connected = c
	close(n.changed)
	n.changed = make(chan struct{})
}

// Run listens until ctx ends, reconnecting as often as it must. It returns nil when
// ctx ends; the Notifier cannot be reused after.
func (n *Notifier) Run(ctx context.Context) error {
	backoff := n.MinBackoff
	for {
		healthy, err := n.session(ctx)
		n.setConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			backoff = n.MinBackoff
			n.reconnects.Add(1)
		}
		n.logger.Warn("listener lost; reconnecting", "err", err, "retry_in", backoff, "last_event", n.Last())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff + rand.N(backoff/2+1)):
		}
		backoff = min(backoff*2, n.MaxBackoff)
	}
}

// session runs one connection's life: LISTEN first, then read the backlog, then wait,
// so no commit slips between the catch-up and the first notification. healthy reports
// whether it got as far as listening.
func (n *Notifier) session(ctx context.Context) (healthy bool, err error) {
	connectCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(connectCtx, n.config)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel+"; LISTEN "+CaptureChannel); err != nil {
		return false, fmt.Errorf("listen %q and %q: %w", Channel, CaptureChannel, err)
	}
	var seen covered // the newest tick this session knows of
	var key []byte   // what ticks sign with; without it no note is believed
	if err := conn.QueryRow(ctx, tickKeySQL).Scan(&key); err != nil {
		n.logger.Warn("cannot read the tick key; reading the log on every tick", "err", err)
	}
	// Whatever was committed before we listened is moved now; later commits ring.
	if err := n.tick(ctx, conn, &seen); err != nil {
		return false, err
	}
	if err := n.checkPosition(ctx); err != nil {
		return false, err
	}
	if _, err := n.catchUp(ctx); err != nil {
		return false, err
	}
	n.setConnected(true)
	n.logger.Info("listener connected", "channel", Channel, "last_event", n.Last(), "pid", conn.PgConn().PID())
	var doorbell int64                // the last tick's first id: ticks come in commit order, so in id order
	pending := map[uint64]time.Time{} // doorbells no known tick covers yet, and when they rang
	for {
		wait := n.Idle
		if due, ok := n.tickDue(pending, seen); ok {
			wait = max(0, time.Until(due))
		}
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		note, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if _, ok := n.tickDue(pending, seen); ok {
				// The leader has not covered these doorbells in time: tick ourselves.
				if err := n.tick(ctx, conn, &seen); err != nil {
					return true, err
				}
				continue
			}
			pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping listener: %w", err)
			}
			// A tick that failed (its lock held too long) left events queued: retry.
			if err := n.tick(ctx, conn, &seen); err != nil {
				return true, err
			}
		case err != nil:
			return true, fmt.Errorf("wait for notification: %w", err)
		case note.Channel == CaptureChannel:
			// A writer committed. Tick, unless a tick we know of already saw it, or the
			// leader will (then wait for its tick's notification, up to Grace).
			txid, perr := strconv.ParseUint(note.Payload, 10, 64)
			if perr == nil && seen.covers(txid) {
				continue
			}
			if perr == nil && n.Leads != nil && !n.Leads() && len(pending) < maxPending {
				if _, ok := pending[txid]; !ok {
					pending[txid] = time.Now()
				}
				continue
			}
			if err := n.tick(ctx, conn, &seen); err != nil {
				return true, err
			}
			// Our own tick's notification, with its events, is next in line.
			continue
		default:
			tn, ok := parseTickNote(note.Payload, key)
			if !ok {
				break // not a tick's: read the log
			}
			seen = seen.later(tn.covered)
			// If we have read past its first id we have read the whole tick: nothing to
			// do, unless it is below an earlier one: then the log's ids went backwards.
			if tn.first <= n.Last() {
				backwards := tn.first <= doorbell
				doorbell = tn.first
				if backwards {
					if err := n.checkPosition(ctx); err != nil {
						return true, err
					}
				}
				continue
			}
			doorbell = tn.first
			if tn.events != nil && tn.first == n.Last()+1 {
				n.carried.Add(int64(len(tn.events)))
				n.last.Store(tn.events[len(tn.events)-1].ID)
				n.publish(tn.events)
				continue
			}
		}
		read, err := n.catchUp(ctx)
		if err != nil {
			return true, err
		}
		if read == 0 { // a quiet spell, or ids that went backwards: look
			if err := n.checkPosition(ctx); err != nil {
				return true, err
			}
		}
	}
}

// maxPending bounds the doorbells a follower remembers while it waits for the
// leader's tick; past it, it ticks itself.
const maxPending = 10000

// tickDue drops the pending doorbells a known tick has covered and reports when the
// oldest of the rest is due for a tick of our own.
func (n *Notifier) tickDue(pending map[uint64]time.Time, seen covered) (due time.Time, ok bool) {
	for txid, rang := range pending {
		if seen.covers(txid) {
			delete(pending, txid)
			continue
		}
		if !ok || rang.Before(due) {
			due, ok = rang, true
		}
	}
	return due.Add(n.Grace), ok
}

// checkPosition compares the log's bounds with what has been published, after every
// connect and whenever a catch-up finds nothing.
//
// Pruned above Last covers an instance that was cut off from Postgres for longer than
// the retention: events after Last were pruned before it could read them. Skipping
// them would leave every viewer with a silent hole, so it publishes a reset (as a
// TRUNCATE does) carrying the id the log was cut at; streams answer it with a fresh
// snapshot.
//
// Head below Last means the log's ids went backwards: a restore, a setval, a failover
// to a replica that had not seen the newest commits. Reading on after Last would skip
// every new event until the ids passed it again, so it adopts Head and publishes a
// reset (reason "rewound") with Head's id; the hub takes it though its id is not new.
func (n *Notifier) checkPosition(ctx context.Context) error {
	pos, err := n.store.Position(ctx)
	if err != nil {
		return err
	}
	if pos.Ahead > 0 && !n.aheadLogged {
		n.aheadLogged = true
		n.logger.Warn("the event log has rows with ids its sequence never issued; they are held back until it does",
			"rows", pos.Ahead, "issued_through", pos.Head)
	}
	last := n.Last()
	switch {
	case pos.Pruned > last:
		n.logger.Warn("events were pruned before this instance read them; resetting viewers",
			"last_event", last, "pruned_through", pos.Pruned)
		n.reset(pos.Pruned, "retention")
	case pos.Head < last:
		n.logger.Warn("the event log's ids went backwards (restore, setval or failover); resetting viewers",
			"last_event", last, "head", pos.Head)
		n.reset(pos.Head, "rewound")
	}
	return nil
}

// tick moves committed events into the log on the listening connection and notes
// what it covered. A tick that waited too long for the tick lock (a session holds it)
// is logged and retried at the next doorbell or idle poll: writers are not affected,
// and the connection is fine.
func (n *Notifier) tick(ctx context.Context, conn *pgx.Conn, seen *covered) error {
	n.ticks.Add(1)
	first, c, err := tick(ctx, conn)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == lockNotAvailable:
		n.logger.Warn("tick lock busy; events wait in the queue until it frees", "err", pgErr.Message)
		return nil
	case err != nil:
		return err
	}
	*seen = seen.later(c)
	// Every tick deletes what it moved, and a tick scans the queue's dead rows until a
	// vacuum clears them; autovacuum looks only once a minute, by which time a busy
	// feed has left hundreds of thousands. So whoever ticks vacuums the queue, at most
	// once per VacuumEvery while ticks move events.
	if first != 0 && time.Since(n.vacuumed) >= n.VacuumEvery {
		n.vacuumed = time.Now()
		if _, err := conn.Exec(ctx, "VACUUM (SKIP_LOCKED) events_queue"); err != nil {
			return fmt.Errorf("vacuum the capture queue: %w", err)
		}
	}
	return nil
}

// reset moves Last to id and publishes a reset event there.
func (n *Notifier) reset(id int64, reason string) {
	n.last.Store(id)
	n.publish([]Event{{ID: id, Name: "reset", Payload: []byte(`{"reason":"` + reason + `"}`), CreatedAt: time.Now()}})
}

// catchUp publishes every event after Last, a batch (bounded in rows and in bytes) per
// query, and reports how many it read.
func (n *Notifier) catchUp(ctx context.Context) (read int, err error) {
	for {
		events, more, err := n.store.eventsAfter(ctx, n.Last(), maxEventID, n.Batch)
		if err != nil {
			return read, err
		}
		if len(events) == 0 {
			return read, nil
		}
		read += len(events)
		n.fetched.Add(int64(len(events)))
		n.last.Store(events[len(events)-1].ID)
		n.publish(events)
		if !more {
			return read, nil
		}
	}
}

const maxEventID = int64(^uint64(0) >> 1)
