package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
	"github.com/tickerboard/tickerboard/store"
)

// awaitMetric polls /metrics until ok(value) holds, failing after bound: a counter has
// no channel to wait on.
func (e *faultEnv) awaitMetric(t *testing.T, name string, bound time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		v := e.metric(t, name)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %s", name, v, bound)
		}
		time.Sleep(10 * time.Millisecond) // a counter to poll; nothing to await
	}
}

// next reads one event from r, failing if none comes within bound.
func nextWithin(t *testing.T, conn net.Conn, r *sse.Reader, bound time.Duration) sse.Event {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(bound))
	ev, err := r.Next()
	if err != nil {
		t.Fatalf("no event within %s: %v", bound, err)
	}
	return ev
}

// heartbeatsFor reads heartbeats for at least span, each within bound of the last,
// failing on anything else: a parked stream that is idle says only that it is alive.
func heartbeatsFor(t *testing.T, conn net.Conn, r *sse.Reader, span, bound time.Duration) int {
	t.Helper()
	start := time.Now()
	n := 0
	for time.Since(start) < span {
		ev := nextWithin(t, conn, r, bound)
		if ev.Name != "heartbeat" {
			t.Fatalf("idle stream sent %s %s, want heartbeats only", ev.Name, ev.ID)
		}
		n++
	}
	return n
}

// The life of a parked stream: it hears heartbeats while idle (the workers send them,
// there is no goroutine of its own to); when its socket fills it leaves to drain, and
// comes back parked; and a write deadline left by the handler's or the drain's blocking
// writes never fails the workers' non-blocking writes afterwards.
func TestParkedStreamLife(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("streams park on Linux only")
	}
	cfg := unconflated()
	cfg.Heartbeat = 100 * time.Millisecond
	cfg.WriteTimeout = 3 * time.Second // the stalled reader below resumes within it
	e := newFaultEnv(t, 4096, cfg)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100)`)
	conn, resp := e.stall(t)
	r := sse.NewReader(resp.Body)
	if ev := nextWithin(t, conn, r, 10*time.Second); ev.Name != "snapshot" {
		t.Fatalf("stream began with %s", ev.Name)
	}
	e.awaitMetric(t, "tickerboard_streams_parked", 10*time.Second, func(v float64) bool { return v == 1 })
	// Past the write timeout of the snapshot's blocking write: still heartbeats.
	heartbeatsFor(t, conn, r, cfg.WriteTimeout+500*time.Millisecond, 2*time.Second)

	// More than its socket holds, while it reads nothing: it leaves to drain.
	from := e.head(t)
	emitRaw(t, e.db, `SELECT 'price', 'PAD' || i, jsonb_build_object('symbol', 'PAD' || i, 'name', repeat('p', 15000))
		FROM generate_series(1, 200) i`)
	head := e.head(t)
	e.awaitMetric(t, "tickerboard_stream_drains_total", 20*time.Second, func(v float64) bool { return v >= 1 })
	got := 0
	for want := from + 1; want <= head; {
		ev := nextWithin(t, conn, r, 10*time.Second)
		if ev.Name == "heartbeat" {
			continue
		}
		if id := eventID(ev); id != want {
			t.Fatalf("after the drain: %s %s, want event %d", ev.Name, ev.ID, want)
		}
		want++
		got++
	}
	e.awaitMetric(t, "tickerboard_streams_parked", 10*time.Second, func(v float64) bool { return v == 1 })
	// Parked again, past the drain's write deadline: heartbeats, then the next change.
	heartbeatsFor(t, conn, r, cfg.WriteTimeout+500*time.Millisecond, 2*time.Second)
	testdb.Exec(t, e.db, `UPDATE quotes SET price = 101 WHERE symbol = 'AAPL'`)
	for {
		ev := nextWithin(t, conn, r, 10*time.Second)
		if ev.Name == "price" {
			if !strings.Contains(ev.Data, "AAPL") {
				t.Fatalf("re-parked stream got price %s", ev.Data)
			}
			break
		}
		if ev.Name != "heartbeat" {
			t.Fatalf("re-parked stream got %s %s", ev.Name, ev.ID)
		}
	}
	t.Logf("drained %d events and re-parked", got)
}

// Idle viewers cost no goroutine: once they have their snapshot, the goroutine count
// comes back to about where it was before they connected.
func TestIdleViewersHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("streams park on Linux only")
	}
	e := newFaultEnv(t, 1024, hub.DefaultStreamConfig)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100)`)
	// One viewer first, so the engine's own goroutines are counted in the base.
	first, firstResp := e.stall(t)
	if ev := nextWithin(t, first, sse.NewReader(firstResp.Body), 10*time.Second); ev.Name != "snapshot" {
		t.Fatalf("stream began with %s", ev.Name)
	}
	e.awaitMetric(t, "tickerboard_streams_parked", 10*time.Second, func(v float64) bool { return v == 1 })
	base := runtime.NumGoroutine()
	const viewers = 200
	for range viewers {
		conn, resp := e.stall(t)
		if ev := nextWithin(t, conn, sse.NewReader(resp.Body), 10*time.Second); ev.Name != "snapshot" {
			t.Fatalf("stream began with %s", ev.Name)
		}
	}
	e.awaitMetric(t, "tickerboard_streams_parked", 10*time.Second, func(v float64) bool { return v == viewers+1 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n-base < viewers/10 {
			t.Logf("%d idle viewers: %d goroutines, %d before them", viewers, n, base)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle viewers hold %d goroutines (%d before them)", viewers, n, base)
		}
		time.Sleep(10 * time.Millisecond) // a count to poll; nothing to await
	}
}

