package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
	"github.com/tickerboard/tickerboard/store"
)

// env is one server on a fresh database: the real store, notifier, hub and handler.
type env struct {
	st       *store.Store
	db       string
	url      string
	notifier *store.Notifier
	hub      *hub.Hub
}

func newEnv(t *testing.T, ringSize int) *env {
	t.Helper()
	return newEnvWith(t, ringSize, nil)
}

// newEnvWith is newEnv with a chance to adjust the server's Deps.
func newEnvWith(t *testing.T, ringSize int, adjust func(*api.Deps)) *env {
	t.Helper()
	return newEnvOpts(t, testserver.Options{Ring: ringSize, Deps: adjust})
}

// newEnvOpts is newEnv with the test server's options.
func newEnvOpts(t *testing.T, o testserver.Options) *env {
	t.Helper()
	st, dbURL := testdb.Open(t)
	srv := testserver.Start(t, st, dbURL, o)
	return &env{st: st, db: dbURL, url: srv.URL, notifier: srv.Notifier, hub: srv.Hub}
}

// client is a streaming SSE connection read as a browser would.
type client struct {
	t      *testing.T
	resp   *http.Response
	r      *sse.Reader // for what it keeps across events (Retry); its events come on events
	events chan sse.Event
}

func (e *env) connect(t *testing.T, query, lastEventID string) *client {
	t.Helper()
	return e.connectWith(t, query, lastEventIDHeader(lastEventID))
}

// raw is connect for tests of liveness: the stream exactly as it comes, heartbeats
// included.
func (e *env) raw(t *testing.T, lastEventID string) *client {
	t.Helper()
	c, status := e.open(t, "", lastEventIDHeader(lastEventID), true)
	if status != http.StatusOK {
		t.Fatalf("GET /events (Last-Event-ID %q): %d", lastEventID, status)
	}
	return c
}

// connectWith opens /events with the given headers and fails the test unless it streams.
func (e *env) connectWith(t *testing.T, query string, header map[string]string) *client {
	t.Helper()
	c, status := e.tryConnectQuery(t, query, header)
	if status != http.StatusOK {
		t.Fatalf("GET /events%s: %d", query, status)
	}
	return c
}

func (e *env) tryConnect(t *testing.T, header map[string]string) (*client, int) {
	return e.tryConnectQuery(t, "", header)
}

func (e *env) tryConnectQuery(t *testing.T, query string, header map[string]string) (*client, int) {
	t.Helper()
	return e.open(t, query, header, false)
}

// open streams /events unless the answer is not a 200, whose status it returns. A
// browser's board drops heartbeats (liveness, not data), and so does the client
// unless heartbeats says to keep them.
func (e *env) open(t *testing.T, query string, header map[string]string, heartbeats bool) (*client, int) {
	t.Helper()
	resp := getEvents(t, e.url, query, header)
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	c := &client{t: t, resp: resp, r: sse.NewReader(resp.Body), events: make(chan sse.Event, 1024)}
	go func() {
		defer close(c.events)
		for {
			ev, err := c.r.Next()
			if err != nil {
				return
			}
			if ev.Name == "heartbeat" && !heartbeats {
				continue
			}
			c.events <- ev
		}
	}()
	t.Cleanup(c.close)
	return c, http.StatusOK
}

// getEvents sends GET /events with query and header, whatever the answer.
func getEvents(t *testing.T, base, query string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/events"+query, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// lastEventIDHeader is the header that resumes from id ("": none, a fresh stream).
func lastEventIDHeader(id string) map[string]string {
	if id == "" {
		return nil
	}
	return map[string]string{"Last-Event-ID": id}
}

func (c *client) close() { c.resp.Body.Close() }

// next waits for the next event.
func (c *client) next() sse.Event {
	c.t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.t.Fatal("stream ended")
		}
		return ev
	case <-time.After(20 * time.Second):
		c.t.Fatal("no event within 20s")
	}
	return sse.Event{}
}

// expect reads the next event and checks its name.
func (c *client) expect(name string) sse.Event {
	c.t.Helper()
	ev := c.next()
	if ev.Name != name {
		c.t.Fatalf("got event %q (id %s, data %.200s), want %q", ev.Name, ev.ID, ev.Data, name)
	}
	return ev
}

func decode(t *testing.T, ev sse.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		t.Fatalf("event %s data %q: %v", ev.Name, ev.Data, err)
	}
	return m
}

func id(t *testing.T, ev sse.Event) int64 {
	t.Helper()
	n, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil {
		t.Fatalf("event %s has id %q", ev.Name, ev.ID)
	}
	return n
}

