package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// The browser tests drive the real page in headless Chromium against the real server
// and Postgres. Data changes go in through SQL, as psql would make them, and every
// wait polls the DOM for the expected text.

// seeded is what seedBoard put in the database.
type seeded struct {
	live, scheduled, final int64 // game ids
}

// seedBoard fills a fresh database with three quotes (with price history for their
// sparklines), a live, a scheduled and a final game, and two plays.
func seedBoard(t *testing.T, dbURL string) seeded {
	t.Helper()
	testdb.Exec(t, dbURL, `
INSERT INTO quotes (symbol, name, price, prev_close, volume) VALUES
	('AAPL', 'Apple Inc.', 185.00, 185.00, 1200000),
	('MSFT', 'Microsoft Corp.', 415.00, 415.00, 900000),
	('GOOG', 'Alphabet Inc.', 140.00, 140.00, 500000);
UPDATE quotes SET price = 186.00 WHERE symbol = 'AAPL';
UPDATE quotes SET price = 186.50 WHERE symbol = 'AAPL';
UPDATE quotes SET price = 187.50 WHERE symbol = 'AAPL';
UPDATE quotes SET price = 411.20 WHERE symbol = 'MSFT';
UPDATE quotes SET price = 141.10 WHERE symbol = 'GOOG';`)
	var s seeded
	s.live = queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team, status, period, clock, starts_at)
		VALUES ('NBA', 'Celtics', 'Lakers', 'live', 2, '7:42', now() - interval '1 hour') RETURNING id`)
	s.scheduled = queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team, starts_at)
		VALUES ('NHL', 'Rangers', 'Bruins', now() + interval '3 hours') RETURNING id`)
	s.final = queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team, home_score, away_score, status, period, clock)
		VALUES ('NFL', 'Chiefs', 'Bills', 27, 24, 'final', 4, '0:00') RETURNING id`)
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 3, 'J. Tatum')`, s.live)
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'away', 2, 'L. James')`, s.live)
	return s
}

// queryInt runs a query that returns one integer, such as an INSERT … RETURNING id.
func queryInt(t testing.TB, dbURL, sql string, args ...any) int64 {
	t.Helper()
	return queryValue[int64](t, dbURL, sql, args...)
}

// boardDOM is what the page shows, read from the DOM.
type boardDOM struct {
	Quotes    []rowDOM `json:"quotes"`
	Live      []rowDOM `json:"live"`
	Scheduled []rowDOM `json:"scheduled"`
	Final     []rowDOM `json:"final"`
	Plays     []rowDOM `json:"plays"`
	State     string   `json:"state"`
	StateText string   `json:"stateText"`
	LastID    string   `json:"lastId"`
}

// rowDOM is one table row or list item: its key and the text of each cell.
type rowDOM struct {
	Key    string   `json:"key"`
	Cells  []string `json:"cells"`
	Points int      `json:"points"` // sparkline points, for quotes
}

const readBoard = `(() => {
	const cells = (el) => [...el.children].map((c) => c.textContent);
	const games = (group) => [...document.querySelectorAll('#games tbody[data-group="' + group + '"] tr[data-game]')]
		.map((tr) => ({key: tr.dataset.game, cells: cells(tr)}));
	return {
		quotes: [...document.querySelectorAll('#quotes tbody tr')].map((tr) => ({
			key: tr.dataset.symbol, cells: cells(tr), points: Number(tr.querySelector('.spark').dataset.points ?? 0)})),
		live: games('live'), scheduled: games('scheduled'), final: games('final'),
		plays: [...document.querySelectorAll('#plays li')].map((li) => ({key: li.dataset.play, cells: cells(li)})),
		state: document.querySelector('#status').dataset.state,
		stateText: document.querySelector('#status [data-field="state"]').textContent,
		lastId: document.querySelector('#status [data-field="last-id"]').textContent,
	};
})()`

// pageStats are the page's own counters (window.tickerboard.stats).
type pageStats struct {
	Events    int `json:"events"`
	Repeats   int `json:"repeats"`
	Snapshots int `json:"snapshots"`
	Resets    int `json:"resets"`
}

func stats(tb *tab) pageStats {
	tb.t.Helper()
	return eval[pageStats](tb, `window.tickerboard.stats`)
}

// gameRow is a game's cells: away, away score, home score, home, and time with league.
func gameRow(id int64, cells ...string) rowDOM {
	return rowDOM{Key: strconv.FormatInt(id, 10), Cells: cells}
}

// playTexts is the text of each play in the list: time, team, points, scorer, when;
// the time of day is dropped, as it depends on the clock.
func playTexts(plays []rowDOM) [][]string {
	out := make([][]string, len(plays))
	for i, p := range plays {
		out[i] = p.Cells[1:]
	}
	return out
}

func quoteCells(b boardDOM, symbol string) []string {
	for _, q := range b.Quotes {
		if q.Key == symbol {
			return q.Cells
		}
	}
	return nil
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

func TestBrowserLoadsSnapshot(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")
	page.waitFor("every sparkline to have its history", `[...document.querySelectorAll('#quotes .spark')].every((s) => Number(s.dataset.points) >= 2)`)

	b := eval[boardDOM](page, readBoard)
	testdb.AwaitCapture(t, dbURL) // everything committed is in the log
	head := queryInt(t, dbURL, `SELECT max(id) FROM events`)
	wantEqual(t, "status", []string{b.State, b.StateText, b.LastID}, []string{"live", "live", fmt.Sprintf("#%d", head)})
	var symbols []string
	for _, q := range b.Quotes {
		symbols = append(symbols, q.Key)
	}
	wantEqual(t, "ticker rows", symbols, []string{"AAPL", "GOOG", "MSFT"})
	// Symbol, name, last (with no arrow before any tick), change, change %, high, low, volume, trend.
	wantEqual(t, "AAPL", quoteCells(b, "AAPL"),
		[]string{"AAPL", "Apple Inc.", "187.50", "+2.50", "+1.35%", "187.50", "185.00", "1.2M", ""})
	wantEqual(t, "MSFT", quoteCells(b, "MSFT"),
		[]string{"MSFT", "Microsoft Corp.", "411.20", "\u22123.80", "\u22120.92%", "415.00", "411.20", "900K", ""})
	if b.Quotes[0].Points != 4 {
		t.Errorf("AAPL sparkline has %d points, want its 4 stored prices", b.Quotes[0].Points)
	}

	wantEqual(t, "live games", b.Live, []rowDOM{gameRow(games.live, "Lakers", "2", "3", "Celtics", "Q2 7:42 NBA")})
	if len(b.Scheduled) != 1 || b.Scheduled[0].Key != strconv.FormatInt(games.scheduled, 10) ||
		!reflect.DeepEqual(b.Scheduled[0].Cells[:4], []string{"Bruins", "0", "0", "Rangers"}) ||
		!strings.HasSuffix(b.Scheduled[0].Cells[4], " NHL") {
		t.Errorf("scheduled games: %+v", b.Scheduled)
	}
	wantEqual(t, "final games", b.Final, []rowDOM{gameRow(games.final, "Bills", "24", "27", "Chiefs", "Final NFL")})
	wantEqual(t, "plays, newest first", playTexts(b.Plays), [][]string{
		{"Lakers", "+2", "L. James", "Q2 7:42"},
		{"Celtics", "+3", "J. Tatum", "Q2 7:42"},
	})
	if mode := eval[string](page, `window.tickerboard.mode`); mode != "shared" {
		t.Errorf("mode = %q, want the shared stream", mode)
	}
}

func TestBrowserScoreInsert(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")

	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 3, 'P. Pritchard')`, games.live)
	row := fmt.Sprintf(`#games tr[data-game="%d"]`, games.live)
	page.waitFor("the home score to go from 3 to 6",
		`document.querySelector('`+row+` .home-score')?.textContent === '6'`)
	page.waitFor("the play at the top of the list",
		`document.querySelector('#plays li .scorer')?.textContent === 'P. Pritchard'`)

	b := eval[boardDOM](page, readBoard)
	wantEqual(t, "live game", b.Live, []rowDOM{gameRow(games.live, "Lakers", "2", "6", "Celtics", "Q2 7:42 NBA")})
	wantEqual(t, "newest play", playTexts(b.Plays[:1]), [][]string{{"Celtics", "+3", "P. Pritchard", "Q2 7:42"}})
	flashes := eval[[]string](page, `['.home-score', '.away-score'].map((c) => document.querySelector('`+row+` ' + c).dataset.flash ?? '')`)
	if !strings.HasPrefix(flashes[0], "up-") || flashes[1] != "" {
		t.Errorf("flash of home, away score = %q; want only the home score flashing up", flashes)
	}
}