// The notifier catches up after every reconnect, before it waits: a change committed
// while it could not hear reaches viewers with no later write to ring the doorbell and
// no idle poll to find it.
func TestFaultCatchUpAfterReconnectWithNoLaterWrite(t *testing.T) {
	e := newFaultEnvWith(t, 1024, unconflated(), func(n *store.Notifier) { n.Idle = time.Hour })
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100)`)
	v := e.watch(t, "", "")
	v.awaitCount(1)
	e.proxy.Cut()
	e.awaitListening(t, false)
	testdb.Exec(t, e.db, `UPDATE quotes SET price = 101 WHERE symbol = 'AAPL'`)
	head := e.head(t)
	e.proxy.Restore()
	e.awaitListening(t, true)
	deadline := time.After(10 * time.Second)
	for {
		v.mu.Lock()
		evs, changed := v.events, v.changed
		v.mu.Unlock()
		if len(evs) > 0 && eventID(evs[len(evs)-1]) >= head {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the change made while deaf (event %d) did not arrive within 10s of the reconnect", head)
		}
	}
}

// failingBoard is a database that fails every read with an error naming internals.
type failingBoard struct{ api.Board }

var errInternals = errors.New(`pq: relation "secret_table" at 10.0.0.5:5432 password=hunter2`)

func (failingBoard) QuotesJSON(context.Context) ([]byte, error) { return nil, errInternals }
func (failingBoard) GamesJSON(context.Context) ([]byte, error)  { return nil, errInternals }
func (failingBoard) GameJSON(context.Context, int64) ([]byte, error) {
	return nil, fmt.Errorf("load game: %w", errInternals)
}

// A failure the client did not cause is a 500 that says "internal error" and nothing
// more: the error, with its hosts and names, goes to the log only.
func TestInternalErrorSaysOnlyThat(t *testing.T) {
	var log lockedLog
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Board:  failingBoard{},
		Static: fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}},
		Hub:    hub.New(0, 16),
		Logger: slogTo(&log),
	}))
	defer srv.Close()
	for _, path := range []string{"/api/quotes", "/api/games", "/api/games/7"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || strings.TrimSpace(string(body)) != `{"error":"internal error"}` {
			t.Errorf("GET %s: %d %s, want 500 {\"error\":\"internal error\"}", path, resp.StatusCode, body)
		}
	}
	if !strings.Contains(log.String(), "secret_table") {
		t.Errorf("the log does not have the error: %q", log.String())
	}
}

// lockedLog is a log a test reads while handlers may still write to it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func slogTo(l *lockedLog) *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// A viewer that keeps up gets every event, in order, on every path a stream can take:
// parked (HTTP/1.1 on Linux), the portable path (a goroutine per stream, as off Linux),
// and HTTP/2 without TLS, which never parks. Each burst is one transaction of 1,000
// changes to 10 quotes, far over ConflateAt, so a path that conflated a viewer for
// reading a big batch would show it.
func TestEveryPathDeliversEveryEvent(t *testing.T) {
	for _, c := range []struct {
		name     string
		portable bool
		h2       bool
		parked   float64
	}{
		{"parked HTTP/1.1", false, false, 1},
		{"portable HTTP/1.1", true, false, 0},
		{"HTTP/2 (h2c)", false, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, dbURL := testdb.Open(t)
			srv := testserver.Start(t, st, dbURL, testserver.Options{Ring: 8192, Portable: c.portable})
			testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) SELECT 'S' || i, 100 FROM generate_series(1, 10) i`)
			client := http.DefaultClient
			if c.h2 {
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				client = &http.Client{Transport: tr}
				defer tr.CloseIdleConnections()
			}
			resp, err := client.Get(srv.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if wantMajor := map[bool]int{false: 1, true: 2}[c.h2]; resp.ProtoMajor != wantMajor {
				t.Fatalf("stream over %s, want HTTP/%d", resp.Proto, wantMajor)
			}
			events := make(chan sse.Event, 256)
			go func() {
				defer close(events)
				r := sse.NewReader(resp.Body)
				for {
					ev, err := r.Next()
					if err != nil {
						return
					}
					if ev.Name != "heartbeat" {
						events <- ev
					}
				}
			}()
			next := func() sse.Event {
				t.Helper()
				select {
				case ev, ok := <-events:
					if !ok {
						t.Fatal("stream ended")
					}
					return ev
				case <-time.After(20 * time.Second):
					t.Fatal("no event within 20s")
				}
				return sse.Event{}
			}
			snap := next()
			for snap.Name == "snapshot" && snap.ID == "" { // parts: only the last has the id
				snap = next()
			}
			if snap.Name != "snapshot" {
				t.Fatalf("stream began with %s", snap.Name)
			}
			for range 3 {
				// One transaction of 1,000 changes to 10 quotes: conflation would keep 10.
				testdb.Exec(t, dbURL, `DO $$ BEGIN FOR i IN 1..100 LOOP UPDATE quotes SET price = price + 1; END LOOP; END $$`)
			}
			log, err := st.EventsAfter(context.Background(), eventID(snap), 1<<62, 100_000)
			if err != nil {
				t.Fatal(err)
			}
			if len(log) < 3000 {
				t.Fatalf("log has %d events after the snapshot, want at least 3000", len(log))
			}
			for i, want := range log {
				if ev := next(); ev.Name != "price" || eventID(ev) != want.ID {
					t.Fatalf("event %d: %s %s, want price %d (conflated or lost)", i, ev.Name, ev.ID, want.ID)
				}
			}
			if got := testserver.Metric(t, srv.URL, "tickerboard_streams_parked"); got != c.parked {
				t.Errorf("tickerboard_streams_parked = %v, want %v on this path", got, c.parked)
			}
			if got := testserver.Metric(t, srv.URL, "tickerboard_frames_conflated_total"); got != 0 {
				t.Errorf("%v frames conflated for a viewer that keeps up", got)
			}
		})
	}
}
