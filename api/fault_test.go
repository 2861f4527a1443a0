package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/tcpproxy"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
	"github.com/tickerboard/tickerboard/store"
)

// faultEnv is one server on a fresh database, like env, except that its notifier
// reaches Postgres through a proxy the test can cut, while the handlers and the test's
// writers talk to Postgres directly. So "the instance cannot hear" can be held for as
// long as a test needs.
type faultEnv struct {
	st       *store.Store
	db       string // direct to Postgres
	url      string // the server
	notifier *store.Notifier
	hub      *hub.Hub
	proxy    *tcpproxy.Proxy
}

// unconflated is the default stream config with conflation out of reach, for tests that
// check every single event arrives; conflation has tests of its own below.
func unconflated() hub.StreamConfig {
	cfg := hub.DefaultStreamConfig
	cfg.ConflateAt = 1 << 30
	return cfg
}

func newFaultEnv(t *testing.T, ring int, cfg hub.StreamConfig) *faultEnv {
	t.Helper()
	return newFaultEnvWith(t, ring, cfg, nil)
}

// newFaultEnvWith is newFaultEnv with a chance to adjust the notifier further.
func newFaultEnvWith(t *testing.T, ring int, cfg hub.StreamConfig, adjust func(*store.Notifier)) *faultEnv {
	t.Helper()
	st, dbURL := testdb.Open(t)
	proxy, viaProxy, err := tcpproxy.ListenFor(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	srv := testserver.Start(t, st, dbURL, testserver.Options{
		Ring:      ring,
		ListenURL: viaProxy,
		Logger:    testLogger(t),
		Notifier: func(n *store.Notifier) {
			n.MaxBackoff = 200 * time.Millisecond
			if adjust != nil {
				adjust(n)
			}
		},
		Stream: cfg,
	})
	n, h := srv.Notifier, srv.Hub
	e := &faultEnv{st: st, db: dbURL, url: srv.URL, notifier: n, hub: h, proxy: proxy}
	e.awaitListening(t, true)
	return e
}

// testLogger sends warnings and errors to the test log, where a failure shows them.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// awaitListening waits for the notifier's LISTEN connection to be up (or down).
func (e *faultEnv) awaitListening(t *testing.T, want bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		connected, changed := e.notifier.State()
		if connected == want {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("listener connected = %t, want %t", connected, want)
		}
	}
}

// log is the change log after id after, read directly from Postgres.
func (e *faultEnv) log(t *testing.T, after int64) []store.Event {
	t.Helper()
	var evs []store.Event
	for { // a read is bounded in bytes (store.MaxBatchBytes): page on
		page, err := e.st.EventsAfter(context.Background(), after, 1<<62, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return evs
		}
		evs = append(evs, page...)
		after = page[len(page)-1].ID
	}
}

func (e *faultEnv) head(t *testing.T) int64 {
	t.Helper()
	pos, err := e.st.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pos.Head
}

// metric reads one unlabelled sample from /metrics.
func (e *faultEnv) metric(t *testing.T, name string) float64 {
	t.Helper()
	return testserver.Metric(t, e.url, name)
}

// viewer reads one SSE stream in the background, as a browser would, and keeps every
// event it dispatches.
type viewer struct {
	t       *testing.T
	body    io.Closer
	mu      sync.Mutex
	events  []sse.Event
	ended   error // why the stream ended, once it has
	changed chan struct{}
}

func (e *faultEnv) watch(t *testing.T, query, lastEventID string) *viewer {
	t.Helper()
	resp := getEvents(t, e.url, query, lastEventIDHeader(lastEventID))
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET /events%s: %s %s", query, resp.Status, body)
	}
	v := &viewer{t: t, body: resp.Body, changed: make(chan struct{})}
	go v.read(resp.Body)
	t.Cleanup(v.close)
	return v
}

