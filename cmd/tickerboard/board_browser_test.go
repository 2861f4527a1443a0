package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// rowOrder reads the ticker's visible rows, top to bottom, as "AAPL,GOOG,…".
const rowOrder = `[...document.querySelectorAll('#quotes tbody tr')].filter((tr) => !tr.hidden).map((tr) => tr.dataset.symbol).join()`

// sortState is each sorted column's aria-sort, as "Chg %:descending".
const sortState = `[...document.querySelectorAll('#quotes thead th[aria-sort]')].map((th) => th.textContent + ':' + th.getAttribute('aria-sort')).join()`

func TestBrowserSortsTheTicker(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL) // AAPL +1.35 %, GOOG +0.79 %, MSFT −0.92 %
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")
	wantEqual(t, "order on load", eval[string](page, rowOrder), "AAPL,GOOG,MSFT")
	wantEqual(t, "sorted column on load", eval[string](page, sortState), "Symbol:ascending")

	steps := []struct {
		click, order, state string
	}{
		{"change_pct", "AAPL,GOOG,MSFT", "Chg %:descending"}, // a number: largest first
		{"change_pct", "MSFT,GOOG,AAPL", "Chg %:ascending"},  // again: turned round
		{"volume", "AAPL,MSFT,GOOG", "Volume:descending"},
		{"price", "MSFT,AAPL,GOOG", "Last:descending"},
		{"name", "GOOG,AAPL,MSFT", "Name:ascending"},     // Alphabet, Apple, Microsoft
		{"symbol", "AAPL,GOOG,MSFT", "Symbol:ascending"}, // text: A to Z first
		{"symbol", "MSFT,GOOG,AAPL", "Symbol:descending"},
	}
	for _, s := range steps {
		page.do(chromedp.Click(chromedp.CSS(`#quotes thead button[data-sort="` + s.click + `"]`)))
		page.waitFor("the rows in order "+s.order+" after a click on "+s.click, `(`+rowOrder+`) === `+js(s.order))
		wantEqual(t, "sorted column after a click on "+s.click, eval[string](page, sortState), s.state)
	}

	// Sorted by change %, a price that moves a row moves it, by itself.
	page.do(chromedp.Click(chromedp.CSS(`#quotes thead button[data-sort="change_pct"]`)))
	page.waitFor("sorted by change %", `(`+rowOrder+`) === 'AAPL,GOOG,MSFT'`)
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 500.00 WHERE symbol = 'MSFT'`)
	page.waitFor("MSFT to the top on +20 %", `(`+rowOrder+`) === 'MSFT,AAPL,GOOG'`)
}

// The market session comes from the market table: the snapshot's row on load, then
// each `market` event, so an UPDATE typed into psql shows at once, with when it was set.
func TestBrowserShowsTheMarketSession(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	testdb.Exec(t, dbURL, `UPDATE market SET session = 'open'`)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "", inLocale("en-GB"), inTimeZone("UTC"))
	page.open(srv.URL + "/")
	const shown = `((el) => el.dataset.session + ': ' + el.textContent)(document.querySelector('#ticker [data-field="session"]'))`
	want := func(session, text string) string {
		at := queryValue[time.Time](t, dbURL, `SELECT updated_at FROM market`)
		return session + ": " + text + " · as of " + at.UTC().Format("15:04:05") + " UTC"
	}
	page.waitFor("the session from the snapshot", shown+` === `+js(want("open", "Market open")))
	for _, s := range []struct{ session, text string }{{"closed", "Market closed"}, {"pre-open", "Pre-open"}, {"open", "Market open"}} {
		testdb.Exec(t, dbURL, `UPDATE market SET session = $1`, s.session)
		w := want(s.session, s.text)
		page.waitFor("the page to show "+w, shown+` === `+js(w))
	}
}

func TestBrowserShowsTopMovers(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	// Twelve more listings, moved −6 % … +5 % against a close of 100.
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, name, price, prev_close, volume)
		SELECT 'M' || lpad(i::text, 2, '0'), 'Mover ' || i, 100 + (i - 7), 100, 1000 FROM generate_series(1, 12) i`)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")
	want := func() string {
		return strings.Join(queryStrings(t, dbURL, `SELECT symbol FROM quotes
			ORDER BY abs(price / prev_close - 1) DESC, symbol LIMIT 10`), ",")
	}

	page.do(chromedp.Click(chromedp.CSS(`#ticker button.movers`)))
	page.waitFor("the ten biggest moves", `(`+rowOrder+`) === `+js(want()))
	wantEqual(t, "movers button", eval[string](page, `document.querySelector('#ticker button.movers').getAttribute('aria-pressed')`), "true")
	wantEqual(t, "sorted column in the movers view", eval[string](page, sortState), "")

	// A small mover that jumps joins them.
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 150 WHERE symbol = 'M07'`)
	page.waitFor("M07 at the top of the movers", `(`+rowOrder+`).startsWith('M07,') && (`+rowOrder+`) === `+js(want()))

	page.do(chromedp.Click(chromedp.CSS(`#ticker button.movers`)))
	page.waitFor("every row back, by symbol", fmt.Sprintf(`(%s).split(',').length === 15 && (%s).startsWith('AAPL,GOOG,M01,')`, rowOrder, rowOrder))
}

// queryStrings runs a query that returns one text column.
func queryStrings(t testing.TB, dbURL, sql string, args ...any) []string {
	t.Helper()
	return queryValue[[]string](t, dbURL, `SELECT coalesce(array_agg(x), '{}') FROM (`+sql+`) q(x)`, args...)
}

