package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CaptureChannel is the doorbell writers ring, once per transaction that changed the
// board, with their transaction id as the payload. Whoever hears it ticks (see
// migrations/000003), unless a tick it knows of already covered that transaction.
const CaptureChannel = "tickerboard_capture"

// covered is what the newest known tick's snapshot saw: every transaction below xmax
// and not in xip had committed (or aborted) by then, so its events are in the log.
// A doorbell comes only after its writer committed, so a doorbell's transaction is
// covered exactly when the snapshot does not list it as running.
type covered struct {
	xmax uint64
	xip  map[uint64]bool
}

// parseSnapshot reads pg_snapshot's text form, xmin:xmax:xip1,xip2,…
func parseSnapshot(s string) (covered, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return covered{}, fmt.Errorf("snapshot %q: want xmin:xmax:xip", s)
	}
	if _, err := strconv.ParseUint(parts[0], 10, 64); err != nil {
		return covered{}, fmt.Errorf("snapshot %q: xmin: %w", s, err)
	}
	xmax, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return covered{}, fmt.Errorf("snapshot %q: xmax: %w", s, err)
	}
	c := covered{xmax: xmax}
	if parts[2] != "" {
		c.xip = make(map[uint64]bool)
		for _, x := range strings.Split(parts[2], ",") {
			id, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return covered{}, fmt.Errorf("snapshot %q: xip: %w", s, err)
			}
			c.xip[id] = true
		}
	}
	return c, nil
}

// covers reports whether the tick had seen txid's commit.
func (c covered) covers(txid uint64) bool { return txid < c.xmax && !c.xip[txid] }

// later keeps whichever of two snapshots is newer (ticks commit one at a time, so a
// higher xmax is a later tick).
func (c covered) later(o covered) covered {
	if o.xmax > c.xmax {
		return o
	}
	return c
}

// TickLockWait is how long a tick, or a snapshot that must tick, waits for the tick
// lock before it gives up (the migration sets the same on the tick itself).
const TickLockWait = 5 * time.Second

// tickSQL moves every committed event from the capture queue into the log.
const tickSQL = `SELECT coalesce(first_id, 0), snapshot FROM tickerboard_tick()`

// tick runs one tick on conn and returns what it covered.
func tick(ctx context.Context, conn *pgx.Conn) (first int64, c covered, err error) {
	var snap string
	if err := conn.QueryRow(ctx, tickSQL).Scan(&first, &snap); err != nil {
		return 0, covered{}, fmt.Errorf("tick: %w", err)
	}
	c, err = parseSnapshot(snap)
	return first, c, err
}

// tickIfQueued ticks when the capture queue holds committed events, and does nothing
// (takes no lock, writes nothing) when it is empty. When the tick lock is held past
// its bound the log is read as it stands: consistent, only not up to date, which is
// what every reader sees while a session holds that lock.
func (s *Store) tickIfQueued(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `SELECT tickerboard_tick() WHERE EXISTS (SELECT 1 FROM events_queue)`)
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == lockNotAvailable) {
		return fmt.Errorf("tick: %w", err)
	}
	return nil
}

// lockNotAvailable is the SQLSTATE of a tick that waited out its lock_timeout.
const lockNotAvailable = "55P03"

// Tick moves every committed event from the capture queue into the log now and
// returns the first id it gave out (0 when there was nothing to move). The notifier
// ticks by itself; tests and tools that read the log without one call this.
func (s *Store) Tick(ctx context.Context) (int64, error) {
	var first int64
	var snap string
	if err := s.pool.QueryRow(ctx, tickSQL).Scan(&first, &snap); err != nil {
		return 0, fmt.Errorf("tick: %w", err)
	}
	return first, nil
}

// carriedEvent is an event as a tick's notification carries it.
type carriedEvent struct {
	ID        int64           `json:"id"`
	Name      string          `json:"event"`
	Key       string          `json:"key"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

// tickNote is a tick's notification: "first-id snapshot signature", then, when they
// fit, a line with the tick's events as a JSON array.
type tickNote struct {
	first   int64
	covered covered // zero unless the signature checks out
	events  []Event // nil when they did not fit, or the signature does not check out
}

// parseTickNote reads a tick's notification. Any session may NOTIFY on the channel, so
// only a note signed with key (see migrations/000003) is believed beyond its first id:
// a forged snapshot could make listeners skip ticks, forged events would reach every
// viewer. Anything else (an older capture's bare id, a hand-made NOTIFY) is a doorbell
// at most: ok is false when not even a first id is there.
func parseTickNote(payload string, key []byte) (n tickNote, ok bool) {
	head, body, hasBody := strings.Cut(payload, "\n")
	fields := strings.Fields(head)
	if len(fields) == 0 {
		return tickNote{}, false
	}
	first, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return tickNote{}, false
	}
	n.first = first
	if len(fields) != 3 || len(key) == 0 {
		return n, true
	}
	signed := fields[0] + " " + fields[1]
	if hasBody {
		signed += "\n" + body
	}
	if !hmac.Equal([]byte(fields[2]), []byte(signTick(key, signed))) {
		return n, true
	}
	if c, err := parseSnapshot(fields[1]); err == nil {
		n.covered = c
	}
	if !hasBody {
		return n, true
	}
	var carried []carriedEvent
	if err := json.Unmarshal([]byte(body), &carried); err != nil || len(carried) == 0 {
		return n, true
	}
	events := make([]Event, len(carried))
	for i, c := range carried {
		if c.ID != first+int64(i) { // not the contiguous run a tick gives out: read the log
			return n, true
		}
		events[i] = Event{ID: c.ID, Name: c.Name, Key: c.Key, Payload: c.Payload, CreatedAt: c.CreatedAt}
	}
	n.events = events
	return n, true
}

// signTick is the signature ticks_sequence puts on a notification:
// hex(sha256(key || sha256(key || text))).
func signTick(key []byte, text string) string {
	inner := sha256.Sum256(append(append([]byte(nil), key...), text...))
	outer := sha256.Sum256(append(append([]byte(nil), key...), inner[:]...))
	return hex.EncodeToString(outer[:])
}

// tickKeySQL reads the key ticks sign with (only the owner may).
const tickKeySQL = `SELECT key FROM tick_key`