// watchConn is watch over a stream read from a connection the caller made, such as
// a stalled one; closing the viewer closes conn.
func (e *faultEnv) watchConn(t *testing.T, r io.Reader, conn io.Closer) *viewer {
	v := &viewer{t: t, body: conn, changed: make(chan struct{})}
	go v.read(r)
	t.Cleanup(v.close)
	return v
}

func (v *viewer) read(body io.Reader) {
	r := sse.NewReader(body)
	for {
		ev, err := r.Next()
		if err == nil && ev.Name == "heartbeat" { // liveness, not data
			continue
		}
		v.mu.Lock()
		if err != nil {
			v.ended = err
		} else {
			v.events = append(v.events, ev)
		}
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (v *viewer) close() { v.body.Close() }

// await blocks until done(events) holds, failing the test if the stream ends first.
func (v *viewer) await(what string, done func([]sse.Event) bool) []sse.Event {
	v.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		v.mu.Lock()
		evs, ended, changed := v.events, v.ended, v.changed
		v.mu.Unlock()
		if done(evs) {
			return evs[:len(evs):len(evs)]
		}
		if ended != nil {
			v.t.Fatalf("stream ended (%v) after %d events, waiting for %s", ended, len(evs), what)
		}
		select {
		case <-changed:
		case <-timeout:
			last := "none"
			if len(evs) > 0 {
				last = evs[len(evs)-1].Name + " " + evs[len(evs)-1].ID
			}
			v.t.Fatalf("no %s within 60s; %d events, last %s", what, len(evs), last)
		}
	}
}

// awaitID waits until the viewer has an event with id >= id.
func (v *viewer) awaitID(id int64) []sse.Event {
	v.t.Helper()
	return v.await(fmt.Sprintf("event %d", id), func(evs []sse.Event) bool {
		return len(evs) > 0 && eventID(evs[len(evs)-1]) >= id
	})
}

// awaitCount waits until the viewer has n events.
func (v *viewer) awaitCount(n int) []sse.Event {
	v.t.Helper()
	return v.await(fmt.Sprintf("%d events", n), func(evs []sse.Event) bool { return len(evs) >= n })
}

func eventID(ev sse.Event) int64 {
	n, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// delivery is what checkDelivery found.
type delivery struct {
	delivered int // log events received
	conflated int // quote and game states skipped for a newer state of the same key
}

// checkDelivery checks the events a viewer received after event id from against the
// log of what committed after it: ids strictly increasing (in order, never twice),
// every frame's name and data exactly as logged, and every logged event either
// received or, for a quote or a game, replaced by a later frame of the same key
// (conflation). Plays are never skipped, and nothing is reset. A snapshot current to
// from or earlier is the stream's start and is passed over.
func checkDelivery(t *testing.T, who string, events []sse.Event, from int64, log []store.Event) delivery {
	t.Helper()
	index := make(map[int64]int, len(log))
	for i, e := range log {
		index[e.ID] = i
	}
	received := make(map[int64]bool, len(events))
	prev := from
	for _, ev := range events {
		id := eventID(ev)
		if ev.Name == "snapshot" && id <= from && len(received) == 0 {
			continue
		}
		switch {
		case ev.Name == "reset" || ev.Name == "snapshot":
			t.Fatalf("%s: unexpected %s (id %s) %.200s", who, ev.Name, ev.ID, ev.Data)
		case id <= prev:
			t.Fatalf("%s: event %d after %d: out of order or twice", who, id, prev)
		}
		prev = id
		i, ok := index[id]
		if !ok {
			t.Fatalf("%s: received event %d (%s), which is not in the log after %d", who, id, ev.Name, from)
		}
		if log[i].Name != ev.Name || string(log[i].Payload) != ev.Data {
			t.Fatalf("%s: event %d is %s %.200s; the log has %s %.200s", who, id, ev.Name, ev.Data, log[i].Name, log[i].Payload)
		}
		received[id] = true
	}
	type key struct{ name, key string }
	newestReceived := make(map[key]int64)
	var d delivery
	var lost []string
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		k := key{e.Name, e.Key}
		switch {
		case received[e.ID]:
			d.delivered++
			newestReceived[k] = max(newestReceived[k], e.ID)
		case (e.Name == "price" || e.Name == "score") && newestReceived[k] > e.ID:
			d.conflated++
		default:
			lost = append(lost, fmt.Sprintf("%d:%s/%s", e.ID, e.Name, e.Key))
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%s: %d of %d committed events lost (received %d, conflated %d); newest lost: %v",
			who, len(lost), len(log), d.delivered, d.conflated, lost[:min(len(lost), 10)])
	}
	return d
}

// load commits changes from several connections of its own until halted: mostly quote
// updates, every fifth a scoring play (a play and a score event).
type load struct {
	commits  atomic.Int64
	progress chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	failed   atomic.Value
	started  time.Time
}

// startLoad runs writers connections, each committing about once per interval.
func startLoad(t *testing.T, dbURL string, writers int, interval time.Duration, symbols []string, games int) *load {
	t.Helper()
	l := &load{progress: make(chan struct{}, 1), stop: make(chan struct{}), started: time.Now()}
	for w := range writers {
		// The tests are about delivery, not durability: not waiting for each commit's
		// WAL flush lets a busy CI machine reach the rate asked for.
		conn, err := pgx.Connect(context.Background(), dbURL+"&synchronous_commit=off")
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer conn.Close(context.Background())
			tick := time.NewTicker(interval)
			defer tick.Stop()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				var err error
				if i%5 == 4 {
					_, err = conn.Exec(context.Background(), `INSERT INTO scores (game_id, team, points) VALUES ($1, 'home', 1)`, 1+rng.IntN(games))
				} else {
					_, err = conn.Exec(context.Background(), `UPDATE quotes SET price = price + 0.01 WHERE symbol = $1`, symbols[rng.IntN(len(symbols))])
				}
				if err != nil {
					l.failed.Store(err)
					return
				}
				l.commits.Add(1)
				select {
				case l.progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	t.Cleanup(l.halt)
	return l
}

// await blocks until the writers have made n commits.
func (l *load) await(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for l.commits.Load() < n {
		if err, _ := l.failed.Load().(error); err != nil {
			t.Fatalf("writer: %v", err)
		}
		select {
		case <-l.progress:
		case <-timeout:
			t.Fatalf("writers made %d commits, waiting for %d", l.commits.Load(), n)
		}
	}
}

// halt stops the writers between commits, so a log read after holds every commit.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func seedBoard(t *testing.T, dbURL string, symbols, games int) []string {
	t.Helper()
	names := make([]string, symbols)
	for i := range names {
		names[i] = fmt.Sprintf("S%02d", i)
	}
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) SELECT unnest($1::text[]), 100`, names)
	testdb.Exec(t, dbURL, `INSERT INTO games (league, home_team, away_team, status)
		SELECT 'NBA', 'Home ' || i, 'Away ' || i, 'live' FROM generate_series(1, $1::int) i`, games)
	return names
}

// The LISTEN connection is killed 20 times while changes commit at about 1,000 a
// second, and once held down through the proxy: /readyz says 503 while the instance is
// deaf, and a connected viewer and one resuming with Last-Event-ID each get every change
// exactly once, in id order.
func TestFaultListenerKilledUnderLoad(t *testing.T) {
	e := newFaultEnv(t, 4096, unconflated())
	symbols := seedBoard(t, e.db, 20, 4)
	live := e.watch(t, "", "")
	liveFrom := eventID(live.awaitCount(1)[0])
	early := e.watch(t, "", "")

	admin, err := pgx.Connect(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())

	l := startLoad(t, e.db, 4, 4*time.Millisecond, symbols, 4) // 4 × 250/s
	early.awaitCount(50)
	early.close()

	const kills = 20
	for k := range kills {
		l.await(t, int64(k+1)*100)
		e.awaitListening(t, true)
		_, changed := e.notifier.State()
		var killed bool
		err := admin.QueryRow(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = $1 AND datname = current_database()`, store.ListenerApplicationName).Scan(&killed)
		if err != nil || !killed {
			t.Fatalf("kill %d: terminate listener: %t, %v", k+1, killed, err)
		}
		select { // it noticed: connected → disconnected
		case <-changed:
		case <-time.After(30 * time.Second):
			t.Fatalf("kill %d: the notifier did not notice within 30s", k+1)
		}

		if k == kills/2 {
			// Hold the instance deaf: /readyz must turn viewers away meanwhile.
			e.proxy.Cut()
			e.awaitListening(t, false)
			before := l.commits.Load()
			resp, err := http.Get(e.url + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "listener") {
				t.Fatalf("/readyz while deaf: %d %s, want 503 naming the listener", resp.StatusCode, body)
			}
			l.await(t, before+200) // a backlog builds while it cannot hear
			e.proxy.Restore()
		}
	}
	e.awaitListening(t, true)
	if resp, err := http.Get(e.url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz after the listener is back: %v %v", resp, err)
	}
	l.halt()
	elapsed := time.Since(l.started)
	head := e.head(t)

	got := checkDelivery(t, "live viewer", live.awaitID(head), liveFrom, e.log(t, liveFrom))
	resumeFrom := eventID(early.awaitCount(50)[49])
	resumer := e.watch(t, "", strconv.FormatInt(resumeFrom, 10))
	resumed := checkDelivery(t, "resumed viewer", resumer.awaitID(head), resumeFrom, e.log(t, resumeFrom))
	if got.conflated+resumed.conflated > 0 {
		t.Fatalf("conflated %d + %d events with conflation off", got.conflated, resumed.conflated)
	}
	if r := e.notifier.Reconnects(); r < kills { // the cut came while it was reconnecting
		t.Fatalf("notifier reconnected %d times after %d kills and a cut", r, kills)
	}
	t.Logf("%d commits in %s (%.0f/s), %d listener kills + 1 cut: live viewer got all %d events, resumer all %d",
		l.commits.Load(), elapsed.Round(time.Millisecond), float64(l.commits.Load())/elapsed.Seconds(), kills, got.delivered, resumed.delivered)
}