// queryValue runs a query that returns one value of type T.
func queryValue[T any](t testing.TB, dbURL, sql string, args ...any) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return v
}

// A viewer in Germany, in India's time zone, reads numbers and times their way, and
// sees which zone the times are in.
func TestBrowserFormatsForTheViewer(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 1234.56, volume = 5100000 WHERE symbol = 'MSFT'`)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	// Headless Chromium ignores --lang; the DevTools locale override is what a German
	// system locale gives the page's Intl.
	page := newTab(t, newBrowser(t), "", inLocale("de-DE"), inTimeZone("Asia/Kolkata"))
	page.open(srv.URL + "/")
	if got := eval[[]string](page, `((o) => [o.locale, o.timeZone])(Intl.DateTimeFormat().resolvedOptions())`); got[0] != "de-DE" ||
		(got[1] != "Asia/Kolkata" && got[1] != "Asia/Calcutta") {
		t.Fatalf("the page's locale and zone are %q, want de-DE in India", got)
	}

	b := eval[boardDOM](page, readBoard)
	wantEqual(t, "MSFT in German", quoteCells(b, "MSFT"),
		[]string{"MSFT", "Microsoft Corp.", "1.234,56", "+819,56", "+197,48\u00A0%", "1.234,56", "411,20", "5,1\u00A0Mio.", ""})
	wantEqual(t, "MSFT volume in full", eval[string](page, `document.querySelector('#quotes tr[data-symbol="MSFT"] .volume').title`), "5.100.000 shares")

	zone, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	newest := queryValue[time.Time](t, dbURL, `SELECT max(updated_at) FROM quotes`)
	wantEqual(t, "as of", eval[string](page, `document.querySelector('#ticker [data-field="quotes-as-of"]').textContent`),
		"as of "+newest.In(zone).Format("15:04:05")+" GMT+5:30")
	play := queryValue[time.Time](t, dbURL, `SELECT max(created_at) FROM scores WHERE game_id = $1`, games.live)
	wantEqual(t, "newest play's time", eval[string](page, `document.querySelector('#plays li .at').textContent`),
		play.In(zone).Format("15:04:05"))
}

// chartDOM is what the open chart shows.
type chartDOM struct {
	Symbol  string   `json:"symbol"`
	Points  int      `json:"points"`
	Last    string   `json:"last"`
	Head    []string `json:"head"`   // symbol, name, last, change
	Levels  []string `json:"levels"` // prev close, high, low
	LastY   float64  `json:"lastY"`
	HighY   float64  `json:"highY"`
	History string   `json:"history"`
}

const readChart = `(() => {
	const d = document.querySelector('#detail');
	const svg = d.querySelector('svg.chart');
	const pts = svg.querySelector('polyline.price').getAttribute('points').trim().split(' ');
	return {
		symbol: d.hidden ? '' : d.dataset.symbol, points: Number(svg.dataset.points), last: svg.dataset.last,
		head: [...d.querySelector('.detail-head').children].slice(0, 4).map((e) => e.textContent),
		levels: [...d.querySelectorAll('.levels dd')].map((e) => e.textContent),
		lastY: Number(pts[pts.length - 1].split(',')[1]),
		highY: Number(svg.querySelector('.rule.day_high').getAttribute('y1')),
		history: d.dataset.history ?? '',
	};
})()`

func TestBrowserChartsASymbol(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL) // AAPL: 185.00, 186.00, 186.50, 187.50
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")

	page.do(chromedp.Click(chromedp.CSS(`#quotes tr[data-symbol="AAPL"] td.name`)))
	page.waitFor("AAPL's chart with its history", `document.querySelector('#detail').dataset.history === '4'`)
	c := eval[chartDOM](page, readChart)
	wantEqual(t, "chart head", c.Head, []string{"AAPL", "Apple Inc.", "187.50", "+2.50 (+1.35%)"})
	wantEqual(t, "prev close, high, low", c.Levels, []string{"185.00", "187.50", "185.00"})
	if c.Symbol != "AAPL" || c.Points != 4 || c.Last != "187.5" {
		t.Errorf("chart %+v; want AAPL's 4 stored prices, the last 187.5", c)
	}
	if c.LastY != c.HighY {
		t.Errorf("the last price (the day's high) is drawn at y %.1f, the high's rule at %.1f", c.LastY, c.HighY)
	}

	// A new high moves the chart: one more point, the high's rule and figures with it.
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 190.00 WHERE symbol = 'AAPL'`)
	page.waitFor("the new price on the chart", `document.querySelector('#detail svg.chart').dataset.last === '190'`)
	c = eval[chartDOM](page, readChart)
	wantEqual(t, "chart head after a tick", c.Head, []string{"AAPL", "Apple Inc.", "190.00", "+5.00 (+2.70%)"})
	wantEqual(t, "levels after a tick", c.Levels, []string{"185.00", "190.00", "185.00"})
	if c.Points != 5 || c.LastY != c.HighY {
		t.Errorf("chart after a tick %+v; want 5 points, the last on the high's rule", c)
	}
	// Another symbol's tick leaves it alone.
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 420.00 WHERE symbol = 'MSFT'`)
	page.waitFor("MSFT's tick in the table", `document.querySelector('#quotes tr[data-symbol="MSFT"] .price .v').textContent === '420.00'`)
	if c := eval[chartDOM](page, readChart); c.Points != 5 || c.Symbol != "AAPL" {
		t.Errorf("after another symbol's tick the chart is %+v", c)
	}

	page.do(chromedp.Click(chromedp.CSS(`#detail button.close`)))
	page.waitFor("the chart closed", `document.querySelector('#detail').hidden`)
}
