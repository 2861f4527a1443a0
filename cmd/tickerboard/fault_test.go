package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/tcpproxy"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// follower is what a browser's EventSource does: it follows /events and, whenever the
// stream ends, reconnects to base() after a short pause, sending Last-Event-ID once it
// has one. It keeps every event and how each stream ended.
type follower struct {
	base   func() string
	client *http.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	events   []sse.Event
	lastID   string
	ends     []streamEnd
	current  io.Closer // the body being read, so a test can drop the connection
	changed  chan struct{}
	attempts int
}

// streamEnd is how one stream of a follower ended.
type streamEnd struct {
	err      error // io.EOF: the server ended it cleanly
	comments int   // comment lines it carried (the shutdown notice is one)
	at       time.Time
}

func follow(t *testing.T, client *http.Client, base func() string) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{base: base, client: client, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	go f.run(ctx)
	t.Cleanup(f.stop)
	return f
}

func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	for ctx.Err() == nil {
		f.stream(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond): // EventSource's retry, shortened
		}
	}
}

func (f *follower) stream(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.base()+"/events", nil)
	f.mu.Lock()
	f.attempts++
	if f.lastID != "" {
		req.Header.Set("Last-Event-ID", f.lastID)
	}
	f.mu.Unlock()
	resp, err := f.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	f.mu.Lock()
	f.current = resp.Body
	f.mu.Unlock()
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		f.mu.Lock()
		if err != nil {
			f.ends = append(f.ends, streamEnd{err: err, comments: r.Comments(), at: time.Now()})
			f.current = nil
		} else {
			f.events = append(f.events, ev)
			f.lastID = r.LastID()
		}
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// drop cuts the follower's current connection, as a flaky network would.
func (f *follower) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current != nil {
		f.current.Close()
	}
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
}

// await blocks until done holds for the follower's events and stream ends.
func (f *follower) await(t *testing.T, what string, done func([]sse.Event, []streamEnd) bool) []sse.Event {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		f.mu.Lock()
		evs, ends, changed := f.events, f.ends, f.changed
		f.mu.Unlock()
		if done(evs, ends) {
			return evs[:len(evs):len(evs)]
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no %s within 60s: %d events, %d streams ended", what, len(evs), len(ends))
		}
	}
}

// awaitID waits until the follower has an event with id >= id.
func (f *follower) awaitID(t *testing.T, id int64) []sse.Event {
	t.Helper()
	return f.await(t, fmt.Sprintf("event %d", id), func(evs []sse.Event, _ []streamEnd) bool {
		return len(evs) > 0 && sseID(evs[len(evs)-1]) >= id
	})
}

