package feeds

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// follow tails the event log of s through a real Notifier and returns its events.
func follow(t *testing.T, s *store.Store) <-chan store.Event {
	t.Helper()
	ch := make(chan store.Event, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	n := store.NewNotifier(s, 0, func(events []store.Event) {
		for _, e := range events {
			ch <- e
		}
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ch
}

// await reads events until until returns true, failing the test after timeout.
func await(t *testing.T, events <-chan store.Event, timeout time.Duration, what string, until func(store.Event) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-events:
			if until(e) {
				return
			}
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// runFeeds starts Run and returns a function that stops it and waits for it, checking
// that it returned nil and left no goroutine behind.
func runFeeds(t *testing.T, s *store.Store, o Options, logger *slog.Logger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, s, o, logger) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		checkNoFeedGoroutines(t)
	}
	t.Cleanup(stop)
	return stop
}

// checkNoFeedGoroutines fails if a goroutine that Run started is still running.
func checkNoFeedGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("feeds.supervise")) || bytes.Contains(g, []byte("created by github.com/tickerboard/tickerboard/feeds.Run")) {
			t.Errorf("goroutine left behind by Run:\n%s", g)
		}
	}
}

// logs is a slog handler's output that tests can read while feeds write to it.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// problems returns the lines logged at WARN or ERROR.
func (l *logs) problems() []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out = append(out, line)
		}
	}
	return out
}

func newLogger() (*slog.Logger, *logs) {
	l := &logs{}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), l
}
