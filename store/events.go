package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one row of the change log: a committed change to a quote (Name "price"),
// a game ("score") or a scoring play ("play"), or a "reset" after a TRUNCATE.
// Payload is the row as JSON, exactly as the triggers wrote it. The log is input like
// any other: whoever reads it checks an event before sending it on.
type Event struct {
	ID        int64     `db:"id"`
	Name      string    `db:"event"`
	Key       string    `db:"key"` // the symbol for price, the game id for score and play
	Payload   []byte    `db:"payload"`
	CreatedAt time.Time `db:"created_at"` // zero when the row's time is not finite (±infinity)
	// Xid is the writer's transaction when the WAL capture wrote the event (so a
	// Snapshot's Visible tells whether the snapshot already shows it), 0 when the
	// triggers did. Not scanned by name: a query of the log's other columns still
	// fills an Event.
	Xid uint64 `db:"-"`
}

// eventRow is an Event as read, with a time that may be NULL (a time that was not
// finite: pgx cannot hold ±infinity in a time.Time).
type eventRow struct {
	ID        int64      `db:"id"`
	Name      string     `db:"event"`
	Key       string     `db:"key"`
	Payload   []byte     `db:"payload"`
	CreatedAt *time.Time `db:"created_at"`
	Xid       uint64     `db:"xid"`
}

// Position is where the change log stands: events up to Pruned are gone, Head is the
// newest id (or Pruned when the log is empty). Ids the log's sequence has not handed
// out yet (a row written with an id of its own, far ahead) are not in the log until it
// has: Ahead counts such rows, which no reader sees meanwhile.
type Position struct {
	Pruned int64
	Head   int64
	Ahead  int64
}

// issuedSQL is the highest id the events sequence has handed out. Every row the
// capture path writes has an id at or below it; rows above it were written with ids of
// their own, and reading them would make every later id look old.
// Without a sequence (another capture) there is no such bound.
const issuedSQL = `(SELECT CASE WHEN seq IS NULL THEN 9223372036854775807
	ELSE coalesce(pg_sequence_last_value(seq), 0) END
	FROM (SELECT pg_get_serial_sequence('events', 'id')::regclass AS seq) s)`

const positionSQL = `WITH issued AS (SELECT ` + issuedSQL + ` AS id)
	SELECT (SELECT through FROM events_pruned),
	greatest((SELECT coalesce(max(id), 0) FROM events WHERE id <= (SELECT id FROM issued)), (SELECT through FROM events_pruned)),
	(SELECT count(*) FROM events WHERE id > (SELECT id FROM issued))`

// Position reads the log's bounds in one snapshot.
func (s *Store) Position(ctx context.Context) (Position, error) {
	var p Position
	if err := s.pool.QueryRow(ctx, positionSQL).Scan(&p.Pruned, &p.Head, &p.Ahead); err != nil {
		return p, fmt.Errorf("read event log position: %w", err)
	}
	return p, nil
}

// MaxBatchBytes bounds the payload bytes one read of the log returns (besides its row
// limit), so a run of large events cannot make one batch hold hundreds of megabytes.
// A batch always has at least one event.
const MaxBatchBytes = 4 << 20

// eventsSQL reads a page of at most $3 rows after $1 through $2 (and at most the ids
// issued), then keeps the rows that start within $4 bytes of payload. size is what
// each row counted for: when the rows kept add up to less than $4, none was cut. A
// payload's size is its stored size unless it is stored compressed (only then is it
// measured as text, which costs more). xid is 0 for the triggers' events (NULL).
const eventsSQL = `SELECT id, event, key, payload, created_at, xid, size FROM (
	SELECT *, sum(size) OVER (ORDER BY id) - size AS before FROM (
		SELECT id, event, key, payload, CASE WHEN isfinite(created_at) THEN created_at END AS created_at,
			coalesce(xid, '0') AS xid,
			CASE WHEN pg_column_compression(payload) IS NULL THEN pg_column_size(payload)
				ELSE octet_length(payload::text) END AS size
		FROM events WHERE id > $1 AND id <= least($2, ` + issuedSQL + `) ORDER BY id LIMIT $3) rows) sized
	WHERE before < $4 ORDER BY id`

// EventsAfter returns up to limit events with after < id <= through, oldest first,
// and at most about MaxBatchBytes of them. Because event ids become visible in id
// order (see migrations), a reader that keeps calling EventsAfter with the last id it
// saw never skips a committed event.
func (s *Store) EventsAfter(ctx context.Context, after, through int64, limit int) ([]Event, error) {
	events, _, err := s.eventsAfter(ctx, after, through, limit)
	return events, err
}