func sseID(ev sse.Event) int64 {
	n, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// changeLog is the events table after an id, read directly from Postgres.
func changeLog(t *testing.T, dbURL string, after int64) []store.Event {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, event, key, payload, created_at FROM events WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, pgx.RowToStructByName[store.Event])
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// lossCheck checks what a viewer saw, from its first snapshot on, against the log:
// events in strictly increasing id order, each exactly as logged, and every logged
// event received, or (a quote or a game) replaced by a later frame of the same key, or
// already shown by a snapshot the viewer got before it (under the WAL capture the log
// trails the tables, so a snapshot can show a change whose event comes after its id;
// the server leaves those out). It returns how many were received and conflated (or
// shown), and describes the first problem.
func lossCheck(events []sse.Event, log []store.Event) (delivered, conflated int, problem string) {
	if len(events) == 0 || events[0].Name != "snapshot" {
		return 0, 0, "the stream did not start with a snapshot"
	}
	from := sseID(events[0])
	shown, err := snapshotsShow(events)
	if err != nil {
		return 0, 0, err.Error()
	}
	index := make(map[int64]int, len(log))
	for i, e := range log {
		index[e.ID] = i
	}
	received := make(map[int64]bool, len(events))
	prev := from
	for _, ev := range events[1:] {
		if ev.Name == "heartbeat" {
			continue // carries no id: the server's clock and head, not a change
		}
		id := sseID(ev)
		if id <= prev {
			return 0, 0, fmt.Sprintf("%s %d after %d: out of order or twice", ev.Name, id, prev)
		}
		prev = id
		i, ok := index[id]
		if !ok {
			if id > from {
				return 0, 0, fmt.Sprintf("%s %d is not in the log", ev.Name, id)
			}
			continue
		}
		if log[i].Name != ev.Name || string(log[i].Payload) != ev.Data {
			return 0, 0, fmt.Sprintf("event %d is %s %.100s; the log has %s %.100s", id, ev.Name, ev.Data, log[i].Name, log[i].Payload)
		}
		received[id] = true
	}
	type key struct{ name, key string }
	newest := make(map[key]int64)
	lost, first := 0, ""
	for i := len(log) - 1; i >= 0 && log[i].ID > from; i-- {
		e := log[i]
		k := key{e.Name, e.Key}
		switch {
		case received[e.ID]:
			delivered++
			newest[k] = max(newest[k], e.ID)
		case (e.Name == "price" || e.Name == "score") && newest[k] > e.ID, shown(e):
			conflated++
		default:
			if lost++; lost == 1 {
				first = fmt.Sprintf("%s %d %s %.120s", e.Name, e.ID, e.Key, e.Payload)
			}
		}
	}
	if lost > 0 {
		return delivered, conflated, fmt.Sprintf("%d events lost after snapshot %d (the newest: %s)", lost, from, first)
	}
	return delivered, conflated, ""
}

// snapshotsShow returns whether a snapshot among events, sent before e's id would
// have been, already showed e's change: the row at e's time or later (quotes, games),
// or the play itself.
func snapshotsShow(events []sse.Event) (func(store.Event) bool, error) {
	type row struct {
		Symbol    string
		ID        json.Number
		UpdatedAt time.Time `json:"updated_at"`
	}
	type snap struct {
		id     int64
		quotes map[string]time.Time
		games  map[string]time.Time
		plays  map[string]bool
		// oldestPlay is the smallest play id the snapshot holds.
		oldestPlay int64
	}
	var snaps []snap
	for _, ev := range events {
		if ev.Name != "snapshot" {
			continue
		}
		var b struct{ Quotes, Games, Plays []row }
		if err := json.Unmarshal([]byte(ev.Data), &b); err != nil {
			return nil, fmt.Errorf("snapshot %s: %v", ev.ID, err)
		}
		s := snap{id: sseID(ev), quotes: map[string]time.Time{}, games: map[string]time.Time{}, plays: map[string]bool{}}
		for _, q := range b.Quotes {
			s.quotes[q.Symbol] = q.UpdatedAt
		}
		for _, g := range b.Games {
			s.games[g.ID.String()] = g.UpdatedAt
		}
		for i, p := range b.Plays {
			s.plays[p.ID.String()] = true
			if id, err := p.ID.Int64(); err == nil && (i == 0 || id < s.oldestPlay) {
				s.oldestPlay = id
			}
		}
		snaps = append(snaps, s)
	}
	return func(e store.Event) bool {
		var r row
		if json.Unmarshal(e.Payload, &r) != nil {
			return false
		}
		for _, s := range snaps {
			if s.id < 0 || s.id >= e.ID {
				continue
			}
			switch e.Name {
			case "price":
				if at, ok := s.quotes[r.Symbol]; ok && !at.Before(r.UpdatedAt) {
					return true
				}
			case "score":
				if at, ok := s.games[r.ID.String()]; ok && !at.Before(r.UpdatedAt) {
					return true
				}
			case "play":
				// A snapshot carries the newest plays only (store.Snapshot): an older
				// one is as shown as it would be under the triggers.
				if id, err := r.ID.Int64(); err == nil && (s.plays[r.ID.String()] || len(s.plays) >= 20 && id < s.oldestPlay) {
					return true
				}
			}
		}
		return false
	}, nil
}

// writer commits a quote update (and every fifth time a scoring play) straight to
// Postgres about every interval until halted.
type writer struct {
	stop     chan struct{}
	done     chan error
	commits  atomic.Int64
	progress chan struct{} // a token after each commit, if nobody took the last
}

func startWriter(t *testing.T, dbURL string, interval time.Duration) *writer {
	t.Helper()
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('AAA', 10), ('BBB', 20), ('CCC', 30);
		INSERT INTO games (league, home_team, away_team, status) VALUES ('NHL', 'Oilers', 'Flames', 'live')`)
	conn, err := pgx.Connect(context.Background(), dbURL+"&synchronous_commit=off")
	if err != nil {
		t.Fatal(err)
	}
	w := &writer{stop: make(chan struct{}), done: make(chan error, 1), progress: make(chan struct{}, 1)}
	go func() {
		defer conn.Close(context.Background())
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			case <-tick.C:
			}
			sql := `UPDATE quotes SET price = price + 0.01 WHERE symbol = (ARRAY['AAA','BBB','CCC'])[1 + $1::int % 3]`
			args := []any{i}
			if i%5 == 4 {
				sql, args = `INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 1)`, nil
			}
			if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
				w.done <- err
				return
			}
			w.commits.Add(1)
			select {
			case w.progress <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { w.halt(t) })
	return w
}

// await blocks until the writer has made n commits.
func (w *writer) await(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for w.commits.Load() < n {
		select {
		case <-w.progress:
		case err := <-w.done:
			t.Fatalf("writer stopped after %d commits: %v", w.commits.Load(), err)
		case <-timeout:
			t.Fatalf("writer made %d commits, waiting for %d", w.commits.Load(), n)
		}
	}
}

// halt stops the writer between commits, so a log read after holds every commit.
func (w *writer) halt(t *testing.T) {
	select {
	case <-w.stop:
		return
	default:
	}
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Errorf("writer: %v", err)
	}
}

// logHead is the newest id in the log once everything committed so far is logged.
func logHead(t *testing.T, dbURL string) int64 {
	t.Helper()
	testdb.AwaitCapture(t, dbURL)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var head int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	return head
}

func status(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The path to Postgres is cut under a running server (its DATABASE_URL points at a
// proxy) while changes keep committing straight to Postgres: the server stays up and
// says so on /healthz, /readyz turns 503, viewers keep their streams or reconnect, and
// when the path is back the gap is filled: nothing lost. The leader, whose lock died
// with its session, leads again.
func TestFaultDatabaseDownAndBack(t *testing.T) {
	dbURL := testdb.URL(t)
	proxy, viaProxy, err := tcpproxy.ListenFor(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	srv := startServer(t, viaProxy, "127.0.0.1:0")
	w := startWriter(t, dbURL, 5*time.Millisecond)
	base := func() string { return srv.URL }
	client := &http.Client{Transport: &http.Transport{}}
	steady := follow(t, client, base) // keeps its stream through the outage
	flaky := follow(t, client, base)  // its connection drops during the outage
	steady.awaitID(t, logHead(t, dbURL)+1)
	flaky.awaitID(t, logHead(t, dbURL)+1)

	proxy.Cut()
	if code, body := status(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database unreachable: %d %s", code, body)
	}
	if code, body := status(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz with the database unreachable: %d %s, want the process to say it is alive", code, body)
	}
	flaky.drop()
	late := follow(t, client, base) // a new viewer arrives during the outage
	const whileCut = 150
	w.await(t, w.commits.Load()+whileCut) // these commit while the server cannot see them
	select {
	case err := <-srv.done:
		t.Fatalf("run returned during the outage: %v", err)
	default:
	}
	proxy.Restore()
	srv.waitReady(t)
	waitMetric(t, srv.URL, "tickerboard_leader", 1)
	w.halt(t)
	head := logHead(t, dbURL)
	log := changeLog(t, dbURL, 0)
	for name, f := range map[string]*follower{"steady": steady, "flaky": flaky, "late": late} {
		evs := f.awaitID(t, head)
		delivered, conflated, problem := lossCheck(evs, log)
		if problem != "" {
			t.Errorf("%s viewer: %s", name, problem)
		}
		f.mu.Lock()
		t.Logf("%s viewer: %d events delivered, %d conflated, %d streams ended, %d connection attempts",
			name, delivered, conflated, len(f.ends), f.attempts)
		f.mu.Unlock()
	}
	flaky.mu.Lock()
	reconnects := len(flaky.ends)
	flaky.mu.Unlock()
	if reconnects == 0 {
		t.Fatal("the flaky viewer's connection was never dropped")
	}
	steady.mu.Lock()
	steadyEnds := len(steady.ends)
	steady.mu.Unlock()
	if steadyEnds != 0 {
		t.Fatalf("the steady viewer's stream ended %d times: streams must stay open through a database outage", steadyEnds)
	}
	t.Logf("%d commits, %d while cut off; the proxy refused %d connections during the outage", w.commits.Load(), whileCut, proxy.Refused())
}

// The leader's real pruning (a short -prune-every, events aged past the 1m minimum
// retention) removes events a viewer had not seen: resuming from before them gets a
// named reset and a fresh snapshot, never a silent hole; resuming from where the log
// was cut gets exactly what came after.
func TestFaultRetentionPrunedByLeader(t *testing.T) {
	dbURL := testdb.URL(t)
	srv := startServer(t, dbURL, "127.0.0.1:0", "-retention", "1m", "-prune-every", "50ms")
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('OLD', 10)`)
	for i := range 10 {
		testdb.Exec(t, dbURL, `UPDATE quotes SET price = $1 WHERE symbol = 'OLD'`, 11+i)
	}
	testdb.AwaitCapture(t, dbURL)
	old := logHead(t, dbURL)
	// As if an hour passed; only the capture path writes the log, so its guard is off for this.
	testdb.Exec(t, dbURL, `ALTER TABLE events DISABLE TRIGGER events_capture_only;
		UPDATE events SET created_at = now() - interval '2 minutes';
		ALTER TABLE events ENABLE TRIGGER events_capture_only`)
	timeout := time.Now().Add(30 * time.Second)
	for queryPruned(t, dbURL) < old {
		if time.Now().After(timeout) {
			t.Fatalf("the leader did not prune events through %d within 30s", old)
		}
		time.Sleep(20 * time.Millisecond) // pruning leaves nothing to await but the table
	}
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 99 WHERE symbol = 'OLD'`)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('NEW', 5)`)
	testdb.AwaitCapture(t, dbURL)
	head := logHead(t, dbURL)

	resumed := openStream(t, srv.URL, strconv.FormatInt(old-5, 10))
	reset := nextNamed(t, resumed, "reset")
	if reset.Data != `{"reason":"retention"}` {
		t.Fatalf("reset %s, want reason retention", reset.Data)
	}
	snap := nextNamed(t, resumed, "snapshot")
	var board struct {
		ID     int64
		Quotes []struct {
			Symbol string
			Price  float64
		}
	}
	if err := json.Unmarshal([]byte(snap.Data), &board); err != nil {
		t.Fatal(err)
	}
	if board.ID != head || len(board.Quotes) != 2 || board.Quotes[1].Symbol != "OLD" || board.Quotes[1].Price != 99 {
		t.Fatalf("snapshot after the reset: %s, want both quotes as of event %d", snap.Data, head)
	}

	atCut := openStream(t, srv.URL, strconv.FormatInt(old, 10))
	for _, want := range changeLog(t, dbURL, old) {
		ev, err := atCut.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Name != want.Name || sseID(ev) != want.ID {
			t.Fatalf("resumed at the cut: got %s %s, want %s %d", ev.Name, ev.ID, want.Name, want.ID)
		}
	}
}

