package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