func TestBrowserPriceUpdate(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")
	const cell = `document.querySelector('#quotes tr[data-symbol="AAPL"] td.price')`
	layout := eval[string](page, boxes)

	// Poll in the same frame as the text appears, while the flash is still running.
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 190.00 WHERE symbol = 'AAPL'`)
	page.waitFor("AAPL to tick up to 190.00 and flash",
		cell+`.textContent === '190.00\u25B2' && `+cell+`.getAnimations({subtree: true}).some((a) => a.animationName.startsWith('flash-up-'))`)
	b := eval[boardDOM](page, readBoard)
	wantEqual(t, "AAPL after the tick up", quoteCells(b, "AAPL"),
		[]string{"AAPL", "Apple Inc.", "190.00\u25B2", "+5.00", "+2.70%", "190.00", "185.00", "1.2M", ""})
	if r, g := rgb(t, eval[string](page, `getComputedStyle(`+cell+`).color`)); g <= r {
		t.Errorf("price that went up is coloured rgb(%d, %d, …); want green", r, g)
	}
	if f := eval[string](page, `document.querySelector('#quotes tr[data-symbol="AAPL"] td.volume').dataset.flash ?? ''`); f != "" {
		t.Errorf("volume did not change but flashed %q", f)
	}

	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 184.00 WHERE symbol = 'AAPL'`)
	page.waitFor("AAPL to tick down to 184.00 and flash",
		cell+`.textContent === '184.00\u25BC' && `+cell+`.getAnimations({subtree: true}).some((a) => a.animationName.startsWith('flash-down-'))`)
	b = eval[boardDOM](page, readBoard)
	wantEqual(t, "AAPL after the tick down", quoteCells(b, "AAPL"),
		[]string{"AAPL", "Apple Inc.", "184.00\u25BC", "\u22121.00", "\u22120.54%", "190.00", "184.00", "1.2M", ""})
	if r, g := rgb(t, eval[string](page, `getComputedStyle(`+cell+`).color`)); r <= g {
		t.Errorf("price that went down is coloured rgb(%d, %d, …); want red", r, g)
	}
	if got := eval[string](page, `document.querySelector('#quotes tr[data-symbol="AAPL"] td.low').dataset.flash`); !strings.HasPrefix(got, "down-") {
		t.Errorf("new day low flashed %q, want down", got)
	}

	// Nothing jumps: wider numbers, arrows and signs leave every cell where it was.
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 1234.56, volume = 987654321 WHERE symbol = 'MSFT'`)
	page.waitFor("MSFT at 1,234.56", `document.querySelector('#quotes tr[data-symbol="MSFT"] .price .v').textContent === '1,234.56'`)
	if got := eval[string](page, boxes); got != layout {
		t.Errorf("cells moved or resized on updates:\n before %s\n after  %s", layout, got)
	}
}

// boxes lists the position and size of every cell of both tables, to compare.
const boxes = `JSON.stringify([...document.querySelectorAll('#quotes th, #quotes td, #games th, #games td')].map((c) => {
	const r = c.getBoundingClientRect();
	return [r.x, r.y, r.width, r.height].map(Math.round).join();
}))`

var rgbColor = regexp.MustCompile(`^rgba?\((\d+), (\d+), (\d+)`)

// rgb reads the red and green of a computed CSS colour.
func rgb(t *testing.T, color string) (r, g int) {
	t.Helper()
	m := rgbColor.FindStringSubmatch(color)
	if m == nil {
		t.Fatalf("unreadable colour %q", color)
	}
	r, _ = strconv.Atoi(m[1])
	g, _ = strconv.Atoi(m[2])
	return r, g
}

func TestBrowserGamesComeAndGo(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")

	id := queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team, starts_at)
		VALUES ('NHL', 'Oilers', 'Flames', now() + interval '2 hours') RETURNING id`)
	row := fmt.Sprintf(`tr[data-game="%d"]`, id)
	page.waitFor("the new game among the scheduled ones",
		`document.querySelector('#games tbody[data-group="scheduled"] `+row+` .home')?.textContent === 'Oilers'`)

	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'away', 1, 'N. Kadri')`, id)
	page.waitFor("the game to go live on its first goal",
		`document.querySelector('#games tbody[data-group="live"] `+row+` .away-score')?.textContent === '1'`)
	page.waitFor("the goal in the plays", `document.querySelector('#plays li .scorer')?.textContent === 'N. Kadri'`)

	testdb.Exec(t, dbURL, `DELETE FROM games WHERE id = $1`, id)
	page.waitFor("the deleted game to go", `!document.querySelector('#games `+row+`')`)
	page.waitFor("its play to go", `![...document.querySelectorAll('#plays .scorer')].some((s) => s.textContent === 'N. Kadri')`)

	b := eval[boardDOM](page, readBoard)
	if len(b.Live) != 1 || b.Live[0].Key != strconv.FormatInt(games.live, 10) || len(b.Scheduled) != 1 || len(b.Final) != 1 {
		t.Errorf("other games changed: live %+v, scheduled %+v, final %+v", b.Live, b.Scheduled, b.Final)
	}
	if n := eval[int](page, `document.querySelectorAll('#games tbody[data-group="scheduled"]:not([hidden]) tr[data-game]').length`); n != 1 {
		t.Errorf("scheduled group shows %d games, want 1", n)
	}
}

func TestBrowserReconnectCatchesUp(t *testing.T) {
	for _, mode := range []string{"shared", "direct"} {
		t.Run(mode, func(t *testing.T) {
			_, dbURL := testdb.Open(t)
			games := seedBoard(t, dbURL)
			srv := startServer(t, dbURL, "127.0.0.1:0")
			var opts []tabOption
			if mode == "direct" {
				opts = append(opts, withoutSharedWorker)
			}
			page := newTab(t, newBrowser(t), "", opts...)
			page.open(srv.URL + "/")
			if got := eval[string](page, `window.tickerboard.mode`); got != mode {
				t.Fatalf("page streams in mode %q, want %q", got, mode)
			}
			before := stats(page)
			last := eval[int64](page, `window.tickerboard.lastId`)
			streamer := page.ctx // the target that holds the EventSource
			if mode == "shared" {
				streamer = sharedWorker(t, page.browser)
			}
			requests := recordStreams(t, streamer)

			srv.Stop()
			page.waitFor("the status to say reconnecting",
				`document.querySelector('#status').dataset.state === 'reconnecting' && document.querySelector('#status [data-field="state"]').textContent === 'reconnecting'`)

			// Changes committed while no server is up.
			testdb.Exec(t, dbURL, `UPDATE quotes SET price = 201.00 WHERE symbol = 'AAPL'`)
			testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 2, 'D. White')`, games.live)
			added := queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team, starts_at)
				VALUES ('MLS', 'Galaxy', 'Sounders', now() + interval '1 day') RETURNING id`)
			testdb.Exec(t, dbURL, `DELETE FROM games WHERE id = $1`, games.final)

			startServer(t, dbURL, srv.Addr)
			// Under the WAL capture, what was committed while no instance ran is logged
			// once one leads again.
			testdb.AwaitCapture(t, dbURL)
			missed := int(queryInt(t, dbURL, `SELECT count(*) FROM events WHERE id > $1`, last))
			page.waitFor("the status to say live again", `document.querySelector('#status').dataset.state === 'live'`)
			page.waitFor("every missed change on the page", fmt.Sprintf(`
				document.querySelector('#quotes tr[data-symbol="AAPL"] .price .v').textContent === '201.00' &&
				document.querySelector('#plays li .scorer')?.textContent === 'D. White' &&
				document.querySelector('#games tr[data-game="%d"]') && !document.querySelector('#games tr[data-game="%d"]')`,
				added, games.final))
			if got := stats(page).Events; got != before.Events+missed {
				t.Errorf("page applied %d events since it loaded, want the %d it had plus the %d missed", got, before.Events, missed)
			}

			b := eval[boardDOM](page, readBoard)
			if got := quoteCells(b, "AAPL"); len(got) < 3 || got[2] != "201.00\u25B2" {
				t.Errorf("AAPL after reconnect: %q, want last 201.00▲", got)
			}
			wantEqual(t, "live game", b.Live, []rowDOM{gameRow(games.live, "Lakers", "2", "5", "Celtics", "Q2 7:42 NBA")})
			if len(b.Scheduled) != 2 || b.Scheduled[1].Key != strconv.FormatInt(added, 10) {
				t.Errorf("scheduled after reconnect: %+v, want the Bruins game then game %d", b.Scheduled, added)
			}
			if len(b.Final) != 0 {
				t.Errorf("final games after reconnect: %+v, want the deleted one gone", b.Final)
			}
			wantEqual(t, "plays", playTexts(b.Plays), [][]string{
				{"Celtics", "+2", "D. White", "Q2 7:42"},
				{"Lakers", "+2", "L. James", "Q2 7:42"},
				{"Celtics", "+3", "J. Tatum", "Q2 7:42"},
			})
			// Caught up through Last-Event-ID: no new snapshot, nothing twice.
			after := stats(page)
			if after.Snapshots != before.Snapshots || after.Resets != 0 || after.Repeats != 0 {
				t.Errorf("after reconnect: %+v; want the missed events only (snapshots %d, no resets or repeats)", after, before.Snapshots)
			}
			testdb.AwaitCapture(t, dbURL) // everything committed is in the log
			head := queryInt(t, dbURL, `SELECT max(id) FROM events`)
			if got := eval[int64](page, `window.tickerboard.lastId`); got != head {
				t.Errorf("last event id %d, want %d", got, head)
			}
			// It was the browser's own reconnect of the same EventSource: the same URL, no
			// ?lastEventId=, so the resume point the server honoured above came in the
			// Last-Event-ID header. The DevTools protocol does not report the headers a
			// shared worker's request really carried, so the header itself is checked
			// where the page holds the stream.
			reqs := requests.requests()
			want := streamRequest{URL: "/events"}
			if mode == "direct" {
				want.LastEventID = strconv.FormatInt(last, 10)
			}
			if len(reqs) == 0 || reqs[len(reqs)-1] != want {
				t.Errorf("stream requests while reconnecting: %+v; want the last to be %+v", reqs, want)
			}
		})
	}
}

// hostile are names that would run script, mislead or hide if the page ever parsed
// data as HTML or let it escape its cell.
var hostile = []string{
	`<img src=x onerror="window.__xss=1;alert(1)">`,
	`<script>window.__xss=2;alert(2)</script>`,
	`javascript:alert(3)`,
	`"><svg onload=alert(4)>`,
	"\u202Eevil.exe\u202C RTL",
	"Zero\u200Bwidth\u200D\uFEFF",
	`{{constructor.constructor('alert(5)')()}}`,
	`<a href="javascript:alert(6)">click</a>`,
}

