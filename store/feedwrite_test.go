package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

func TestAddQuotesKeepsExisting(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	testdb.Exec(t, u, `INSERT INTO quotes (symbol, name, price) VALUES ('AAPL', 'typed by hand', 123.45)`)
	added, err := s.AddQuotes(ctx, []store.NewQuote{
		{Symbol: "AAPL", Name: "Apple", Price: 190},
		{Symbol: "MSFT", Name: "Microsoft", Price: 410.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if added != 1 {
		t.Errorf("added = %d, want 1 (AAPL exists)", added)
	}
	quotes, err := s.FeedQuotes(ctx, []string{"AAPL", "MSFT", "NOPE"})
	if err != nil {
		t.Fatal(err)
	}
	if len(quotes) != 2 {
		t.Fatalf("got %d quotes, want 2: %+v", len(quotes), quotes)
	}
	if q := quotes[0]; q.Symbol != "AAPL" || q.Name != "typed by hand" || q.Price != 123.45 {
		t.Errorf("existing quote changed: %+v", q)
	}
	if q := quotes[1]; q.Symbol != "MSFT" || q.Price != 410.5 || q.PrevClose != 410.5 || q.DayOpen != 410.5 ||
		q.DayHigh != 410.5 || q.DayLow != 410.5 || q.Volume != 0 {
		t.Errorf("new quote = %+v, want every price 410.5 and no volume", q)
	}
}

func TestMoveQuotesIsOneStatementPerTick(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	if _, err := s.AddQuotes(ctx, []store.NewQuote{{"AAA", "", 100}, {"BBB", "", 50}, {"CCC", "", 10}}); err != nil {
		t.Fatal(err)
	}
	// A human moves BBB; the feed's factor applies to the human's price.
	testdb.Exec(t, u, `UPDATE quotes SET price = 60 WHERE symbol = 'BBB'`)
	before := eventCount(t, s)
	moved, err := s.MoveQuotes(ctx, []store.QuoteMove{
		{Symbol: "AAA", Factor: 1.01, Volume: 300},
		{Symbol: "BBB", Factor: 0.5, Volume: 100},
		{Symbol: "GONE", Factor: 2, Volume: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if moved != 2 {
		t.Errorf("moved = %d, want 2 (GONE does not exist)", moved)
	}
	quotes, err := s.FeedQuotes(ctx, []string{"AAA", "BBB", "CCC"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{"AAA": {101, 300}, "BBB": {30, 100}, "CCC": {10, 0}}
	for _, q := range quotes {
		if w := want[q.Symbol]; q.Price != w[0] || float64(q.Volume) != w[1] {
			t.Errorf("%s: price %v volume %d, want %v and %v", q.Symbol, q.Price, q.Volume, w[0], w[1])
		}
	}
	if q := quotes[1]; q.DayLow != 30 || q.DayHigh != 60 || q.PrevClose != 50 {
		t.Errorf("BBB day range = low %v high %v prev %v, want 30, 60, 50", q.DayLow, q.DayHigh, q.PrevClose)
	}
	var events, txs int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM events WHERE id > $1`, before).Scan(&events, &txs); err != nil {
		t.Fatal(err)
	}
	if events != 2 || txs != 1 {
		t.Errorf("the batch wrote %d events in %d transactions, want 2 in 1", events, txs)
	}
	var ticks int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM price_ticks WHERE symbol = 'AAA' AND price = 101`).Scan(&ticks); err != nil {
		t.Fatal(err)
	}
	if ticks != 1 {
		t.Errorf("AAA has %d ticks at 101, want 1", ticks)
	}
}

// The feed's UPDATE must not keep a plan made for a smaller table: a prepared
// statement's generic plan, made while quotes held three rows, scans the whole table
// for every tick however large it grows (by new symbols here; by dead row versions
// under a fast feed). Autovacuum is off for quotes, so no ANALYZE replans it behind
// the test's back.
func TestMoveQuotesDoesNotScanATableThatGrew(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	testdb.Exec(t, u, `ALTER TABLE quotes SET (autovacuum_enabled = off)`)
	if _, err := s.AddQuotes(ctx, []store.NewQuote{{"AAA", "", 100}, {"BBB", "", 50}, {"CCC", "", 10}}); err != nil {
		t.Fatal(err)
	}
	moves := []store.QuoteMove{{"AAA", 1.001, 1}, {"BBB", 1.001, 1}, {"CCC", 1.001, 1}}
	const ticks = 10 // Postgres makes its generic plan after five executions
	for range ticks {
		if _, err := s.MoveQuotes(ctx, moves); err != nil {
			t.Fatal(err)
		}
	}
	testdb.Exec(t, u, `INSERT INTO quotes (symbol, price) SELECT 'G' || i, 1 FROM generate_series(1, 20000) i`)

	// Sessions report their table statistics within a second or so of going idle:
	// wait until every statement so far is counted, then take one more tick.
	conn := testdb.Conn(t, u, "")
	if _, err := conn.Exec(ctx, `SET stats_fetch_consistency = none`); err != nil {
		t.Fatal(err)
	}
	counted := func(updated int) (seqScans int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var upd, ins int64
			err := conn.QueryRow(ctx, `SELECT seq_scan, n_tup_upd, n_tup_ins FROM pg_stat_user_tables
				WHERE relid = 'quotes'::regclass`).Scan(&seqScans, &upd, &ins)
			if err != nil {
				t.Fatal(err)
			}
			if upd >= int64(updated) && ins >= 20003 {
				return seqScans
			}
			if time.Now().After(deadline) {
				t.Fatalf("quotes' statistics count %d updates and %d inserts after 30 s, want %d and 20003", upd, ins, updated)
			}
			time.Sleep(20 * time.Millisecond) // polling the statistics view: there is no event to await
		}
	}
	before := counted(ticks * len(moves))
	if _, err := s.MoveQuotes(ctx, moves); err != nil {
		t.Fatal(err)
	}
	if after := counted((ticks + 1) * len(moves)); after != before {
		t.Errorf("moving 3 of 20,003 quotes scanned the whole table (%d sequential scans of quotes, want none)", after-before)
	}
}

func TestMoveQuotesKeepsPricePositive(t *testing.T) {
	s, _ := testdb.Open(t)
	ctx := context.Background()
	if _, err := s.AddQuotes(ctx, []store.NewQuote{{"PENNY", "", 0.0002}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveQuotes(ctx, []store.QuoteMove{{"PENNY", 0.01, 0}}); err != nil {
		t.Fatal(err)
	}
	q, err := s.FeedQuotes(ctx, []string{"PENNY"})
	if err != nil {
		t.Fatal(err)
	}
	if q[0].Price != 0.0001 {
		t.Errorf("price = %v, want the floor 0.0001", q[0].Price)
	}
}

func TestOpenTradingDay(t *testing.T) {
	s, _ := testdb.Open(t)
	ctx := context.Background()
	if _, err := s.AddQuotes(ctx, []store.NewQuote{{"AAA", "", 100}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []float64{1.1, 0.8, 1.05} { // 110, 88, 92.4
		if _, err := s.MoveQuotes(ctx, []store.QuoteMove{{"AAA", f, 1000}}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.OpenTradingDay(ctx, []store.QuoteMove{{"AAA", 1.02, 500}})
	if err != nil || n != 1 {
		t.Fatalf("OpenTradingDay = %d, %v", n, err)
	}
	q, err := s.FeedQuotes(ctx, []string{"AAA"})
	if err != nil {
		t.Fatal(err)
	}
	got := q[0]
	if got.PrevClose != 92.4 || got.Price != 94.248 || got.DayOpen != 94.248 || got.DayHigh != 94.248 ||
		got.DayLow != 94.248 || got.Volume != 500 {
		t.Errorf("after the open: %+v, want prev_close 92.4, price/open/high/low 94.248, volume 500", got)
	}
}

func TestGameLifecycleNeverWritesScores(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	g, err := s.ScheduleGame(ctx, store.NewGame{League: "Hockey", HomeTeam: "Oslo", AwayTeam: "Bern", StartsAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != "scheduled" || g.StartsAt == nil {
		t.Fatalf("scheduled game = %+v", g)
	}
	g, err = s.StartGame(ctx, g.ID, 1, "20:00")
	if err != nil || g.Status != "live" || g.Period != 1 || g.Clock != "20:00" {
		t.Fatalf("StartGame = %+v, %v", g, err)
	}
	if err := s.AddPlay(ctx, store.Play{GameID: g.ID, Team: "home", Points: 1, Scorer: "feed", Period: 1, Clock: "18:00"}); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, u, `INSERT INTO scores (game_id, team, points) VALUES ($1, 'away', 2)`, g.ID) // a human
	games, err := s.SetGameClocks(ctx, []store.GameClock{{ID: g.ID, Period: 2, Clock: "12:34"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(games) != 1 || games[0].HomeScore != 1 || games[0].AwayScore != 2 || games[0].Period != 2 || games[0].Clock != "12:34" {
		t.Fatalf("SetGameClocks = %+v, want 1-2 in period 2 at 12:34", games)
	}
	// A tie may not end a game that must have a winner.
	testdb.Exec(t, u, `INSERT INTO scores (game_id, team, points) VALUES ($1, 'home', 1)`, g.ID)
	g, finished, err := s.FinishGame(ctx, g.ID, "0:00", false)
	if err != nil || finished || g.HomeScore != 2 || g.AwayScore != 2 || g.Status != "live" {
		t.Fatalf("FinishGame on a tie = %+v, %v, %v; want it live at 2-2", g, finished, err)
	}
	g, finished, err = s.FinishGame(ctx, g.ID, "0:00", true)
	if err != nil || !finished || g.Status != "final" {
		t.Fatalf("FinishGame allowing a tie = %+v, %v, %v", g, finished, err)
	}
	err = s.AddPlay(ctx, store.Play{GameID: g.ID, Team: "home", Points: 1})
	if !errors.Is(err, store.ErrGameOver) {
		t.Errorf("AddPlay on a final game: %v, want ErrGameOver", err)
	}
	if _, err := s.StartGame(ctx, g.ID, 1, "20:00"); !errors.Is(err, store.ErrGameOver) {
		t.Errorf("StartGame on a final game: %v, want ErrGameOver", err)
	}
	if _, _, err := s.FinishGame(ctx, g.ID, "0:00", true); !errors.Is(err, store.ErrGameOver) {
		t.Errorf("FinishGame on a final game: %v, want ErrGameOver", err)
	}
	if err := s.AddPlay(ctx, store.Play{GameID: 999999, Team: "home", Points: 1}); !errors.Is(err, store.ErrGameOver) {
		t.Errorf("AddPlay on a missing game: %v, want ErrGameOver", err)
	}
	if games, err := s.SetGameClocks(ctx, []store.GameClock{{ID: g.ID, Period: 3, Clock: "1:00"}}); err != nil || len(games) != 0 {
		t.Errorf("SetGameClocks on a final game = %+v, %v; want nothing updated", games, err)
	}
	var sum int
	if err := s.Pool().QueryRow(ctx, `SELECT g.home_score + g.away_score - (SELECT sum(points) FROM scores WHERE game_id = g.id)
		FROM games g WHERE id = $1`, g.ID).Scan(&sum); err != nil || sum != 0 {
		t.Errorf("scores and plays disagree by %d (%v)", sum, err)
	}
}

func TestFeedGamesAndPruneFinals(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	var ids []int64
	for i := range 5 {
		g, err := s.ScheduleGame(ctx, store.NewGame{League: "Soccer", HomeTeam: fmt.Sprint("H", i), AwayTeam: "A", StartsAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	testdb.Exec(t, u, `INSERT INTO games (league, home_team, away_team, status) VALUES ('Curling', 'Bern', 'Oslo', 'final')`)
	testdb.Exec(t, u, `INSERT INTO games (league, home_team, away_team) VALUES ('Curling', 'Bern', 'Oslo')`)
	for _, id := range ids[:4] {
		if _, err := s.StartGame(ctx, id, 1, "0'"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.FinishGame(ctx, id, "90'", true); err != nil {
			t.Fatal(err)
		}
	}
	games, err := s.FeedGames(ctx, []string{"Soccer"})
	if err != nil {
		t.Fatal(err)
	}
	if len(games) != 1 || games[0].ID != ids[4] {
		t.Errorf("FeedGames = %+v, want only the unfinished soccer game %d", games, ids[4])
	}
	n, err := s.PruneFinalGames(ctx, []string{"Soccer"}, 2)
	if err != nil || n != 2 {
		t.Fatalf("PruneFinalGames = %d, %v; want 2 deleted", n, err)
	}
	var left []int64
	rows, err := s.Pool().Query(ctx, `SELECT id FROM games WHERE league = 'Soccer' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		left = append(left, id)
	}
	if fmt.Sprint(left) != fmt.Sprint(ids[2:]) {
		t.Errorf("soccer games left = %v, want the two latest finals and the open game %v", left, ids[2:])
	}
	var curling int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM games WHERE league = 'Curling'`).Scan(&curling); err != nil || curling != 2 {
		t.Errorf("curling games = %d (%v), want both kept", curling, err)
	}
}

func eventCount(t *testing.T, s *store.Store) int64 {
	t.Helper()
	p, err := s.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p.Head
}

// A feed play racing a human's finish waits for it and is refused, rather than adding
// points to a game that has just become final.
func TestAddPlayWaitsForAConcurrentFinish(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	g, err := s.ScheduleGame(ctx, store.NewGame{League: "Hockey", HomeTeam: "Oslo", AwayTeam: "Bern", StartsAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartGame(ctx, g.ID, 1, "20:00"); err != nil {
		t.Fatal(err)
	}
	human, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer human.Close(ctx)
	tx, err := human.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE games SET status = 'final' WHERE id = $1`, g.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.AddPlay(ctx, store.Play{GameID: g.ID, Team: "home", Points: 1, Scorer: "feed"}) }()
	// Wait until the play is blocked on the human's row lock.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting bool
		if err := s.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO scores%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("AddPlay returned %v without waiting for the human's transaction", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("AddPlay never waited for the game's row lock")
		}
		time.Sleep(10 * time.Millisecond) // polling pg_stat_activity: there is no event for a lock wait
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrGameOver) {
		t.Errorf("AddPlay racing a finish: %v, want ErrGameOver", err)
	}
	var plays, score int
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM scores WHERE game_id = $1), home_score FROM games WHERE id = $1`, g.ID).Scan(&plays, &score); err != nil {
		t.Fatal(err)
	}
	if plays != 0 || score != 0 {
		t.Errorf("the final game got %d plays and %d points", plays, score)
	}
}