// logIDs lists the change log's ids after a point, from the database itself.
func (e *env) logIDs(t *testing.T, after int64) []int64 {
	t.Helper()
	evs, err := e.st.EventsAfter(context.Background(), after, 1<<62, 100000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func TestStreamSnapshotThenLiveScore(t *testing.T) {
	e := newEnv(t, 1024)
	testdb.Exec(t, e.db, `INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Lakers', 'Celtics');
		INSERT INTO quotes (symbol, name, price) VALUES ('AAPL', 'Apple', 190)`)
	c := e.connect(t, "", "")
	snap := c.expect("snapshot")
	board := decode(t, snap)
	if id(t, snap) != int64(board["id"].(float64)) || len(board["games"].([]any)) != 1 || len(board["quotes"].([]any)) != 1 {
		t.Fatalf("snapshot %s", snap.Data)
	}

	testdb.Exec(t, e.db, `INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 3, 'Reaves')`)
	play := decode(t, c.expect("play"))
	score := c.expect("score")
	game := decode(t, score)
	if play["points"] != 3.0 || play["scorer"] != "Reaves" || game["home_score"] != 3.0 || game["status"] != "live" {
		t.Fatalf("play %v, game %v", play, game)
	}
	if id(t, score) <= id(t, snap) {
		t.Fatalf("score id %s not after snapshot id %s", score.ID, snap.ID)
	}
}

// A reconnect with Last-Event-ID gets exactly the events it missed, in order, from the
// in-memory ring and, when they have left it, from the log.
func TestStreamResumeDeliversExactlyTheMissedEvents(t *testing.T) {
	for _, ring := range []int{1024, 16} {
		t.Run("ring"+strconv.Itoa(ring), func(t *testing.T) {
			e := newEnv(t, ring)
			testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100), ('MSFT', 100)`)
			c := e.connect(t, "", "")
			start := id(t, c.expect("snapshot"))
			testdb.Exec(t, e.db, `UPDATE quotes SET price = price + 1`) // two events, one transaction
			first := c.expect("price")
			c.expect("price")
			c.close()

			for i := 0; i < 20; i++ { // 40 events while away: more than the small ring holds
				testdb.Exec(t, e.db, `UPDATE quotes SET price = price + 1`)
			}
			want := e.logIDs(t, id(t, first))
			if len(want) != 41 || want[0] <= start {
				t.Fatalf("log after %s: %d events", first.ID, len(want))
			}
			// Wait until this instance has heard them all, so the ring case is real.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if !e.hub.WaitFor(ctx, want[len(want)-1]) {
				t.Fatal("the hub never heard the missed events")
			}
			r := e.connect(t, "", first.ID)
			for i, w := range want {
				ev := r.expect("price")
				if id(t, ev) != w {
					t.Fatalf("resumed event %d has id %s, want %d", i, ev.ID, w)
				}
			}
			testdb.Exec(t, e.db, `UPDATE quotes SET price = 1 WHERE symbol = 'AAPL'`)
			if ev := r.expect("price"); decode(t, ev)["price"] != 1.0 {
				t.Fatalf("live event after catch-up: %s", ev.Data)
			}
		})
	}
}

// A resume point the log no longer holds, or never held, gets a named reset and a
// fresh snapshot, never a silent hole.
func TestStreamResetsWhenResumePointIsGone(t *testing.T) {
	e := newEnv(t, 1024)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100)`)
	testdb.Exec(t, e.db, `UPDATE quotes SET price = 101`)
	if _, _, err := e.st.Prune(context.Background(), -time.Hour); err != nil { // prune everything
		t.Fatal(err)
	}
	for _, c := range []struct{ lastID, reason string }{{"1", "retention"}, {"999999", "unknown-id"}} {
		cl := e.connect(t, "", c.lastID)
		reset := decode(t, cl.expect("reset"))
		if reset["reason"] != c.reason {
			t.Fatalf("Last-Event-ID %s: reset %v, want reason %s", c.lastID, reset, c.reason)
		}
		snap := decode(t, cl.expect("snapshot"))
		if q := snap["quotes"].([]any); len(q) != 1 || q[0].(map[string]any)["price"] != 101.0 {
			t.Fatalf("snapshot after reset: %v", snap)
		}
	}
}

func TestStreamFilters(t *testing.T) {
	e := newEnv(t, 1024)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 100), ('MSFT', 100);
		INSERT INTO games (league, home_team, away_team) VALUES ('NHL', 'Oilers', 'Flames'), ('NHL', 'Jets', 'Stars')`)
	aapl := e.connect(t, "?symbols=AAPL&topics=price", "")
	game2 := e.connect(t, "?topics=score&games=2", "")
	snapA := decode(t, aapl.expect("snapshot"))
	snapG := decode(t, game2.expect("snapshot"))
	if len(snapA["quotes"].([]any)) != 1 || len(snapA["games"].([]any)) != 0 {
		t.Fatalf("AAPL snapshot %v", snapA)
	}
	if len(snapG["quotes"].([]any)) != 0 || len(snapG["games"].([]any)) != 1 {
		t.Fatalf("game 2 snapshot %v", snapG)
	}
	testdb.Exec(t, e.db, `UPDATE quotes SET price = 5 WHERE symbol = 'MSFT';
		INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 1);
		UPDATE quotes SET price = 6 WHERE symbol = 'AAPL';
		INSERT INTO scores (game_id, team, points) VALUES (2, 'away', 1)`)
	if ev := decode(t, aapl.expect("price")); ev["symbol"] != "AAPL" {
		t.Fatalf("AAPL stream got %v", ev)
	}
	if ev := decode(t, game2.expect("play")); ev["game_id"] != 2.0 {
		t.Fatalf("game 2 stream got %v", ev)
	}
	if ev := decode(t, game2.expect("score")); ev["id"] != 2.0 || ev["away_score"] != 1.0 {
		t.Fatalf("game 2 stream got %v", ev)
	}
}

func TestBadRequestsNameTheParameter(t *testing.T) {
	e := newEnv(t, 1024)
	cases := []struct {
		path, header, param string
		status              int
	}{
		{"/events?topics=prices", "", "topics", 400},
		{"/events?symbols=aapl", "", "symbols", 400},
		{"/events?games=abc", "", "games", 400},
		{"/events?topics=%zz", "", "query", 400},
		{"/api/quotes/AAPL/history?limit=%zz", "", "query", 400},
		{"/api/quotes/bad%20sym/history", "", "symbol", 400},
		{"/api/quotes/AAPL/history?limit=0", "", "limit", 400},
		{"/api/quotes/NOPE/history", "", "not found", 404},
		{"/api/games/x", "", "id", 400},
		{"/api/games/12345", "", "not found", 404},
		{"/api/nothing", "", "no such endpoint", 404},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, e.url+c.path, nil)
		if c.header != "" {
			req.Header.Set("Last-Event-ID", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.HasPrefix(body.Error, c.param) {
			t.Errorf("GET %s: %d %q, want %d naming %q", c.path, resp.StatusCode, body.Error, c.status, c.param)
		}
	}
}

func TestJSONAPI(t *testing.T) {
	e := newEnv(t, 1024)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, name, price) VALUES ('AAPL', 'Apple', 100);
		UPDATE quotes SET price = 101 WHERE symbol = 'AAPL';
		UPDATE quotes SET price = 102 WHERE symbol = 'AAPL';
		INSERT INTO games (league, home_team, away_team) VALUES ('MLS', 'Galaxy', 'Sounders');
		INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'away', 1, 'Morris')`)
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var quotes []map[string]any
	get("/api/quotes", &quotes)
	if len(quotes) != 1 || quotes[0]["price"] != 102.0 || quotes[0]["change"] != 2.0 {
		t.Fatalf("quotes %v", quotes)
	}
	var history []map[string]any
	get("/api/quotes/AAPL/history?limit=2", &history)
	if len(history) != 2 || history[0]["price"] != 101.0 || history[1]["price"] != 102.0 {
		t.Fatalf("history %v", history)
	}
	var games []map[string]any
	get("/api/games", &games)
	if len(games) != 1 || games[0]["away_score"] != 1.0 {
		t.Fatalf("games %v", games)
	}
	var game map[string]any
	get("/api/games/1", &game)
	if plays := game["plays"].([]any); len(plays) != 1 || plays[0].(map[string]any)["scorer"] != "Morris" {
		t.Fatalf("game %v", game)
	}
	var ready map[string]any
	get("/readyz", &ready)
	resp, err := http.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
}