func TestBrowserRendersHostileTextAsText(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	// Half arrive in the snapshot, half as live events.
	insert := func(i int, symbol string) (game int64) {
		a, b := hostile[i%len(hostile)], hostile[(i+1)%len(hostile)]
		testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, name, price) VALUES ($1, $2, 10)`, symbol, a)
		game = queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team) VALUES ($1, $2, $3) RETURNING id`,
			a[:min(len(a), 32)], a, b)
		testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 1, $2)`, game, b)
		return game
	}
	for i := 0; i < len(hostile); i += 2 {
		insert(i, fmt.Sprintf("X%d", i))
	}
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")
	for i := 1; i < len(hostile); i += 2 {
		insert(i, fmt.Sprintf("X%d", i))
	}
	page.waitFor("every hostile game", fmt.Sprintf(`document.querySelectorAll('#games tr[data-game]').length === %d`, 3+len(hostile)))
	page.waitFor("every hostile quote", fmt.Sprintf(`document.querySelectorAll('#quotes tbody tr').length === %d`, 3+len(hostile)))
	page.waitFor("every hostile play", fmt.Sprintf(`document.querySelectorAll('#plays li').length === %d`, 2+len(hostile)))

	for i, a := range hostile {
		b := hostile[(i+1)%len(hostile)]
		symbol := fmt.Sprintf("X%d", i)
		game := queryInt(t, dbURL, `SELECT id FROM games WHERE home_team = $1`, a)
		row := fmt.Sprintf(`#games tr[data-game="%d"]`, game)
		wantEqual(t, symbol+" name", eval[[]string](page,
			`((td) => [td.textContent, td.parentElement.title])(document.querySelector('#quotes tr[data-symbol="`+symbol+`"] td.name'))`),
			[]string{a, a})
		wantEqual(t, fmt.Sprintf("game %d league, away, home", game), eval[[]string](page,
			`['.league', '.away', '.home'].map((c) => document.querySelector('`+row+` ' + c).textContent)`),
			[]string{a[:min(len(a), 32)], b, a})
		wantEqual(t, fmt.Sprintf("game %d play team, scorer", game), eval[[]string](page,
			`((li) => [li.querySelector('.team').textContent, li.querySelector('.scorer').textContent])(document.querySelector('#plays li[data-game="`+strconv.FormatInt(game, 10)+`"]'))`),
			[]string{a, b})
	}
	if got := eval[string](page, `typeof window.__xss`); got != "undefined" {
		t.Errorf("window.__xss is %s: a payload ran", got)
	}
	if n := eval[int](page, `document.querySelectorAll('main img, main script, main iframe, main a, main svg:not(.spark):not(.chart)').length`); n != 0 {
		t.Errorf("%d elements made from data", n)
	}
	if csp := eval[[]string](page, `window.tickerboard.stats.cspViolations`); len(csp) != 0 {
		t.Errorf("CSP violations: %q", csp)
	}
}

