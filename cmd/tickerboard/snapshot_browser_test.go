package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tickerboard/tickerboard/frontend"
	"github.com/tickerboard/tickerboard/internal/testdb"
)

// A board of 1,000 symbols is several times what one SSE event may carry; the page
// puts its parts together and shows every row, then follows live changes.
func TestBrowserLoadsALargeBoard(t *testing.T) {
	_, dbURL := testdb.Open(t)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, name, price, prev_close, volume)
		SELECT 'TB' || lpad(i::text, 4, '0'), 'Tickerboard test listing number ' || i || ' Incorporated', 100, 100, 0
		FROM generate_series(0, 999) i`)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")
	page.waitFor("1,000 rows", `document.querySelectorAll('#quotes tbody tr').length === 1000`)
	if s := stats(page); s.Snapshots != 1 || s.Resets != 0 {
		t.Errorf("page stats %+v: want one whole snapshot, no reset", s)
	}
	rows := eval[[]string](page, `[...document.querySelectorAll('#quotes tbody tr')].map((tr) => tr.dataset.symbol)`)
	if rows[0] != "TB0000" || rows[999] != "TB0999" {
		t.Errorf("rows run from %s to %s, want TB0000 to TB0999", rows[0], rows[999])
	}

	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 123.45 WHERE symbol = 'TB0500'`)
	page.waitFor("the live change", `document.querySelector('#quotes tr[data-symbol="TB0500"] .price')?.textContent.includes('123.45')`)
}

// A full server makes the page wait, and the page says so; once a slot frees it
// connects by itself.
func TestBrowserWaitsForAFullServer(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0", "-max-streams", "1")

	// Another viewer takes the only slot.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Body.Close()
	if holder.StatusCode != http.StatusOK {
		t.Fatalf("the first viewer got %s", holder.Status)
	}

	page := newTab(t, newBrowser(t), "")
	page.do(chromedp.Navigate(srv.URL + "/"))
	page.waitFor("the busy message", `document.querySelector('#status [data-field="error"]').textContent.startsWith('Server busy \u2014 retrying in ')`)
	msg := eval[string](page, `document.querySelector('#status [data-field="error"]').textContent`)
	if !strings.HasSuffix(msg, " s") {
		t.Errorf("busy message %q, want it to end in seconds", msg)
	}
	if n := eval[int](page, `document.querySelectorAll('#quotes tbody tr').length`); n != 0 {
		t.Errorf("%d quotes shown while the server was full", n)
	}

	holder.Body.Close() // the slot frees
	cancel()
	page.waitFor("the board, by itself", `window.tickerboard?.state === 'live' && window.tickerboard.stats.snapshots === 1 &&
		document.querySelectorAll('#quotes tbody tr').length === 3`)
	if msg := eval[string](page, `document.querySelector('#status [data-field="error"]').textContent`); msg != "" {
		t.Errorf("the busy message %q is still shown on a live board", msg)
	}
}

// A stream that drops between the parts of a snapshot leaves the page with nothing
// half-loaded: the first part had no id, so the browser reconnects without a
// Last-Event-ID, the pending part is dropped, and the board is the next whole snapshot.
func TestBrowserDropsAHalfSnapshot(t *testing.T) {
	quote := func(symbol string, price float64) string {
		return fmt.Sprintf(`{"symbol":%q,"name":"%s Corp.","price":%.2f,"prev_close":%.2f,"day_open":null,"day_high":%.2f,"day_low":%.2f,"volume":1,"updated_at":"2026-12-01T10:00:00.000000+00:00","change":0,"change_pct":0}`,
			symbol, symbol, price, price, price, price)
	}
	part := func(id string, i, n int, quotes ...string) string {
		if id != "" {
			id = "id: " + id + "\n"
		}
		return fmt.Sprintf("%sevent: snapshot\ndata: {\"id\":7,\"part\":%d,\"parts\":%d,\"quotes\":[%s],\"games\":[],\"plays\":[]}\n\n",
			id, i, n, strings.Join(quotes, ","))
	}
	lastIDs := make(chan string, 8)
	static, err := fs.Sub(frontend.Files, "static")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServerFS(static))
	var connections atomic.Int32
	stop := make(chan struct{})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		lastIDs <- r.Header.Get("Last-Event-ID")
		w.Header().Set("Content-Type", "text/event-stream")
		if connections.Add(1) == 1 {
			fmt.Fprint(w, "retry: 100\n"+part("", 1, 2, quote("OLD", 1))) // and the connection drops
			return
		}
		fmt.Fprint(w, "retry: 100\n"+part("", 1, 2, quote("AAA", 2))+part("7", 2, 2, quote("BBB", 3)))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // after the browser's cleanup, and after stop
	t.Cleanup(func() { close(stop) })

	page := newTab(t, newBrowser(t), "", withoutSharedWorker)
	page.open(srv.URL + "/")
	rows := eval[[]string](page, `[...document.querySelectorAll('#quotes tbody tr')].map((tr) => tr.dataset.symbol)`)
	wantEqual(t, "rows", rows, []string{"AAA", "BBB"})
	if s := stats(page); s.Snapshots != 1 {
		t.Errorf("page stats %+v, want one snapshot (the whole one)", s)
	}
	for i := range 2 { // both requests have been made: the page has the second's board
		if id := <-lastIDs; id != "" {
			t.Errorf("request %d had Last-Event-ID %q: a part before the last must set no id", i+1, id)
		}
	}
}
