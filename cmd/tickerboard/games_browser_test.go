package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// What a scoreboard people use daily shows: overtime and how a game ended, the play
// that just happened, short team names on a phone, and, for a screen reader user who
// asks, each new score read out.
func TestBrowserScoreboardDetails(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL)
	overtime := queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team, home_score, away_score, status, period, clock)
		VALUES ('NHL', 'Maple Leafs', 'Golden State Warriors', 3, 2, 'final', 4, '0:00') RETURNING id`)
	doubleOT := queryInt(t, dbURL, `INSERT INTO games (league, home_team, away_team, status, period, clock)
		VALUES ('NBA', 'Knicks', 'Nets', 'live', 6, '2:10') RETURNING id`)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")

	when := func(id int64) string {
		return eval[string](page, fmt.Sprintf(`document.querySelector('#games tr[data-game="%d"] .when .time').textContent`, id))
	}
	wantEqual(t, "a final in overtime", when(overtime), "Final/OT")
	wantEqual(t, "a final in regulation", when(games.final), "Final")
	wantEqual(t, "a live game in the second overtime", when(doubleOT), "2OT 2:10")
	wantEqual(t, "overtime rows", eval[string](page, `[...document.querySelectorAll('#games tr[data-ot="true"]')].map((tr) => tr.dataset.game).join()`),
		fmt.Sprintf("%d,%d", doubleOT, overtime))

	// The latest play stands out, and only it.
	latest := `[...document.querySelectorAll('#plays li.latest')].map((li) => li.querySelector('.scorer').textContent).join()`
	wantEqual(t, "latest play on load", eval[string](page, latest), "L. James")

	// Not announced unless asked for.
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 3, 'P. Pritchard')`, games.live)
	page.waitFor("the new play, highlighted", `(`+latest+`) === 'P. Pritchard'`)
	wantEqual(t, "announcement nobody asked for", eval[string](page, `document.querySelector('#announcer').textContent`), "")

	page.do(chromedp.Click(chromedp.CSS(`#announce`)))
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'away', 2, 'A. Davis')`, games.live)
	page.waitFor("the score read out", `document.querySelector('#announcer').textContent === 'Lakers +2, A. Davis. Lakers 4, Celtics 6.'`)
	wantEqual(t, "live region", eval[[]string](page, `((el) => [el.getAttribute('aria-live'), el.getAttribute('aria-atomic')])(document.querySelector('#announcer'))`),
		[]string{"polite", "true"})

	// Short names on a phone, with the full name still the cell's text.
	abbr := fmt.Sprintf(`['away', 'home'].map((c) => getComputedStyle(document.querySelector('#games tr[data-game="%d"] .' + c), '::after').content).join()`, overtime)
	wantEqual(t, "team names on a wide screen", eval[string](page, abbr), "none,none")
	page.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	page.waitFor("abbreviations on a phone", `(`+abbr+`) === '"GSW","ML"'`)
	wantEqual(t, "full names in the text", eval[string](page, fmt.Sprintf(`document.querySelector('#games tr[data-game="%d"] .away').textContent`, overtime)),
		"Golden State Warriors")
	if w := eval[float64](page, fmt.Sprintf(`document.querySelector('#games tr[data-game="%d"] .home').getBoundingClientRect().width`, games.live)); w < 40 {
		t.Errorf("home team cell is %.0f px wide on a phone", w)
	}
}

// lineScoreDOM reads the open line score: header, then each team's cells.
const readLineScore = `((t) => t ? [...t.querySelectorAll('tr')].map((tr) => [...tr.children].map((c) => c.textContent).join('|')) : [])(document.querySelector('#games tr.periods table'))`

func TestBrowserScoresByPeriod(t *testing.T) {
	_, dbURL := testdb.Open(t)
	games := seedBoard(t, dbURL) // NBA, in Q2: Celtics 3 (Tatum), Lakers 2 (James), both in Q2
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer, period, clock) VALUES ($1, 'away', 3, 'A. Reaves', 1, '2:00')`, games.live)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	page := newTab(t, newBrowser(t), "")
	page.open(srv.URL + "/")

	page.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#games tr[data-game="%d"] .when`, games.live))))
	page.waitFor("the line score with every play", `document.querySelector('#games tr.periods')?.dataset.loaded === 'true'`)
	wantEqual(t, "line score", eval[[]string](page, readLineScore), []string{
		"|Q1|Q2|Q3|Q4|T",
		"Lakers|3|2|–|–|5",
		"Celtics|0|3|–|–|3",
	})
	wantEqual(t, "its place", eval[string](page, fmt.Sprintf(`document.querySelector('#games tr[data-game="%d"]').nextElementSibling.className`, games.live)), "periods")

	// The game moves on: a new period, a basket in it.
	testdb.Exec(t, dbURL, `UPDATE games SET period = 3, clock = '11:40' WHERE id = $1`, games.live)
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 2, 'J. Brown')`, games.live)
	page.waitFor("the basket in Q3", `(`+readLineScore+`)[2] === 'Celtics|0|3|2|–|5'`)
	wantEqual(t, "line score in Q3", eval[[]string](page, readLineScore), []string{
		"|Q1|Q2|Q3|Q4|T",
		"Lakers|3|2|0|–|5",
		"Celtics|0|3|2|–|5",
	})
	// A play taken back comes off its period.
	testdb.Exec(t, dbURL, `DELETE FROM scores WHERE scorer = 'A. Reaves'`)
	page.waitFor("the Q1 basket gone", `(`+readLineScore+`)[1] === 'Lakers|0|2|0|–|2'`)

	page.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#games tr[data-game="%d"] .when`, games.live))))
	page.waitFor("the line score closed", `!document.querySelector('#games tr.periods')`)

	// Nothing happens for 5 s (the heartbeat is 15 s away): the board says how old it is,
	// and is still live.
	page.waitFor("the age of a quiet board", `/^updated \d+ s ago$/.test(document.querySelector('#status [data-field="fresh"]').textContent)`)
	wantEqual(t, "state of a quiet board", eval[string](page, `window.tickerboard.state`), "live")
}
