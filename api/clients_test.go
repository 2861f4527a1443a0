package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/internal/testdb"
)

// goSSE is a stream read by tmaxmax/go-sse with its default settings (reconnects
// with backoff, taking the server's retry: as the first delay; 64 KiB per event).
type goSSE struct {
	t       *testing.T
	events  chan gosse.Event
	retried chan error // each reconnection go-sse starts
	done    chan error // Connect's return: a permanent failure, or the end of the test
	ctx     context.Context
}

func openGoSSE(t *testing.T, url string, header map[string]string) *goSSE {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	g := &goSSE{t: t, events: make(chan gosse.Event, 1024), retried: make(chan error, 64), done: make(chan error, 1), ctx: ctx}
	client := *gosse.DefaultClient
	client.OnRetry = func(err error, _ time.Duration) {
		select {
		case g.retried <- err:
		default:
		}
	}
	conn := client.NewConnection(req)
	conn.SubscribeToAll(func(ev gosse.Event) { g.events <- ev })
	go func() { g.done <- conn.Connect() }()
	t.Cleanup(func() { cancel(); <-g.done })
	return g
}

// next is the next event other than a heartbeat. Every event must have a name: an
// unnamed one is what go-sse makes of a block with no data (a lone retry:).
func (g *goSSE) next(what string) gosse.Event {
	g.t.Helper()
	for {
		select {
		case ev := <-g.events:
			if ev.Type == "" || ev.Type == "message" {
				g.t.Fatalf("waiting for %s: go-sse dispatched an unnamed event %q", what, ev.Data)
			}
			if ev.Type == "heartbeat" {
				continue
			}
			return ev
		case err := <-g.done:
			g.t.Fatalf("waiting for %s: go-sse gave up: %v", what, err)
		case <-g.ctx.Done():
			g.t.Fatalf("waiting for %s: %v", what, g.ctx.Err())
		}
	}
}

// A full server turns go-sse away in a way it retries by itself: when a slot frees,
// it comes back, gets the board and then live changes.
func TestGoSSEComesBackWhenAFullServerFrees(t *testing.T) {
	e := newEnvWith(t, 64, func(d *api.Deps) { d.Limits = api.Limits{MaxStreams: 1} })
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, name, price) VALUES ('AAPL', 'Apple', 190)`)
	occupant := e.connect(t, "", "")
	occupant.expect("snapshot")

	g := openGoSSE(t, e.url+"/events", nil)
	ev := g.next("the refusal")
	var why map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &why); err != nil || ev.Type != "unavailable" || why["limit"] != "total" {
		t.Fatalf("first event %q %s (%v), want unavailable for the total limit", ev.Type, ev.Data, err)
	}
	select {
	case err := <-g.retried: // the server ended the refused stream; go-sse waits retry: and returns
		t.Logf("go-sse retrying after: %v", err)
	case <-g.ctx.Done():
		t.Fatal("go-sse did not schedule a reconnection")
	}
	occupant.close()
	for {
		ev = g.next("the snapshot after a slot freed")
		if ev.Type == "snapshot" {
			break
		}
		if ev.Type != "unavailable" {
			t.Fatalf("got %q, want unavailable or snapshot", ev.Type)
		}
	}
	testdb.Exec(t, e.db, `UPDATE quotes SET price = 191.5 WHERE symbol = 'AAPL'`)
	if ev = g.next("the live price"); ev.Type != "price" {
		t.Fatalf("got %q %s, want the price change", ev.Type, ev.Data)
	}
}

// A Last-Event-ID that is not an id of ours gets reset and a snapshot, not an error.
func TestGoSSEWithAMalformedLastEventIDGetsTheBoard(t *testing.T) {
	e := newEnv(t, 64)
	g := openGoSSE(t, e.url+"/events", map[string]string{"Last-Event-ID": "not-an-id"})
	if ev := g.next("reset"); ev.Type != "reset" {
		t.Fatalf("got %q, want reset", ev.Type)
	}
	if ev := g.next("snapshot"); ev.Type != "snapshot" {
		t.Fatalf("got %q, want snapshot", ev.Type)
	}
}

// On connect go-sse sees the snapshot first: the stream's retry: rides on a real
// event, so no empty unnamed event is dispatched (next fails on one).
func TestGoSSESeesNoEmptyEventOnConnect(t *testing.T) {
	e := newEnv(t, 64)
	testdb.Exec(t, e.db, `INSERT INTO quotes (symbol, name, price) VALUES ('AAPL', 'Apple', 190)`)
	g := openGoSSE(t, e.url+"/events", nil)
	if ev := g.next("snapshot"); ev.Type != "snapshot" {
		t.Fatalf("first event %q, want snapshot", ev.Type)
	}
	testdb.Exec(t, e.db, `UPDATE quotes SET price = 191 WHERE symbol = 'AAPL'`)
	if ev := g.next("price"); ev.Type != "price" {
		t.Fatalf("got %q, want price", ev.Type)
	}
}

// With a token, go-sse is refused with a 401 (a permanent failure to it) unless it
// sends the token, in whatever case it spells the scheme.
func TestGoSSEWithABearerToken(t *testing.T) {
	e := newEnvWith(t, 64, func(d *api.Deps) { d.Access.Token = "s3cret" })
	g := openGoSSE(t, e.url+"/events", nil)
	select {
	case err := <-g.done:
		if err == nil {
			t.Fatal("go-sse connected without the token")
		}
		g.done <- err // for the cleanup
	case <-g.ctx.Done():
		t.Fatal("no 401 without the token")
	}
	g = openGoSSE(t, e.url+"/events", map[string]string{"Authorization": "bearer s3cret"})
	if ev := g.next("snapshot"); ev.Type != "snapshot" {
		t.Fatalf("got %q, want snapshot", ev.Type)
	}
}
