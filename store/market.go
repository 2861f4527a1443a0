package store

import (
	"context"
	"fmt"
	"time"
)

// MarketSession is what the price feed says of the market: "pre-open", "open" or
// "closed", and the bounds of the current (or, when not open, the next) session.
type MarketSession struct {
	Session           string
	OpensAt, ClosesAt time.Time
	// NewDay counts a new trading day (the market table's day goes up by one).
	NewDay bool
}

// SetMarket writes the market's one row, so the change reaches viewers as a `market`
// event. The row is made by migration 000003; if someone deleted it, it is made again.
func (s *Store) SetMarket(ctx context.Context, m MarketSession) error {
	tag, err := s.pool.Exec(ctx, `UPDATE market SET session = $1, opens_at = $2, closes_at = $3,
		day = greatest(day + CASE WHEN $4::boolean THEN 1 ELSE 0 END, 1)`, m.Session, m.OpensAt, m.ClosesAt, m.NewDay)
	if err == nil && tag.RowsAffected() == 0 {
		_, err = s.pool.Exec(ctx, `INSERT INTO market (session, opens_at, closes_at, day) VALUES ($1, $2, $3, 1)
			ON CONFLICT (id) DO NOTHING`, m.Session, m.OpensAt, m.ClosesAt)
	}
	if err != nil {
		return fmt.Errorf("set market %s: %w", m.Session, err)
	}
	return nil
}
