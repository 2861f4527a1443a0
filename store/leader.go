package store

import (
	"context"
	"errors"
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
// instance dies or loses the database, another takes over within Retry. The leader
// learns its session is gone as soon as the socket says so (it waits in a read), and
// stops leading before it stops its work.
type Leader struct {
	store  *Store
	logger *slog.Logger
	// Retry is how often a follower tries to take the lock, and how often the leader
	// checks that its session is alive.
	Retry time.Duration
	// WarnForeignAfter is how long a session that is not a Tickerboard instance may
	// hold the leader lock before a follower warns that no instance runs the feeds.
	WarnForeignAfter time.Duration
	leading          atomic.Bool
}

// NewLeader returns a Leader; call Run to take part in the election.
func NewLeader(s *Store, logger *slog.Logger) *Leader {
	return &Leader{store: s, logger: logger, Retry: time.Second, WarnForeignAfter: 10 * time.Second}
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

// LeaderApplicationName marks the Leader's lock session in pg_stat_activity.
const LeaderApplicationName = "tickerboard-leader"

// term connects, tries the lock, and if it gets it leads until the session or lead ends.
func (l *Leader) term(ctx context.Context, lead func(context.Context) error) error {
	conn, err := l.store.session(ctx, LeaderApplicationName, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer hangUp(conn) // ends the session, which releases the lock
	var warned int32   // the foreign holder last warned about
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", LeaderLockKey).Scan(&got); err != nil {
			return fmt.Errorf("try leader lock: %w", err)
		}
		if got {
			break
		}
		warned = l.checkHolder(ctx, warned)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.Retry):
		}
	}
	// The session waits in a read, so its end (pg_terminate_backend, a lost
	// connection) ends the term at once rather than at the next ping. Nobody notifies
	// this channel; it only gives the session something to wait on.
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{fmt.Sprintf("tickerboard_leader_%d", conn.PgConn().PID())}.Sanitize()); err != nil {
		return fmt.Errorf("listen on the leader session: %w", err)
	}

	l.leading.Store(true)
	defer l.leading.Store(false)
	l.logger.Info("leading: this instance runs the feeds and pruning", "pid", conn.PgConn().PID())
	leadCtx, stop := context.WithCancel(ctx)
	session, endSession := context.WithCancel(ctx)
	defer endSession()
	done := make(chan error, 1)
	go func() {
		done <- lead(leadCtx)
		endSession() // wake the wait below
	}()
	defer func() {
		l.leading.Store(false) // before lead's wait: the lock is, or is about to be, gone
		stop()
		<-done
		l.logger.Info("no longer leading")
	}()
	for {
		waitCtx, cancel := context.WithTimeout(session, l.Retry)
		_, err := conn.WaitForNotification(waitCtx)
		cancel()
		select {
		case err := <-done:
			done <- err // for the deferred wait
			return fmt.Errorf("leader work ended: %w", err)
		default:
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil: // a stray NOTIFY on our channel
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, l.Retry)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("leader session lost: %w", err)
			}
		default:
			return fmt.Errorf("leader session lost: %w", err)
		}
	}
}

// checkHolder warns, once per session, when the leader lock is held by something that
// is not a Tickerboard instance (someone ran pg_advisory_lock by hand): then no
// instance runs the feeds. It returns the pid last warned about.
func (l *Leader) checkHolder(ctx context.Context, warned int32) int32 {
	hs, err := l.store.Locks(ctx)
	if err != nil {
		return warned
	}
	for _, h := range hs {
		if h.Lock == "leader" && h.Granted && !IsTickerboard(h.Application) && h.For >= l.WarnForeignAfter && h.PID != warned {
			l.logger.Warn(fmt.Sprintf("leader lock held by pid %d (application %q) for %s; no instance runs the feeds",
				h.PID, h.Application, h.For.Round(time.Second)), "pid", h.PID, "application", h.Application)
			return h.PID
		}
	}
	return warned
}