// Transactions commit in a different order than they did their writes: with ids
// assigned at commit, a writer that finished its writes first but committed last gets
// the higher ids, and its events still reach a live viewer and resuming viewers, after
// the earlier commits, once each.
func TestFaultLateCommits(t *testing.T) {
	e := newFaultEnv(t, 256, unconflated()) // a small ring: some resumes come from the log
	const writers, txs = 12, 20
	symbols := seedBoard(t, e.db, writers, writers)
	live := e.watch(t, "", "")
	liveFrom := eventID(live.awaitCount(1)[0])
	resumers := make([]*viewer, 3)
	for i := range resumers {
		resumers[i] = e.watch(t, "", "")
	}

	var wrote atomic.Int64
	order := make(map[string]int64) // transaction tag → when it finished writing
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, e.db+"&synchronous_commit=off")
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(ctx)
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range txs {
				tag := fmt.Sprintf("w%02dt%02d", w, i)
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'away', 2, $2)`, w+1, tag); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `UPDATE quotes SET price = price + 1 WHERE symbol = $1`, symbols[w]); err != nil {
						return err
					}
					mu.Lock()
					order[tag] = wrote.Add(1)
					mu.Unlock()
					// A slow client, a long computation: the commit comes later, at random.
					time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Each resumer leaves after some of the burst and comes back after all of it.
	lastSeen := make([]int64, len(resumers))
	for i, r := range resumers {
		evs := r.awaitCount(1 + 40*(i+1))
		r.close()
		lastSeen[i] = eventID(evs[len(evs)-1])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	head := e.head(t)

	// The scenario happened: writes done first, committed (and numbered) later.
	rows, err := e.st.Pool().Query(context.Background(), `SELECT payload->>'scorer', id FROM events WHERE event = 'play' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type commit struct {
		Tag string
		ID  int64
	}
	commits, err := pgx.CollectRows(rows, pgx.RowToStructByPos[commit])
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for i := range commits {
		for j := i + 1; j < len(commits); j++ {
			if order[commits[i].Tag] > order[commits[j].Tag] {
				late++
			}
		}
	}
	if len(commits) != writers*txs || late == 0 {
		t.Fatalf("%d transactions logged, %d late commits; want %d and some late", len(commits), late, writers*txs)
	}

	got := checkDelivery(t, "live viewer", live.awaitID(head), liveFrom, e.log(t, liveFrom))
	for i, from := range lastSeen {
		r := e.watch(t, "", strconv.FormatInt(from, 10))
		checkDelivery(t, fmt.Sprintf("resumer %d (from %d)", i, from), r.awaitID(head), from, e.log(t, from))
	}
	t.Logf("%d transactions, %d pairs committed in the other order than they wrote; all %d events delivered live and to %d resumers",
		len(commits), late, got.delivered, len(resumers))
}

