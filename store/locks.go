package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrderingLockKey is the tick lock (migrations/000003): a tick holds it while it moves
// committed events from the capture queue into the log, so ids become visible in
// commit order. Writers never take it; a session that holds it stalls delivery (not
// writes) until it lets go. /metrics still calls it "ordering".
const OrderingLockKey = 7294615230471

// LockTimeout bounds the query behind Locks: it runs at scrape time, and a slow
// database must not hang /metrics.
const LockTimeout = time.Second

// LockHolder is one session that holds or waits for the ordering or the leader lock.
type LockHolder struct {
	Lock        string // "ordering" or "leader"
	PID         int32
	Application string // its application_name; Tickerboard's own start with "tickerboard"
	Granted     bool   // holds the lock; false: waits for it
	// For is how long: for a holder, the age of its open transaction, or of its session
	// when it is idle outside one (an upper bound on how long it has held the lock);
	// for a waiter, how long its current statement has been running.
	For time.Duration
}

// IsTickerboard reports whether an application_name is one of Tickerboard's.
func IsTickerboard(application string) bool { return strings.HasPrefix(application, "tickerboard") }

// An advisory lock on a bigint key shows in pg_locks as classid = its high 32 bits,
// objid = its low 32 bits, objsubid = 1.
const locksQuery = `
SELECT CASE l.objid::bigint WHEN $2 THEN 'ordering' ELSE 'leader' END AS lock,
       l.pid, coalesce(a.application_name, '') AS application, l.granted,
       extract(epoch FROM now() - CASE WHEN l.granted THEN coalesce(a.xact_start, a.backend_start)
                                       ELSE coalesce(a.query_start, a.state_change) END)::float8 AS seconds
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = $1 AND l.objid::bigint IN ($2, $3)
ORDER BY lock, l.granted DESC, seconds DESC`

// Locks lists who holds or waits for the ordering and leader locks, within LockTimeout.
func (s *Store) Locks(ctx context.Context) ([]LockHolder, error) {
	ctx, cancel := context.WithTimeout(ctx, LockTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, locksQuery, int64(OrderingLockKey>>32),
		int64(OrderingLockKey&0xffffffff), int64(LeaderLockKey&0xffffffff))
	if err != nil {
		return nil, fmt.Errorf("query lock holders: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LockHolder, error) {
		var h LockHolder
		var secs float64
		err := row.Scan(&h.Lock, &h.PID, &h.Application, &h.Granted, &secs)
		h.For = time.Duration(secs * float64(time.Second))
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("read lock holders: %w", err)
	}
	return out, nil
}

// LockWatch is Locks for /metrics: a failing query is logged when it starts and stops
// failing, not at every scrape.
type LockWatch struct {
	store   *Store
	logger  *slog.Logger
	mu      sync.Mutex
	failing bool
}

// NewLockWatch returns a LockWatch over s.
func NewLockWatch(s *Store, logger *slog.Logger) *LockWatch {
	return &LockWatch{store: s, logger: logger}
}

// Holders is Store.Locks, logging state changes.
func (w *LockWatch) Holders(ctx context.Context) ([]LockHolder, error) {
	hs, err := w.store.Locks(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err != nil && !w.failing:
		w.logger.Warn("lock metrics unavailable", "err", err)
	case err == nil && w.failing:
		w.logger.Info("lock metrics available again")
	}
	w.failing = err != nil
	return hs, err
}
