package store_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// Of two instances on one database exactly one leads; when it stops, the other takes
// over.
func TestLeaderFailover(t *testing.T) {
	st, _ := testdb.Open(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	type instance struct {
		leader *store.Leader
		cancel context.CancelFunc
		done   chan struct{}
	}
	started := make(chan int, 2) // which instance began to lead
	start := func(i int) *instance {
		l := store.NewLeader(st, logger)
		l.Retry = 50 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		in := &instance{leader: l, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(in.done)
			l.Run(ctx, func(ctx context.Context) error {
				started <- i
				<-ctx.Done()
				return nil
			})
		}()
		return in
	}
	a, b := start(0), start(1)
	defer func() {
		for _, in := range []*instance{a, b} {
			in.cancel()
			<-in.done
		}
	}()
	first := <-started
	ins := []*instance{a, b}
	if !ins[first].leader.Leading() || ins[1-first].leader.Leading() {
		t.Fatalf("after election: leading = %t, %t; want exactly instance %d", a.leader.Leading(), b.leader.Leading(), first)
	}
	ins[first].cancel()
	<-ins[first].done
	select {
	case second := <-started:
		if second != 1-first {
			t.Fatalf("instance %d led again after it stopped", second)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no instance took over after the leader stopped")
	}
	if !ins[1-first].leader.Leading() {
		t.Fatal("the new leader does not report Leading()")
	}
}