// A change far over NOTIFY's 8,000-byte payload limit (15 kB, under the 16 KiB cap) and
// a transaction of 2,500 changes (more than one notifier batch, one NOTIFY) arrive
// whole, live and on resume. Real rows cannot get this big (the columns' length limits
// keep a quote or a game under 1 kB), so the big one is written straight into the log.
func TestFaultBigChanges(t *testing.T) {
	e := newFaultEnv(t, 1024, hub.DefaultStreamConfig)
	live := e.watch(t, "", "")
	from := eventID(live.awaitCount(1)[0])

	emitRaw(t, e.db, `SELECT 'price', 'BIG', jsonb_build_object('symbol', 'BIG', 'name', repeat('n', 15000), 'price', 1)`)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) SELECT 'Q' || i, i FROM generate_series(1, 2500) i`)
	head := e.head(t)
	log := e.log(t, from)
	if len(log) != 2501 || len(log[0].Payload) < 15000 {
		t.Fatalf("log after %d: %d events, first %d bytes", from, len(log), len(log[0].Payload))
	}

	d := checkDelivery(t, "live viewer", live.awaitID(head), from, log)
	resumer := e.watch(t, "", strconv.FormatInt(from, 10))
	r := checkDelivery(t, "resumer", resumer.awaitID(head), from, log)
	if d.delivered != len(log) || r.delivered != len(log) {
		t.Fatalf("delivered %d live and %d on resume, want all %d (every key differs: nothing to conflate)", d.delivered, r.delivered, len(log))
	}
}

// stall opens /events on a connection whose owner reads the response headers and then
// nothing: a tab in a frozen laptop. Its receive buffer is made small, so the server's
// writes block soon.
func (e *faultEnv) stall(t *testing.T) (net.Conn, *http.Response) {
	t.Helper()
	host := strings.TrimPrefix(e.url, "http://")
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stalled client: %s", resp.Status)
	}
	return conn, resp
}

// flood commits enough to fill any socket buffer (200 frames of 15 kB written into
// the log, every key different), then quote updates: 100 commits of one
// update to every quote, with a scoring play on game 1 every tenth.
func flood(t *testing.T, dbURL string) {
	t.Helper()
	emitRaw(t, dbURL, `SELECT 'price', 'PAD' || i, jsonb_build_object('symbol', 'PAD' || i, 'name', repeat('p', 15000))
		FROM generate_series(1, 200) i`)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL+"&synchronous_commit=off")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := range 100 {
		if _, err := conn.Exec(ctx, `UPDATE quotes SET price = price + 0.01`); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := conn.Exec(ctx, `INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 1)`); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A viewer that stops reading costs the server a cursor and a bounded buffer, not a
// queue of everything it missed: when it reads again it gets the newest state of each
// quote and game (older ones conflated away, after a catch-up from the log when it
// fell out of the ring) and every play, and ends current.
func TestFaultSlowClientIsConflatedAndCaughtUp(t *testing.T) {
	cfg := hub.DefaultStreamConfig
	cfg.WriteTimeout = 30 * time.Second // it reads again long before this
	e := newFaultEnv(t, 256, cfg)
	seedBoard(t, e.db, 50, 1)
	conn, resp := e.stall(t)
	from := e.head(t)

	flood(t, e.db)
	head := e.head(t)
	log := e.log(t, from)

	slow := e.watchConn(t, resp.Body, conn) // reads again
	evs := slow.awaitID(head)
	var snapshotID int64 = -1
	if len(evs) > 0 && evs[0].Name == "snapshot" {
		snapshotID = eventID(evs[0])
	}
	if snapshotID != from {
		t.Fatalf("stalled stream started with %v, want a snapshot at %d", evs[:min(len(evs), 1)], from)
	}
	d := checkDelivery(t, "slow viewer", evs, from, log)
	if d.conflated == 0 || d.delivered >= len(log) {
		t.Fatalf("slow viewer got %d of %d events, %d conflated: the server queued everything for it", d.delivered, len(log), d.conflated)
	}
	overruns, readBack := e.metric(t, "tickerboard_ring_overruns_total"), e.metric(t, "tickerboard_catchup_events_total")
	if overruns < 1 || readBack < 1 { // thousands of frames through a 256-frame ring
		t.Fatalf("ring overruns %v, events read back %v: the slow viewer never fell out of the ring", overruns, readBack)
	}
	t.Logf("slow viewer: %d of %d events delivered, %d older quote states conflated; ring overruns %v, events read back from the log %v",
		d.delivered, len(log), d.conflated, overruns, readBack)
}

// A viewer that accepts nothing for longer than the write timeout is disconnected and
// counted in /metrics, while a viewer beside it gets every event.
func TestFaultSlowClientIsDisconnected(t *testing.T) {
	cfg := hub.DefaultStreamConfig
	cfg.WriteTimeout = 2 * time.Second // long for a reader that keeps up, even on a busy machine under -race; the stalled one still hits it
	e := newFaultEnv(t, 1024, cfg)
	seedBoard(t, e.db, 50, 1)
	healthy := e.watch(t, "", "")
	from := eventID(healthy.awaitCount(1)[0])
	conn, resp := e.stall(t)

	flood(t, e.db)
	head := e.head(t)

	timeout := time.Now().Add(30 * time.Second)
	for e.metric(t, "tickerboard_slow_client_disconnects_total") < 1 {
		if time.Now().After(timeout) {
			t.Fatal("the stalled viewer was not disconnected within 30s")
		}
		time.Sleep(20 * time.Millisecond) // a counter to poll; nothing to await
	}
	d := checkDelivery(t, "healthy viewer", healthy.awaitID(head), from, e.log(t, from))
	if clients := e.metric(t, "tickerboard_clients"); clients != 1 {
		t.Fatalf("tickerboard_clients = %v after the drop, want 1", clients)
	}
	// What the stalled viewer had been sent is still readable; then its stream ends.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("stalled viewer's stream after the drop: %d bytes then %v, want it cut off", n, err)
	}
	t.Logf("healthy viewer got %d events (%d conflated); the stalled one was cut off after %d more bytes (%v)", d.delivered, d.conflated, n, err)
}

// A viewer being caught up from the log (it fell out of the ring, or resumed far back)
// must not skip events that retention prunes under it: it gets them, or a reset with a
// fresh snapshot, never a silent hole.
func TestFaultCatchUpAcrossPrune(t *testing.T) {
	cfg := hub.DefaultStreamConfig
	cfg.WriteTimeout = 30 * time.Second
	e := newFaultEnv(t, 256, cfg)
	testdb.Exec(t, e.db, `INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Knicks', 'Nets')`)
	conn, resp := e.stall(t)
	from := e.head(t)

	// 1,500 plays of 5 kB: more than one catch-up batch, far more than the socket holds.
	emitRaw(t, e.db, `SELECT 'play', '1', jsonb_build_object('id', -i, 'game_id', 1, 'scorer', repeat('s', 5000))
		FROM generate_series(1, 1500) i`)
	backlog := e.log(t, from)
	// The stream is stuck part-way through its catch-up. Retention prunes the log.
	if _, _, err := e.st.Prune(context.Background(), -time.Hour); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, e.db, `INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 2)`)
	head := e.head(t)

	slow := e.watchConn(t, resp.Body, conn)
	evs := slow.awaitID(head)
	for i, ev := range evs {
		if ev.Name == "reset" {
			if !strings.Contains(ev.Data, "retention") || i+1 >= len(evs) || evs[i+1].Name != "snapshot" {
				t.Fatalf("reset %s followed by %v, want reason retention and a snapshot", ev.Data, evs[i+1:min(len(evs), i+2)])
			}
			return // told to start over: no hole
		}
	}
	all := append(backlog, e.log(t, backlog[len(backlog)-1].ID)...)
	checkDelivery(t, "viewer caught up across a prune", evs, from, all)
}

