package store

import (
	"context"
	"encoding/json"
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
	publish func([]Event)
	logger  *slog.Logger

	// Batch is how many events one catch-up query reads.
	Batch int
	// Idle is how long the listener waits for a notification before it pings the
	// connection and polls the log anyway, which finds a silently dead TCP path.
	Idle time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts.
	MinBackoff, MaxBackoff time.Duration

	// pub is held while events are published and Last moves: by Run's goroutine, and
	// by Offer when it finds it free.
	pub        sync.Mutex
	last       atomic.Int64
	reconnects atomic.Int64
	fetched    atomic.Int64
	carriedN   atomic.Int64
	offeredN   atomic.Int64

	aheadLogged bool // Run's goroutine only
	trust       trustCache

	// This instance's WAL capture, when it runs (Capture.Notifier): its apply
	// session, and the last id of the newest append it has handed over.
	capturePID atomic.Uint32
	handMu     sync.Mutex
	handed     int64
	handCh     chan struct{} // closed and replaced at every hand-over and session change

	mu        sync.Mutex
	connected bool
	changed   chan struct{} // closed and replaced on every connect or disconnect
}

// NewNotifier returns a Notifier that publishes events with ids above after.
// publish is called one batch at a time, never concurrently.
func NewNotifier(s *Store, after int64, publish func([]Event), logger *slog.Logger) *Notifier {
	n := &Notifier{
		store:      s,
		publish:    publish,
		logger:     logger,
		Batch:      2000,
		Idle:       5 * time.Second,
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 3 * time.Second,
		changed:    make(chan struct{}),
		handCh:     make(chan struct{}),
	}
	n.last.Store(after)
	return n
}

// Last is the id of the newest event published.
func (n *Notifier) Last() int64 { return n.last.Load() }

// Reconnects counts how many times the listener connection was lost and re-made.
func (n *Notifier) Reconnects() int64 { return n.reconnects.Load() }

// Carried counts the events taken from notifications (no query of the log).
func (n *Notifier) Carried() int64 { return n.carriedN.Load() }