func TestBrowserWatchlist(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	browser := newBrowser(t)
	page := newTab(t, browser, "")
	page.open(srv.URL + "/")
	requests := recordStreams(t, sharedWorker(t, browser))

	page.do(chromedp.SendKeys(chromedp.CSS("#watchlist"), "aapl, msft\n")) // Enter submits
	page.waitFor("only the watched symbols, from a new snapshot", `window.tickerboard.stats.snapshots === 2 &&
		[...document.querySelectorAll('#quotes tbody tr')].map((tr) => tr.dataset.symbol).join() === 'AAPL,MSFT'`)
	wantEqual(t, "page query", eval[string](page, `location.search`), "?symbols=AAPL,MSFT")
	streams := eval[[]struct {
		URL  string `json:"url"`
		Tabs int    `json:"tabs"`
	}](page, `window.tickerboard.streams()`)
	if len(streams) != 1 || !strings.HasSuffix(streams[0].URL, "/events?symbols=AAPL,MSFT") {
		t.Errorf("the shared worker streams %+v; want one stream of /events?symbols=AAPL,MSFT", streams)
	}
	wantEqual(t, "stream requests", requests.requests(), []streamRequest{{URL: "/events?symbols=AAPL,MSFT"}})

	// Events are delivered in commit order, so once the AAPL change is on the page a
	// GOOG change committed before it would have arrived too, were it sent.
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 150.00 WHERE symbol = 'GOOG'`)
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 191.00 WHERE symbol = 'AAPL'`)
	page.waitFor("the AAPL change", `document.querySelector('#quotes tr[data-symbol="AAPL"] .price .v').textContent === '191.00'`)
	if n := eval[int](page, `window.tickerboard.seen('price', 'GOOG')`); n != 0 {
		t.Errorf("%d GOOG events reached a page watching AAPL and MSFT", n)
	}

	// Topics: scores off.
	page.do(chromedp.Click(chromedp.CSS(`input[name="topic"][value="score"]`)))
	page.waitFor("the scoreboard to hide, and a new snapshot", `document.querySelector('#scores').hidden && window.tickerboard.stats.snapshots === 3`)
	wantEqual(t, "page query", eval[string](page, `location.search`), "?topics=price&symbols=AAPL,MSFT")
	wantEqual(t, "stream requests", requests.requests(),
		[]streamRequest{{URL: "/events?symbols=AAPL,MSFT"}, {URL: "/events?topics=price&symbols=AAPL,MSFT"}})
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points) SELECT id, 'home', 1 FROM games WHERE status = 'live'`)
	testdb.Exec(t, dbURL, `UPDATE quotes SET price = 192.00 WHERE symbol = 'AAPL'`)
	page.waitFor("the next AAPL change", `document.querySelector('#quotes tr[data-symbol="AAPL"] .price .v').textContent === '192.00'`)
	if n := eval[int](page, `window.tickerboard.stats.seen.size && [...window.tickerboard.stats.seen.keys()].filter((k) => !k.startsWith('price:')).length`); n != 0 {
		t.Errorf("%d kinds of score or play events reached a page showing prices only", n)
	}

	// A plain reload of the bare address keeps the filters (from localStorage).
	page.open(srv.URL + "/")
	page.waitFor("the watchlist back", `document.querySelector('#watchlist').value === 'AAPL, MSFT'`)
	wantEqual(t, "filters after reload", eval[string](page, `JSON.stringify(window.tickerboard.filters)`),
		`{"symbols":["AAPL","MSFT"],"topics":["price"]}`)
	wantEqual(t, "rows after reload", eval[string](page, `[...document.querySelectorAll('#quotes tbody tr')].map((tr) => tr.dataset.symbol).join()`), "AAPL,MSFT")

	// A bad symbol is refused with a message, and the stream is left alone.
	page.do(
		chromedp.SetValue(chromedp.CSS("#watchlist"), "AAPL, 1BAD"),
		chromedp.SendKeys(chromedp.CSS("#watchlist"), "\n"),
	)
	page.waitFor("the error", `document.querySelector('#filter-error').textContent.includes('1BAD')`)
	wantEqual(t, "stream after a bad watchlist", eval[string](page, `window.tickerboard.streamURL`), srv.URL+"/events?topics=price&symbols=AAPL,MSFT")
}

func TestBrowserTabsShareOneStream(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	browser := newBrowser(t)
	const n = 8 // more than the 6 HTTP/1.1 connections a browser allows per origin
	tabs := make([]*tab, n)
	for i := range tabs {
		tabs[i] = newTab(t, browser, fmt.Sprintf("tab%d", i+1))
		tabs[i].open(srv.URL + "/")
	}
	if got := clients(t, srv.URL); got != 1 {
		t.Errorf("server holds %d streams for %d tabs, want 1", got, n)
	}
	streams := eval[[]struct {
		Tabs int `json:"tabs"`
	}](tabs[0], `window.tickerboard.streams()`)
	if len(streams) != 1 || streams[0].Tabs != n {
		t.Errorf("shared worker streams: %+v, want one serving %d tabs", streams, n)
	}

	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'away', 3, 'A. Reaves')`, games.live)
	for _, tb := range tabs {
		tb.waitFor("the new score", fmt.Sprintf(`document.querySelector('#games tr[data-game="%d"] .away-score').textContent === '5'`, games.live))
		tb.waitFor("the new play", `document.querySelector('#plays li .scorer').textContent === 'A. Reaves'`)
	}
}