// An instance cut off from Postgres while retention pruned events it never read tells
// its viewers to start over (reset, reason retention, then a fresh snapshot) instead
// of streaming on past a hole.
func TestFaultPrunedWhileDeaf(t *testing.T) {
	e := newFaultEnv(t, 1024, hub.DefaultStreamConfig)
	testdb.Exec(t, e.db, `INSERT INTO games (league, home_team, away_team) VALUES ('NHL', 'Jets', 'Stars')`)
	v := e.watch(t, "", "")
	v.awaitCount(1)
	testdb.Exec(t, e.db, `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 1, 'heard')`)
	heard := len(v.awaitID(e.head(t)))

	e.proxy.Cut()
	e.awaitListening(t, false)
	testdb.Exec(t, e.db, `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'away', 1, 'pruned unheard')`)
	if _, _, err := e.st.Prune(context.Background(), -time.Hour); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, e.db, `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 1, 'after the prune')`)
	head := e.head(t)
	e.proxy.Restore()

	evs := v.awaitID(head)[heard:]
	if len(evs) < 2 || evs[0].Name != "reset" || evs[1].Name != "snapshot" {
		names := make([]string, len(evs))
		for i, ev := range evs {
			names[i] = ev.Name + " " + ev.ID
		}
		t.Fatalf("after events were pruned unheard the viewer got %v, want a reset and a snapshot first", names)
	}
	if !strings.Contains(evs[0].Data, `"retention"`) {
		t.Fatalf("reset %s, want reason retention", evs[0].Data)
	}
	var board struct {
		Games []struct {
			HomeScore int `json:"home_score"`
			AwayScore int `json:"away_score"`
		}
	}
	if err := json.Unmarshal([]byte(evs[len(evs)-1].Data), &board); evs[len(evs)-1].Name == "snapshot" && (err != nil || board.Games[0].HomeScore != 2 || board.Games[0].AwayScore != 1) {
		t.Fatalf("snapshot after the reset %s: want the game at 2-1", evs[len(evs)-1].Data)
	}
}

// Shutdown closes the hub (instance.Serve) while the notifier,
// stopped by the same signal, may still be publishing a batch. That must not crash the
// process on its way down: Publish after Close is a no-op.
func TestFaultPublishAfterClose(t *testing.T) {
	h := hub.New(0, 16)
	h.Close(context.Background())
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Publish after Close panicked: %v", r)
		}
	}()
	h.Publish([]store.Event{{ID: 1, Name: "price", Key: "AAPL", Payload: []byte(`{}`), CreatedAt: time.Now()}})
}