// Conflation is for slow clients only: a viewer that keeps up gets every event of a
// burst, and a resume gets every missed event, however many (beyond ConflateAt).
func TestNoConflationForClientsThatKeepUp(t *testing.T) {
	e := newEnv(t, 4096)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, price) SELECT 'S' || i, 100 FROM generate_series(1, 50) i`)
	live := e.connect(t, "", "")
	live.expect("snapshot")
	testdb.Exec(t, e.db, `UPDATE quotes SET price = price + 1`) // 50 events to resume from
	first := live.expect("price")
	for i := 1; i < 50; i++ {
		live.expect("price")
	}
	for i := 0; i < 20; i++ { // 1,000 events in bursts of 50, far over ConflateAt (256)
		testdb.Exec(t, e.db, `UPDATE quotes SET price = price + 1`)
	}
	want := e.logIDs(t, id(t, first))
	if len(want) != 1049 {
		t.Fatalf("log has %d events after %s, want 1049", len(want), first.ID)
	}
	resumed := e.connect(t, "", first.ID)
	for _, c := range []struct {
		*client
		want []int64
	}{{live, want[49:]}, {resumed, want}} {
		for i, w := range c.want {
			if ev := c.expect("price"); id(t, ev) != w {
				t.Fatalf("event %d: id %s, want %d (conflated or lost)", i, ev.ID, w)
			}
		}
	}
}