func TestBrowserWithoutSharedWorker(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	browser := newBrowser(t)
	tabs := []*tab{newTab(t, browser, "tab1", withoutSharedWorker), newTab(t, browser, "tab2", withoutSharedWorker)}
	for _, tb := range tabs {
		tb.open(srv.URL + "/")
		if mode := eval[string](tb, `window.tickerboard.mode`); mode != "direct" {
			t.Errorf("tab %s streams in mode %q, want direct", tb.name, mode)
		}
	}
	if got := clients(t, srv.URL); got != 2 {
		t.Errorf("server holds %d streams, want one per tab without SharedWorker", got)
	}
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 1, 'Free Throw')`, games.live)
	for _, tb := range tabs {
		tb.waitFor("the new score", fmt.Sprintf(`document.querySelector('#games tr[data-game="%d"] .home-score').textContent === '4'`, games.live))
	}
}

var clientsGauge = regexp.MustCompile(`(?m)^tickerboard_clients (\d+)$`)

// clients reads how many SSE streams the server holds from its metrics.
func clients(t *testing.T, base string) int {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("get metrics: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read metrics: %v", err)
	}
	m := clientsGauge.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no tickerboard_clients in metrics:\n%s", body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// lagFigures are the page's lag readout: commit to screen, in ms, over the last 1000
// changes painted.
type lagFigures struct {
	N   int      `json:"n"`
	P50 *float64 `json:"p50"`
	P99 *float64 `json:"p99"`
	Max *float64 `json:"max"`
}

func TestBrowserFollowsTheFeeds(t *testing.T) {
	_, dbURL := testdb.Open(t)
	srv := startServer(t, dbURL, "127.0.0.1:0", "-feeds", "prices,scores", "-price-rate", "40", "-game-speed", "120", "-seed", "7")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")
	page.waitFor("quotes with a price history, live games and plays", `
		document.querySelectorAll('#quotes tbody tr').length >= 10 &&
		[...document.querySelectorAll('#quotes .spark')].every((s) => Number(s.dataset.points) >= 8) &&
		document.querySelectorAll('#games tbody[data-group="live"] tr[data-game]').length >= 1 &&
		document.querySelectorAll('#plays li').length >= 3`)
	page.waitFor("the lag readout over 100 changes", `Number(document.querySelector('#status [data-field="lag"]').dataset.n) >= 100`)

	lag := eval[lagFigures](page, `window.tickerboard.lag()`)
	if lag.P50 == nil || lag.P99 == nil || *lag.P50 < 0 || *lag.P99 < *lag.P50 {
		t.Errorf("lag figures %+v; want 0 <= p50 <= p99", lag)
	}
	readout := eval[[]string](page, `((el) => [el.textContent, el.dataset.p50, el.dataset.p99])(document.querySelector('#status [data-field="lag"]'))`)
	if !regexp.MustCompile(`^p50 \d+(\.\d)? m?s · p99 \d+(\.\d)? m?s$`).MatchString(readout[0]) || readout[1] == "" || readout[2] == "" {
		t.Errorf("lag readout %q", readout)
	}
	if rate := eval[string](page, `document.querySelector('#status [data-field="rate"]').textContent`); rate == "0 ev/s" {
		t.Errorf("rate readout %q while the feeds run", rate)
	}
	if s := stats(page); s.Repeats != 0 || s.Resets != 0 || s.Snapshots != 1 {
		t.Errorf("page stats %+v: want one snapshot, no repeats, no resets", s)
	}
	t.Logf("lag over the last %d changes: p50 %.1f ms, p99 %.1f ms, max %.1f ms", lag.N, *lag.P50, *lag.P99, *lag.Max)
	if *updateScreenshot {
		// Show what a click opens: the first symbol's chart and the first live game's
		// scores by period.
		page.do(chromedp.Click(chromedp.CSS(`#quotes tbody tr td.name`)))
		page.do(chromedp.Click(chromedp.CSS(`#games tbody[data-group="live"] tr[data-game] .when`)))
		page.waitFor("the chart and the line score", `document.querySelector('#detail').dataset.history &&
			document.querySelector('#games tr.periods')?.dataset.loaded === 'true'`)
		page.saveScreenshot(filepath.Join("..", "..", "frontend", "screenshot.png"), 1400, 900)
	}
}