// eventsAfter is EventsAfter, also reporting whether it stopped at a bound (the row
// limit or the byte cap) rather than at the end of the log.
func (s *Store) eventsAfter(ctx context.Context, after, through int64, limit int) (events []Event, more bool, err error) {
	rows, err := s.pool.Query(ctx, eventsSQL, after, through, limit, MaxBatchBytes)
	if err != nil {
		return nil, false, fmt.Errorf("read events after %d: %w", after, err)
	}
	type pageRow struct {
		eventRow
		Size int64 `db:"size"`
	}
	read, err := pgx.CollectRows(rows, pgx.RowToStructByName[pageRow])
	if err != nil {
		return nil, false, fmt.Errorf("read events after %d: %w", after, err)
	}
	events = make([]Event, len(read))
	var size int64
	for i, r := range read {
		size += r.Size
		events[i] = Event{ID: r.ID, Name: r.Name, Key: r.Key, Payload: r.Payload, Xid: r.Xid}
		if r.CreatedAt != nil {
			events[i].CreatedAt = *r.CreatedAt
		}
	}
	more = len(read) > 0 && (len(read) >= limit || size >= MaxBatchBytes)
	return events, more, nil
}

// pruneWalk is how many events pruneThrough reads per query.
const pruneWalk = 10000

// pruneThrough is the id of the last event before the first one, in id order, that is
// not older than cutoff (nil: none to cut). Each read takes the next pruneWalk events
// in id order and answers in one row: how many it read, the first young one's id, and
// the last id before it.
func pruneThrough(ctx context.Context, tx pgx.Tx, cutoff time.Time) (*int64, error) {
	var through *int64
	for {
		var after int64
		if through != nil {
			after = *through
		}
		var read int64
		var young, last *int64
		if err := tx.QueryRow(ctx, `WITH b AS (SELECT id, created_at < $2 AS old FROM events
				WHERE id > $1 AND id <= `+issuedSQL+` ORDER BY id LIMIT `+strconv.Itoa(pruneWalk)+`),
			y AS (SELECT min(id) AS id FROM b WHERE NOT old)
			SELECT (SELECT count(*) FROM b), y.id, (SELECT max(b.id) FROM b WHERE y.id IS NULL OR b.id < y.id) FROM y`,
			after, cutoff).Scan(&read, &young, &last); err != nil {
			return nil, err
		}
		if last != nil {
			through = last
		}
		if young != nil || read < pruneWalk {
			return through, nil
		}
	}
}

// Prune deletes events and price ticks older than retention, recording how far the
// log was cut so resuming clients can tell a gap from a quiet spell. It cuts the log
// before its first event (in id order) that is younger than retention, reading the
// log from the front in id order (it has no index on time): what it deletes, and at
// most pruneWalk events past it. Only issued ids count: a row numbered far ahead must
// not cut the whole log.
func (s *Store) Prune(ctx context.Context, retention time.Duration) (events, ticks int64, err error) {
	cutoff := time.Now().Add(-retention)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		through, err := pruneThrough(ctx, tx, cutoff)
		if err != nil {
			return err
		}
		if through != nil {
			if _, err := tx.Exec(ctx, `UPDATE events_pruned SET through = greatest(through, $1)`, *through); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM events WHERE id <= $1`, *through)
			if err != nil {
				return err
			}
			events = tag.RowsAffected()
		}
		// The ticks have no index on time: each symbol's old ticks go through the
		// (symbol, ts) index, the symbols found by skipping through it (one probe
		// each, tick-only symbols included).
		tag, err := tx.Exec(ctx, `WITH RECURSIVE s(symbol) AS (
				(SELECT symbol FROM price_ticks ORDER BY symbol LIMIT 1)
				UNION ALL
				SELECT (SELECT t.symbol FROM price_ticks t WHERE t.symbol > s.symbol ORDER BY t.symbol LIMIT 1)
				FROM s WHERE s.symbol IS NOT NULL)
			DELETE FROM price_ticks WHERE symbol = ANY (ARRAY(SELECT symbol FROM s WHERE symbol IS NOT NULL)) AND ts < $1`, cutoff)
		ticks = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune events older than %s: %w", retention, err)
	}
	return events, ticks, nil
}