// Offered counts the events published from Offer (this instance's own appends).
func (n *Notifier) Offered() int64 { return n.offeredN.Load() }

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
	conn, err := n.store.session(ctx, ListenerApplicationName, 5*time.Second)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer hangUp(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return false, fmt.Errorf("listen %q: %w", Channel, err)
	}
	if err := n.checkPosition(ctx); err != nil {
		return false, err
	}
	if _, err := n.catchUp(ctx); err != nil {
		return false, err
	}
	n.setConnected(true)
	n.logger.Info("listener connected", "channel", Channel, "last_event", n.Last(), "pid", conn.PgConn().PID())
	var doorbell int64 // the last notification's id: they come in commit order, so in id order
	for {
		waitCtx, cancel := context.WithTimeout(ctx, n.Idle)
		note, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping listener: %w", err)
			}
		case err != nil:
			return true, fmt.Errorf("wait for notification: %w", err)
		default:
			// Events the WAL capture's notification carries follow on from Last:
			// publish them without reading the log.
			if evs, ok := n.carried(ctx, conn, note); ok {
				if n.publishNext(evs, &n.carriedN) {
					doorbell = evs[0].ID
					continue
				}
				if len(evs) > 0 && evs[len(evs)-1].ID <= n.Last() {
					continue // read already (or offered by this instance's capture)
				}
				// Not the next ones (a gap in ids, or one missed): read the log.
			}
			// The payload is the first event id of a committed transaction. If we have
			// read past it we have read the whole transaction: nothing to do, unless it
			// is below an earlier one: then the log's ids went backwards.
			id, perr := strconv.ParseInt(note.Payload, 10, 64)
			if perr == nil && id > n.Last() && note.PID != 0 && note.PID == n.capturePID.Load() {
				// This instance's own append: its capture hands the events over (built
				// as the log holds them) rather than have them read back.
				n.awaitHandOver(ctx, id)
			}
			if perr == nil && id <= n.Last() {
				backwards := id <= doorbell
				doorbell = id
				if backwards {
					if err := n.checkPosition(ctx); err != nil {
						return true, err
					}
				}
				continue
			} else if perr == nil {
				doorbell = id
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
	n.pub.Lock()
	defer n.pub.Unlock()
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

// reset moves Last to id and publishes a reset event there.
func (n *Notifier) reset(id int64, reason string) {
	n.last.Store(id)
	n.publish([]Event{{ID: id, Name: "reset", Payload: []byte(`{"reason":"` + reason + `"}`), CreatedAt: time.Now()}})
}

// catchUp publishes every event after Last, a batch (bounded in rows and in bytes) per
// query, and reports how many it read.
func (n *Notifier) catchUp(ctx context.Context) (read int, err error) {
	n.pub.Lock()
	defer n.pub.Unlock()
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

// publishNext publishes evs if they follow on from Last, counting them in counter.
func (n *Notifier) publishNext(evs []Event, counter *atomic.Int64) bool {
	n.pub.Lock()
	defer n.pub.Unlock()
	return n.publishNextLocked(evs, counter)
}

func (n *Notifier) publishNextLocked(evs []Event, counter *atomic.Int64) bool {
	if len(evs) == 0 || evs[0].ID != n.Last()+1 {
		return false
	}
	n.last.Store(evs[len(evs)-1].ID)
	n.fetched.Add(int64(len(evs)))
	counter.Add(int64(len(evs)))
	n.publish(evs)
	return true
}

// captureSession records the apply session of this instance's WAL capture (0: none
// now), whose notifications handOver answers.
func (n *Notifier) captureSession(pid uint32) {
	n.capturePID.Store(pid)
	n.handMu.Lock()
	defer n.handMu.Unlock()
	close(n.handCh)
	n.handCh = make(chan struct{})
}

// handOver takes one of this instance's own committed appends, through id through:
// the events themselves when the capture built them all (exactly as the log holds
// them), else the text of its notification (which tickerboard_capture_append also
// returns). It publishes what follows on from Last, so the instance that captures
// neither waits for its NOTIFY to come back through Postgres nor reads back what it
// has just written. Whatever it leaves, the notification or the log delivers as
// before; what it took, they skip as read.
func (n *Notifier) handOver(built []Event, note string, through int64) {
	switch {
	case built != nil:
		n.pub.Lock()
		n.publishNextLocked(built, &n.offeredN)
		n.pub.Unlock()
	case len(note) > 0 && note[0] == '[':
		if evs, ok := parseCarried(note); ok && n.pub.TryLock() {
			n.publishNextLocked(evs, &n.offeredN)
			n.pub.Unlock()
		}
	}
	n.handMu.Lock()
	defer n.handMu.Unlock()
	n.handed = max(n.handed, through)
	close(n.handCh)
	n.handCh = make(chan struct{})
}

// handOverWait bounds how long a notification of this instance's own append waits for
// the capture to hand it over (it is handed over as the append returns; this is for
// an append whose answer was lost with its connection).
const handOverWait = time.Second

// awaitHandOver waits until this instance's capture has handed over the append whose
// events start at id, its session has changed, or handOverWait has passed.
func (n *Notifier) awaitHandOver(ctx context.Context, id int64) {
	pid := n.capturePID.Load()
	timeout := time.NewTimer(handOverWait)
	defer timeout.Stop()
	for {
		n.handMu.Lock()
		handed, ch := n.handed, n.handCh
		n.handMu.Unlock()
		if handed >= id || n.capturePID.Load() != pid {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

const maxEventID = int64(^uint64(0) >> 1)

// carriedEvent is one event as the capture's append's notification carries it.
type carriedEvent struct {
	ID        int64           `json:"id"`
	Event     string          `json:"event"`
	Key       string          `json:"key"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
	Xid       uint64          `json:"xid"`
}

// carried returns the events a notification carries (a JSON array, in id order), if
// it carries any and was sent by the session holding the capture lock: anyone may
// NOTIFY on the channel, and a forged event must never reach a viewer. Anything else
// (a doorbell, a stranger's notification, an event this cannot hold) is not carried:
// the caller reads the log instead.
func (n *Notifier) carried(ctx context.Context, conn *pgx.Conn, note *pgconn.Notification) ([]Event, bool) {
	if len(note.Payload) == 0 || note.Payload[0] != '[' || !n.trust.holds(ctx, conn, note.PID) {
		return nil, false
	}
	return parseCarried(note.Payload)
}

// parseCarried reads the events of a notification's JSON array, which must be in id
// order without gaps.
func parseCarried(payload string) ([]Event, bool) {
	var rows []carriedEvent
	if err := json.Unmarshal([]byte(payload), &rows); err != nil {
		return nil, false
	}
	evs := make([]Event, len(rows))
	for i, r := range rows {
		if i > 0 && r.ID != rows[i-1].ID+1 {
			return nil, false
		}
		evs[i] = Event{ID: r.ID, Name: r.Event, Key: r.Key, Payload: r.Payload, CreatedAt: r.CreatedAt, Xid: r.Xid}
	}
	return evs, true
}

// trustCache remembers which session holds the capture lock, checked again at most
// every trustFor, and which do not (so a stranger's flood costs one check per pid per
// trustFor, not one per notification).
type trustCache struct {
	holder    uint32
	checked   time.Time
	strangers map[uint32]time.Time
}

const trustFor = 5 * time.Second

// holds reports whether pid holds the capture lock, asking Postgres on conn when it
// does not know.
func (c *trustCache) holds(ctx context.Context, conn *pgx.Conn, pid uint32) bool {
	now := time.Now()
	if pid == c.holder && now.Sub(c.checked) < trustFor {
		return true
	}
	if at, ok := c.strangers[pid]; ok && now.Sub(at) < trustFor {
		return false
	}
	var holder uint32
	err := conn.QueryRow(ctx, captureHolderSQL, captureHolderArgs...).Scan(&holder)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	if holder == pid {
		c.holder, c.checked = pid, now
		return true
	}
	if c.strangers == nil || len(c.strangers) > 64 {
		c.strangers = map[uint32]time.Time{}
	}
	c.strangers[pid] = now
	return false
}