func TestBrowserShowsRefusal(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0", "-token", "s3cret")
	page := newTab(t, newBrowser(t), "")
	page.do(chromedp.Navigate(srv.URL + "/"))
	page.waitFor("the refusal in the status bar", `document.querySelector('#status').dataset.state === 'offline' &&
		document.querySelector('#status [data-field="error"]').textContent.startsWith('token: missing or not valid')`)

	// Opening /?token=… once sets the cookie; the shared stream then comes up at once.
	page.open(srv.URL + "/?token=s3cret")
	wantEqual(t, "address after the token", eval[string](page, `location.href`), srv.URL+"/")
	wantEqual(t, "refusal after the token", eval[string](page, `document.querySelector('#status [data-field="error"]').textContent`), "")
	page.waitFor("sparklines (the history API takes the cookie too)", `window.tickerboard.stats.histories === 3`)
}

func TestBrowserResetOnTruncate(t *testing.T) {
	_, dbURL := testdb.Open(t)
	seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")

	// TRUNCATE fires no row triggers; the stream says reset and sends a new snapshot.
	testdb.Exec(t, dbURL, `TRUNCATE games CASCADE`)
	page.waitFor("the board without games", `window.tickerboard.stats.snapshots === 2 &&
		document.querySelectorAll('#games tr[data-game], #plays li').length === 0`)
	b := eval[boardDOM](page, readBoard)
	if len(b.Quotes) != 3 || b.State != "live" {
		t.Errorf("after the reset: %d quotes, state %q; want the 3 quotes, live", len(b.Quotes), b.State)
	}
	if s := stats(page); s.Resets != 1 {
		t.Errorf("page stats %+v, want one reset", s)
	}
	if empty := eval[string](page, `document.querySelector('#scores').dataset.empty`); empty != "true" {
		t.Errorf("scores panel data-empty = %q, want true (so it says there are no games)", empty)
	}
}

