package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one row of the change log: a committed change to a quote (Name "price"),
// a game ("score") or a scoring play ("play"), or a "reset" after a TRUNCATE.
// Payload is the row as JSON, exactly as the triggers wrote it.
type Event struct {
	ID        int64     `db:"id"`
	Name      string    `db:"event"`
	Key       string    `db:"key"` // the symbol for price, the game id for score and play
	Payload   []byte    `db:"payload"`
	CreatedAt time.Time `db:"created_at"`
}

// Position is where the change log stands: events up to Pruned are gone, Head is the
// newest id (or Pruned when the log is empty).
type Position struct {
	Pruned int64
	Head   int64
}

const positionSQL = `SELECT (SELECT through FROM events_pruned),
	greatest((SELECT coalesce(max(id), 0) FROM events), (SELECT through FROM events_pruned))`

// Position reads the log's bounds in one snapshot.
func (s *Store) Position(ctx context.Context) (Position, error) {
	var p Position
	if err := s.pool.QueryRow(ctx, positionSQL).Scan(&p.Pruned, &p.Head); err != nil {
		return p, fmt.Errorf("read event log position: %w", err)
	}
	return p, nil
}

// EventsAfter returns up to limit events with after < id <= through, oldest first.
// Because event ids become visible in id order (see migrations), a reader that keeps
// calling EventsAfter with the last id it saw never skips a committed event.
func (s *Store) EventsAfter(ctx context.Context, after, through int64, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, event, key, payload, created_at FROM events
		WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, after, through, limit)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	events, err := pgx.CollectRows(rows, pgx.RowToStructByName[Event])
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return events, nil
}

// Prune deletes events and price ticks older than retention, recording how far the
// log was cut so resuming clients can tell a gap from a quiet spell.
func (s *Store) Prune(ctx context.Context, retention time.Duration) (events, ticks int64, err error) {
	cutoff := time.Now().Add(-retention)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var through *int64
		if err := tx.QueryRow(ctx, `SELECT max(id) FROM events WHERE created_at < $1`, cutoff).Scan(&through); err != nil {
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
		tag, err := tx.Exec(ctx, `DELETE FROM price_ticks WHERE ts < $1`, cutoff)
		ticks = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune events older than %s: %w", retention, err)
	}
	return events, ticks, nil
}
