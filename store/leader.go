package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// LeaderLockKey is the advisory lock that elects the one instance running the feeds
// and retention pruning.
const LeaderLockKey = 7294615230472

// Leader elects one instance of many with a session-level Postgres advisory lock held
// on a dedicated connection. The lock dies with its session, so when the leading
// instance dies or loses the database, another takes over within Retry.
type Leader struct {
	store  *Store
	logger *slog.Logger
	// Retry is how often a follower tries to take the lock, and how often the leader
	// checks that its session is alive.
	Retry   time.Duration
	leading atomic.Bool
}

// NewLeader returns a Leader; call Run to take part in the election.
func NewLeader(s *Store, logger *slog.Logger) *Leader {
	return &Leader{store: s, logger: logger, Retry: time.Second}
}

// Leading reports whether this instance holds the lock now.
func (l *Leader) Leading() bool { return l.leading.Load() }

// Run takes part in the election until ctx ends. While this instance leads, lead runs
// with a context that is cancelled as soon as leadership is lost; Run waits for lead to
// return before it tries again.
func (l *Leader) Run(ctx context.Context, lead func(context.Context) error) error {
	for {
		if err := l.term(ctx, lead); err != nil && ctx.Err() == nil {
			l.logger.Warn("leader election", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.Retry):
		}
	}
}

// term connects, tries the lock, and if it gets it leads until the session or lead ends.
func (l *Leader) term(ctx context.Context, lead func(context.Context) error) error {
	connectCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(connectCtx, l.store.ConnConfig())
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx) // ends the session, which releases the lock
	}()
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", LeaderLockKey).Scan(&got); err != nil {
			return fmt.Errorf("try leader lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.Retry):
		}
	}

	l.leading.Store(true)
	defer l.leading.Store(false)
	l.logger.Info("leading: this instance runs the feeds and pruning", "pid", conn.PgConn().PID())
	leadCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- lead(leadCtx) }()
	defer func() {
		stop()
		<-done
		l.logger.Info("no longer leading")
	}()
	tick := time.NewTicker(l.Retry)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			return fmt.Errorf("leader work ended: %w", err)
		case <-ctx.Done():
			return nil
		case <-tick.C:
			pingCtx, cancel := context.WithTimeout(ctx, l.Retry)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("leader session lost: %w", err)
			}
		}
	}
}