func TestBrowserDarkThemeOnAPhone(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "", withDarkScheme)
	page.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	page.open(srv.URL + "/")

	colors := eval[[]string](page, `[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]`)
	if bg, fg := luminance(t, colors[0]), luminance(t, colors[1]); bg > 0.1 || fg < 0.6 {
		t.Errorf("dark scheme colours: background %s, text %s; want dark on light", colors[0], colors[1])
	}
	if over := eval[int](page, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
		t.Errorf("the page is %d px wider than the phone", over)
	}
	// What a phone keeps: symbol, last, change % and trend; the rest gives way.
	shown := eval[[]string](page, `[...document.querySelectorAll('#quotes thead th')].filter((th) => th.offsetWidth > 0).map((th) => th.textContent)`)
	wantEqual(t, "ticker columns on a phone", shown, []string{"Symbol", "Last", "Chg %", "Trend"})
	if w := eval[float64](page, `document.querySelector('#games tr[data-game="`+strconv.FormatInt(games.live, 10)+`"] .away').getBoundingClientRect().width`); w < 60 {
		t.Errorf("away team cell is %.0f px wide on a phone; too narrow to read", w)
	}
}

// luminance is a CSS rgb() colour's relative luminance, 0 (black) to 1 (white).
func luminance(t *testing.T, color string) float64 {
	t.Helper()
	m := rgbColor.FindStringSubmatch(color)
	if m == nil {
		t.Fatalf("unreadable colour %q", color)
	}
	var l float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.Atoi(m[i+1])
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += weight * c
	}
	return l
}