func queryPruned(t *testing.T, dbURL string) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var through int64
	if err := conn.QueryRow(ctx, `SELECT through FROM events_pruned`).Scan(&through); err != nil {
		t.Fatal(err)
	}
	return through
}

// openStream opens /events resuming after lastEventID and returns its reader; the
// stream is closed when the test ends.
func openStream(t *testing.T, base, lastEventID string) *sse.Reader {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/events", nil)
	req.Header.Set("Last-Event-ID", lastEventID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events after %s: %s", lastEventID, resp.Status)
	}
	return sse.NewReader(resp.Body)
}

// SIGTERM with 1,000 viewers connected and changes committing: every stream ends
// cleanly (the server's last comment, then a proper end of stream) before run's 5 s
// shutdown budget would cut it, run returns, and each viewer, reconnecting to a second
// instance with its Last-Event-ID, loses nothing. No goroutine outlives either server.
func TestFaultShutdownUnderLoad(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dbURL := testdb.URL(t)
	a := startServer(t, dbURL, "127.0.0.1:0", "-max-streams-per-ip", "0") // every viewer comes from 127.0.0.1
	b := startServer(t, dbURL, "127.0.0.1:0", "-max-streams-per-ip", "0") // every viewer comes from 127.0.0.1
	w := startWriter(t, dbURL, 10*time.Millisecond)

	var target atomic.Value
	target.Store(a.URL)
	base := func() string { return target.Load().(string) }
	transport := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: transport}
	const viewers = 1000
	fs := make([]*follower, viewers)
	for i := range fs {
		fs[i] = follow(t, client, base)
	}
	live := logHead(t, dbURL) + 1
	for _, f := range fs {
		f.awaitID(t, live) // connected, and past the snapshot
	}

	target.Store(b.URL) // where they will reconnect
	stopping := time.Now()
	a.Stop()
	stopped := time.Since(stopping)
	var slowest time.Duration
	unclean := 0
	for i, f := range fs {
		f.await(t, "the end of the first stream", func(_ []sse.Event, ends []streamEnd) bool { return len(ends) > 0 })
		f.mu.Lock()
		end := f.ends[0]
		f.mu.Unlock()
		slowest = max(slowest, end.at.Sub(stopping))
		if !errors.Is(end.err, io.EOF) || end.comments == 0 {
			if unclean++; unclean <= 5 {
				t.Errorf("viewer %d: stream ended with %v after %d comments, want the shutdown comment and a clean end", i, end.err, end.comments)
			}
		}
	}

	w.await(t, w.commits.Load()+20) // changes while they reconnect
	w.halt(t)
	head := logHead(t, dbURL)
	log := changeLog(t, dbURL, 0)
	var delivered, conflated int
	for i, f := range fs {
		d, c, problem := lossCheck(f.awaitID(t, head), log)
		if problem != "" {
			t.Fatalf("viewer %d after reconnecting to the second instance: %s", i, problem)
		}
		delivered += d
		conflated += c
	}
	for _, f := range fs {
		f.stop()
	}
	transport.CloseIdleConnections()
	b.Stop()
	t.Logf("%d viewers: every stream ended %d clean within %s of SIGTERM (run returned after %s); after reconnecting to the second instance, %d events delivered, %d conflated, 0 lost (%d commits)",
		viewers, viewers-unclean, slowest.Round(time.Millisecond), stopped.Round(time.Millisecond), delivered, conflated, w.commits.Load())
}

