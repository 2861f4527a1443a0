package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

type gameEvent struct {
	ID        int64  `json:"id"`
	League    string `json:"league"`
	HomeScore int    `json:"home_score"`
	AwayScore int    `json:"away_score"`
	Period    int    `json:"period"`
	Clock     string `json:"clock"`
	Status    string `json:"status"`
	Deleted   bool   `json:"deleted"`
}

type playEvent struct {
	ID      int64  `json:"id"`
	GameID  int64  `json:"game_id"`
	Team    string `json:"team"`
	Points  int    `json:"points"`
	Scorer  string `json:"scorer"`
	Deleted bool   `json:"deleted"`
}

func decode[T any](t *testing.T, e store.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Payload, &v); err != nil {
		t.Fatalf("%s event %d: %v", e.Name, e.ID, err)
	}
	return v
}

// fastGames plays a basketball game in about a second of wall clock.
func fastGames(seed int64) Options {
	return Options{Scores: true, GameSpeed: 3000, LiveGames: 4, KeepFinals: 5, Seed: seed,
		scoreTick: 50 * time.Millisecond, clockEvery: 100 * time.Millisecond}
}

// The score feed plays games from scheduled to final, keeps the board full, never
// overwrites a score a human typed and lets go of a game a human finished.
func TestRunScoresPlaysGamesAlongsideAHuman(t *testing.T) {
	s, u := testdb.Open(t)
	events := follow(t, s)
	logger, logs := newLogger()
	o := fastGames(21)
	stop := runFeeds(t, s, o, logger)

	games := map[int64][]gameEvent{} // every score event, per game
	plays := map[int64][]playEvent{}
	finals := map[int64]bool{}
	var humanScored, humanFinished int64
	var humanFinalEvent int64
	await(t, events, 60*time.Second, "12 games to finish, the human's among them", func(e store.Event) bool {
		switch e.Name {
		case "score":
			g := decode[gameEvent](t, e)
			games[g.ID] = append(games[g.ID], g)
			if g.Status == "final" {
				finals[g.ID] = true
			}
			if g.Status == "live" && g.Period == 1 {
				switch {
				case humanScored == 0 && g.League == "Basketball":
					humanScored = g.ID
					testdb.Exec(t, u, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'away', 3, 'a human')`, g.ID)
				case humanFinished == 0 && g.ID != humanScored:
					humanFinished = g.ID
					testdb.Exec(t, u, `UPDATE games SET status = 'final' WHERE id = $1`, g.ID)
					humanFinalEvent = eventHead(t, s)
				}
			}
		case "play":
			p := decode[playEvent](t, e)
			plays[p.GameID] = append(plays[p.GameID], p)
		}
		return len(finals) >= 12 && humanScored != 0 && finals[humanScored]
	})
	stop()
	if humanScored == 0 || humanFinished == 0 {
		t.Fatal("no game went live for the human to play with")
	}

	leaguesSeen := map[string]bool{}
	for id, evs := range games {
		last := evs[len(evs)-1]
		if last.Deleted {
			last = evs[len(evs)-2]
		}
		leaguesSeen[evs[0].League] = true
		// Statuses only move forward.
		rank := map[string]int{"scheduled": 0, "live": 1, "final": 2}
		for i := 1; i < len(evs); i++ {
			if !evs[i].Deleted && rank[evs[i].Status] < rank[evs[i-1].Status] {
				t.Errorf("game %d went from %s back to %s", id, evs[i-1].Status, evs[i].Status)
			}
		}
		// The score is always the sum of the plays: nothing but plays moved it.
		var home, away int
		for _, p := range plays[id] {
			if p.Team == "home" {
				home += p.Points
			} else {
				away += p.Points
			}
		}
		if last.HomeScore != home || last.AwayScore != away {
			t.Errorf("game %d: board says %d-%d, its plays add up to %d-%d", id, last.HomeScore, last.AwayScore, home, away)
		}
		if finals[id] && id != humanFinished && last.Status == "final" && last.HomeScore == last.AwayScore &&
			(last.League == "Basketball" || last.League == "Hockey") {
			t.Errorf("%s game %d ended tied %d-%d", last.League, id, home, away)
		}
	}
	if len(leaguesSeen) < 3 {
		t.Errorf("games of only %d leagues: %v", len(leaguesSeen), leaguesSeen)
	}
	var human []playEvent
	for _, p := range plays[humanScored] {
		if p.Scorer == "a human" {
			human = append(human, p)
		}
	}
	if len(human) != 1 || len(plays[humanScored]) < 10 || !finals[humanScored] {
		t.Errorf("game %d: %d human plays among %d, final %v; want the human's kept in a game the feed played out",
			humanScored, len(human), len(plays[humanScored]), finals[humanScored])
	}
	for _, e := range games[humanFinished] {
		if e.Status == "final" && e.Clock != "" && e.Clock[:1] == "F" {
			t.Errorf("the feed finished game %d too, after a human had: %+v", humanFinished, e)
		}
	}
	var after int
	tick(t, s)
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events
		WHERE id > $1 AND key = $2 AND event IN ('play', 'score') AND NOT payload ? 'deleted'`,
		humanFinalEvent, fmt.Sprint(humanFinished)).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != 0 {
		t.Errorf("the feed wrote %d events to game %d after a human finished it", after, humanFinished)
	}

	// Finals are bounded (a leader that stopped between a finish and its prune leaves
	// one more, which the next leader prunes as it starts) and the board is full.
	if _, err := startScores(context.Background(), s, o.withDefaults(), 1, logger); err != nil {
		t.Fatal(err)
	}
	var finalsLeft, open int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'final'),
		count(*) FILTER (WHERE status <> 'final') FROM games`).Scan(&finalsLeft, &open); err != nil {
		t.Fatal(err)
	}
	if finalsLeft != o.KeepFinals {
		t.Errorf("%d final games kept, want %d", finalsLeft, o.KeepFinals)
	}
	if open < o.LiveGames {
		t.Errorf("%d games live or scheduled, want at least %d", open, o.LiveGames)
	}
	if problems := logs.problems(); len(problems) > 0 {
		t.Errorf("warnings logged: %q", problems)
	}
}

// A new leader picks up the games in play where the last one left them.
func TestScoreFeedResumesLiveGames(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	logger, logs := newLogger()
	o := fastGames(8)
	o.GameSpeed = 60 // a basketball quarter in 12 s: nothing ends during the test
	o = o.withDefaults()
	f, err := startScores(ctx, s, o, 8, logger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 80 { // 4 s of wall clock, 4 min of game clock: all started, none ended
		if err := f.tick(ctx, now.Add(time.Duration(i)*o.scoreTick)); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.FeedGames(ctx, leagueNames())
	if err != nil {
		t.Fatal(err)
	}
	var live []store.FeedGame
	for _, g := range before {
		if g.Status == "live" {
			live = append(live, g)
		}
	}
	if len(live) != o.LiveGames {
		t.Fatalf("%d games live, want %d: %+v", len(live), o.LiveGames, before)
	}
	// A human schedules a basketball game of their own meanwhile: the new leader adopts it.
	testdb.Exec(t, u, `INSERT INTO games (league, home_team, away_team) VALUES ('Basketball', 'Home Town', 'Away Town')`)

	g, err := startScores(ctx, s, o, 8, logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range live {
		got, ok := g.live[want.ID]
		if !ok {
			t.Errorf("game %d not resumed", want.ID)
			continue
		}
		if got.period != want.Period || got.clock() != want.Clock || got.score != [2]int{want.HomeScore, want.AwayScore} {
			t.Errorf("game %d resumed at period %d %s %v, want period %d %s %d-%d",
				want.ID, got.period, got.clock(), got.score, want.Period, want.Clock, want.HomeScore, want.AwayScore)
		}
	}
	if err := g.tick(ctx, now.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	after, err := s.FeedGames(ctx, leagueNames())
	if err != nil {
		t.Fatal(err)
	}
	var humans []store.FeedGame
	for _, a := range after {
		if a.HomeTeam == "Home Town" {
			humans = append(humans, a)
		}
	}
	if len(humans) != 1 || humans[0].Status != "live" || humans[0].Period != 1 || humans[0].Clock[:3] != "11:" {
		t.Errorf("the human's basketball game = %+v, want it started by the feed", humans)
	}
	if len(after) > len(before)+1 {
		t.Errorf("the new leader scheduled %d games more than were in play", len(after)-len(before)-1)
	}
	ids := func(gs []store.FeedGame) []int64 {
		var out []int64
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	for _, id := range ids(live) {
		if !slices.Contains(ids(after), id) {
			t.Errorf("game %d was live before the failover and is not after", id)
		}
	}
	if problems := logs.problems(); len(problems) > 0 {
		t.Errorf("warnings logged: %q", problems)
	}
}
