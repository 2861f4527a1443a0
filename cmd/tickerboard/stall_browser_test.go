package main

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/tcpproxy"
	"github.com/tickerboard/tickerboard/internal/testdb"
)

// A path that dies quietly (no FIN, no reset: a laptop asleep, a NAT that forgot the
// flow) leaves the browser's EventSource waiting forever. The page must notice the
// silence within its stated bound (2.5 heartbeat intervals, at least 2 s), stop
// calling the board live, say how old it is, and once the path heals resume exactly
// where it stopped.
func TestBrowserNoticesAStalledPath(t *testing.T) {
	for _, mode := range []string{"shared", "direct"} {
		t.Run(mode, func(t *testing.T) {
			_, dbURL := testdb.Open(t)
			games := seedBoard(t, dbURL)
			srv := startServer(t, dbURL, "127.0.0.1:0", "-heartbeat", "500ms")
			proxy, err := tcpproxy.Listen(srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			var opts []tabOption
			if mode == "direct" {
				opts = append(opts, withoutSharedWorker)
			}
			page := newTab(t, newBrowser(t), "", opts...)
			page.open("http://" + proxy.Addr() + "/")
			streamer := page.ctx
			if mode == "shared" {
				streamer = sharedWorker(t, page.browser)
			}
			requests := recordStreams(t, streamer)

			// Two heartbeats: the second is surely measured within one stream.
			page.waitFor("two heartbeats", `window.tickerboard.stats.heartbeats >= 2`)
			feed := eval[[]struct {
				HeartbeatMs float64 `json:"heartbeatMs"`
				SilenceMs   float64 `json:"silenceMs"`
			}](page, `window.tickerboard.streams()`)
			// The server looks for streams due a heartbeat every 250 ms, and this machine
			// may be busy: the interval measures from 500 ms to somewhat more.
			if len(feed) != 1 || feed[0].HeartbeatMs < 400 || feed[0].HeartbeatMs > 1500 ||
				feed[0].SilenceMs != max(2000, 2.5*feed[0].HeartbeatMs) {
				t.Fatalf("stream info %+v; want the 500 ms heartbeat measured and a silence bound of 2.5 of them, at least 2 s", feed)
			}
			silence := time.Duration(feed[0].SilenceMs) * time.Millisecond
			before := stats(page)
			last := eval[int64](page, `window.tickerboard.lastId`)

			proxy.Stall()
			stalled := time.Now()
			testdb.Exec(t, dbURL, `UPDATE quotes SET price = 201.00 WHERE symbol = 'AAPL'`)
			testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 2, 'D. White')`, games.live)
			page.waitFor("the board to stop calling itself live", `document.querySelector('#status').dataset.state !== 'live'`)
			left := time.Since(stalled)
			// The last byte came at most a heartbeat before the stall; the page checks every
			// 250 ms and the test polls every frame.
			if left > silence+time.Second || left < silence-time.Second {
				t.Errorf("left live %v after the path stalled; want within the stated %v (± 1 s)", left.Round(time.Millisecond), silence)
			}
			got := eval[[]string](page, `[document.querySelector('#status [data-field="state"]').textContent,
				document.querySelector('#status [data-field="error"]').textContent,
				document.querySelector('#status [data-field="fresh"]').textContent,
				document.querySelector('main').dataset.stale,
				document.querySelector('#quotes tr[data-symbol="AAPL"] .price .v').textContent]`)
			if got[0] != "reconnecting" || !regexp.MustCompile(`^No data for \d+ s — reconnecting$`).MatchString(got[1]) ||
				!regexp.MustCompile(`^as of \d\d:\d\d:\d\d \S+`).MatchString(got[2]) || got[3] != "true" || got[4] != "187.50" {
				t.Errorf("while stalled the page shows state %q, message %q, freshness %q, stale %q, AAPL %q; want reconnecting, "+
					"'No data for N s — reconnecting', 'as of hh:mm:ss zone', the board greyed and the last known price", got[0], got[1], got[2], got[3], got[4])
			}
			// A new stream into the dead path hangs too, and is given up on in turn.
			page.waitFor("a second attempt given up", `(async () => (await window.tickerboard.streams())[0]?.silentReopens >= 2)()`)

			testdb.AwaitCapture(t, dbURL) // everything committed is in the log
			missed := int(queryInt(t, dbURL, `SELECT count(*) FROM events WHERE id > $1`, last))
			proxy.Heal()
			page.waitFor("live again with what was missed", fmt.Sprintf(`window.tickerboard.state === 'live' &&
				document.querySelector('#quotes tr[data-symbol="AAPL"] .price .v').textContent === '201.00' &&
				document.querySelector('#games tr[data-game="%d"] .home-score').textContent === '5'`, games.live))
			after := stats(page)
			if after.Events != before.Events+missed || after.Snapshots != before.Snapshots || after.Repeats != 0 || after.Resets != 0 {
				t.Errorf("page stats %+v after healing, before %+v: want the %d missed events applied once, no new snapshot", after, before, missed)
			}
			page.waitFor("the live look back", `document.querySelector('main').dataset.stale === 'false' &&
				document.querySelector('#status [data-field="error"]').textContent === '' &&
				document.querySelector('#status [data-field="fresh"]').textContent === ''`)
			// The page resumed by id: every stream it opened after the first asked for the
			// events after the last one it had.
			reqs := requests.requests()
			want := "/events?lastEventId=" + strconv.FormatInt(last, 10)
			if len(reqs) < 2 || reqs[len(reqs)-1].URL != want {
				t.Errorf("stream requests %+v; want new ones for %s", reqs, want)
			}
		})
	}
}