// errorBody is every JSON error the API returns.
type errorBody struct {
	Error string `json:"error"`
}

// The parameters a 400 may name.
var paramNames = []string{"query:", "topics:", "symbols:", "games:", "Last-Event-ID:", "lastEventId:", "limit:", "symbol:", "id:"}

// Garbage from clients — bad, negative, huge and future ids, malformed query strings,
// over-long headers, broken HTTP — never gets a 5xx: a bad parameter is a 400 naming
// it, an over-large header block a 431, and the server stays healthy.
func TestFaultGarbageInput(t *testing.T) {
	dbURL := testdb.URL(t)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 10);
		INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Knicks', 'Nets')`)
	head := logHead(t, dbURL)

	type result struct {
		status int
		err    string // the JSON error, or the plain body net/http sends before any handler
		json   bool
		first  string // the first event of a stream
	}
	get := func(path string, header http.Header) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatalf("request %q: %v", path, err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil && strings.Contains(err.Error(), "net/http: invalid") {
			return result{status: -1} // the client library refuses to send it at all
		}
		if err != nil {
			t.Fatalf("GET %q: %v", path, err)
		}
		defer resp.Body.Close()
		res := result{status: resp.StatusCode}
		if resp.Header.Get("Content-Type") == "text/event-stream" {
			// The first change or control event: a heartbeat may come first (it carries
			// retry when a resume has nothing to send yet, e.g. before the notifier
			// has published what the test just wrote).
			r := sse.NewReader(resp.Body)
			ev, err := r.Next()
			for err == nil && ev.Name == "heartbeat" {
				ev, err = r.Next()
			}
			if err != nil {
				t.Fatalf("GET %q: stream: %v", path, err)
			}
			res.first = ev.Name
			return res
		}
		body, _ := io.ReadAll(resp.Body)
		var e errorBody
		if json.Unmarshal(body, &e) == nil {
			res.err, res.json = e.Error, true
		} else if resp.StatusCode >= 400 {
			res.err = string(body)
		}
		return res
	}
	lastID := func(v string) http.Header { return http.Header{"Last-Event-ID": {v}} }

	cases := []struct {
		path   string
		header http.Header
		status int
		want   string // the named parameter, or the first event of a stream
	}{
		{"/events?topics=nope", nil, 400, "topics:"},
		{"/events?topics=", nil, 400, "topics:"},
		{"/events?symbols=a$b", nil, 400, "symbols:"},
		{"/events?symbols=" + strings.Repeat("A,", 200), nil, 400, "symbols:"},
		{"/events?games=-1", nil, 400, "games:"},
		{"/events?games=1.5", nil, 400, "games:"},
		{"/events?games=99999999999999999999", nil, 400, "games:"},
		{"/events?games=%00", nil, 400, "games:"},
		// A malformed resume point is no reason to strand a viewer (EventSource gives up
		// for good on any non-200): it is an unknown id, so start over.
		{"/events", lastID("-1"), 200, "reset"},
		{"/events", lastID("abc"), 200, "reset"},
		{"/events", lastID("1e9"), 200, "reset"},
		{"/events", lastID("99999999999999999999"), 200, "reset"},
		{"/events", lastID(strings.Repeat("9", 10000)), 200, "reset"},
		{"/events", lastID("-9223372036854775808"), 200, "reset"},
		{"/events?lastEventId=-5", nil, 200, "reset"},
		{"/events?lastEventId=%ff%fe", nil, 200, "reset"},
		// A resume point in the future (another database, a forged id): start over.
		{"/events", lastID("9223372036854775807"), 200, "reset"},
		{"/events", lastID(strconv.FormatInt(head+1000, 10)), 200, "reset"},
		{"/events?lastEventId=" + strconv.FormatInt(head+1, 10), nil, 200, "reset"},
		{"/events", lastID("0"), 200, "price"}, // from the start: the log has everything
		{"/events", lastID(" 1 "), 200, "score"},
		{"/api/quotes/AAPL/history?limit=-1", nil, 400, "limit:"},
		{"/api/quotes/AAPL/history?limit=0", nil, 400, "limit:"},
		{"/api/quotes/AAPL/history?limit=1e3", nil, 400, "limit:"},
		{"/api/quotes/AAPL/history?limit=99999999999999999999", nil, 400, "limit:"},
		{"/api/quotes/AAPL/history?limit=1001", nil, 400, "limit:"},
		{"/api/quotes/aapl/history", nil, 400, "symbol:"},
		{"/api/quotes/A%00B/history", nil, 400, "symbol:"},
		{"/api/quotes/" + strings.Repeat("A", 300) + "/history", nil, 400, "symbol:"},
		{"/api/games/0", nil, 400, "id:"},
		{"/api/games/-1", nil, 400, "id:"},
		{"/api/games/1e3", nil, 400, "id:"},
		{"/api/games/99999999999999999999", nil, 400, "id:"},
		{"/api/games/%20", nil, 400, "id:"},
		{"/api/games/9223372036854775807", nil, 404, ""},
	}
	for _, c := range cases {
		got := get(c.path, c.header)
		if got.status < 0 {
			t.Fatalf("GET %s: the client refused to send it", c.path)
		}
		name := c.path
		if c.header != nil {
			name += fmt.Sprintf(" (Last-Event-ID %.20q)", c.header.Get("Last-Event-ID"))
		}
		switch {
		case got.status != c.status:
			t.Errorf("GET %s: %d %q, want %d", name, got.status, got.err, c.status)
		case c.status == 200 && got.first != c.want:
			t.Errorf("GET %s: stream began with %q, want %q", name, got.first, c.want)
		case c.status == 400 && !strings.HasPrefix(got.err, c.want):
			t.Errorf("GET %s: 400 %q, want the error to name %s", name, got.err, strings.TrimSuffix(c.want, ":"))
		}
	}

	// Random garbage: whatever it is, never a 5xx, and a 400 always names a parameter.
	rng := rand.New(rand.NewPCG(9, 9))
	pieces := []string{"topics", "symbols", "games", "lastEventId", "limit", "token", "x", "=", "=", "&", "&", ",", ";",
		"%", "%2", "%zz", "%00", "%0d%0a", "%ff", "+", " ", "price", "score", "AAPL", "BRK.B", "1", "-1", "0",
		"9223372036854775807", "18446744073709551616", "é", "🏒", "\x7f", "[]", "#", "?", "/", ".."}
	paths := []string{"/events", "/api/quotes/AAPL/history", "/api/games/1", "/api/games", "/api/quotes"}
	counts := map[int]int{}
	for i := range 1500 {
		var q strings.Builder
		for range 1 + rng.IntN(12) {
			q.WriteString(pieces[rng.IntN(len(pieces))])
		}
		raw := url.PathEscape(q.String())
		if i%2 == 0 && !strings.ContainsAny(q.String(), "\x00\x7f") {
			raw = q.String() // unescaped, as a careless client sends it
		}
		u, err := url.Parse(srv.URL + paths[rng.IntN(len(paths))] + "?" + raw)
		if err != nil {
			continue // not even a URL; the client library refuses it
		}
		var header http.Header
		if rng.IntN(4) == 0 {
			header = lastID(pieces[rng.IntN(len(pieces))] + pieces[rng.IntN(len(pieces))])
			if strings.ContainsAny(header.Get("Last-Event-ID"), "\x00\r\n\x7f") {
				header = nil
			}
		}
		got := get(strings.TrimPrefix(u.String(), srv.URL), header)
		if got.status < 0 {
			continue
		}
		counts[got.status]++
		if got.status >= 500 {
			t.Fatalf("GET %s (Last-Event-ID %q): %d %q", u, header.Get("Last-Event-ID"), got.status, got.err)
		}
		if got.status == 400 && got.json && !hasAnyPrefix(got.err, paramNames) {
			t.Fatalf("GET %s: 400 %q names no parameter", u, got.err)
		}
		if got.status == 400 && !got.json && !strings.HasPrefix(got.err, "400 Bad Request") {
			t.Fatalf("GET %s: 400 %q, neither JSON nor net/http's own", u, got.err)
		}
	}
	t.Logf("random garbage requests by status: %v", counts)

	// Over-large header blocks: a 431 from net/http, before any handler runs.
	for _, h := range []http.Header{
		{"X-Pad": {strings.Repeat("p", 64<<10)}},
		{"Cookie": {strings.Repeat("tickerboard_token=x; ", 4000)}},
		manyHeaders(2000),
	} {
		if got := get("/events", h); got.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("GET /events with %d header bytes: %d, want 431", headerBytes(h), got.status)
		}
	}

	// Broken HTTP on a raw connection: a 4xx from net/http, never a crash or a 5xx.
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct {
		raw  string
		want int
	}{
		{"GARBAGE\r\n\r\n", 400},
		{"GET /events HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400},
		{"GET /events?\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\r\nContent-Length: -1\r\n\r\n", 400},
		{"GET " + strings.Repeat("/a", 40000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431},
		// The one 5xx net/http rightly sends for a client's fault: an HTTP version it
		// does not speak.
		{"GET /events HTTP/9.9\r\nHost: x\r\n\r\n", 505},
	} {
		if code := rawStatus(t, host, c.raw); code != c.want {
			t.Errorf("%.60q: status %d, want %d", c.raw, code, c.want)
		}
	}
	if code, body := status(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("after the garbage, /readyz %d %s", code, body)
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func manyHeaders(n int) http.Header {
	h := http.Header{}
	for i := range n {
		h.Set(fmt.Sprintf("X-Garbage-%d", i), "0123456789")
	}
	return h
}

func headerBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// rawStatus writes raw to a new connection and returns the response's status code.
func rawStatus(t *testing.T, host, raw string) int {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%.60q: reading the response: %v", raw, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
