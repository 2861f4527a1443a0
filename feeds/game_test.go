package feeds

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// playOut plays one game of lg to its end without a database, as the feed would with
// nobody else scoring, and returns it, its plays and the clock after every step.
func playOut(t *testing.T, seed int64, lg *league, step time.Duration) (*game, []store.Play, []string) {
	t.Helper()
	g := newGame(seed, lg, store.FeedGame{ID: seed, HomeTeam: lg.Teams[0], AwayTeam: lg.Teams[1]})
	var plays []store.Play
	var clocks []string
	for i := 0; !g.over; i++ {
		if i > 100_000 {
			t.Fatalf("%s game %d never ended: period %d clock %s", lg.Name, seed, g.period, g.clock())
		}
		plays = append(plays, g.advance(step)...)
		clocks = append(clocks, g.clock())
	}
	return g, plays, clocks
}

func TestScoringRules(t *testing.T) {
	allowed := map[string]map[string]int{ // kind → points
		"Basketball": {"": 2, "3PT": 3, "FT": 1},
		"Soccer":     {"": 1, "pen": 1, "og": 1},
		"Hockey":     {"": 1, "PPG": 1, "SHG": 1, "SO": 1},
		"Football":   {"TD": 6, "XP": 1, "2PT": 2, "FG": 3, "Safety": 2},
	}
	for _, lg := range leagues {
		t.Run(lg.Name, func(t *testing.T) {
			kinds := map[string]int{}
			for seed := int64(1); seed <= 100; seed++ {
				g, plays, _ := playOut(t, seed, lg, 20*time.Second)
				var score [2]int
				for i, p := range plays {
					kind := kindOf(p.Scorer)
					want, ok := allowed[lg.Name][kind]
					if !ok || p.Points != want {
						t.Fatalf("game %d play %d: %d points by %q: not a %s scoring play", seed, i, p.Points, p.Scorer, lg.Name)
					}
					kinds[kind]++
					if kind == "XP" || kind == "2PT" {
						prev := plays[i-1]
						if kindOf(prev.Scorer) != "TD" || prev.Team != p.Team || prev.Clock != p.Clock {
							t.Fatalf("game %d: try %+v does not follow its team's touchdown (%+v)", seed, p, prev)
						}
					}
					score[map[string]int{"home": 0, "away": 1}[p.Team]] += p.Points
				}
				if score != g.score {
					t.Fatalf("game %d: plays add up to %v, game says %v", seed, score, g.score)
				}
			}
			for kind := range allowed[lg.Name] {
				if kinds[kind] == 0 && kind != "SHG" && kind != "SO" {
					t.Errorf("100 games had no %q play", kind)
				}
			}
		})
	}
}

// kindOf reads the play kind back from the scorer, "J. Carter (3PT)" → "3PT".
func kindOf(scorer string) string {
	var name, kind string
	if n, _ := fmt.Sscanf(scorer, "%s %s (%s", &name, &name, &kind); n == 3 {
		return kind[:len(kind)-1]
	}
	return ""
}

func TestGamesEndLikeTheirSport(t *testing.T) {
	type tally struct{ games, points, ties, overtime, shootouts, margin int }
	// Realistic mean total points per game.
	wantPoints := map[string][2]float64{
		"Basketball": {180, 250}, "Soccer": {1.8, 4}, "Hockey": {4.5, 8}, "Football": {30, 55},
	}
	for _, lg := range leagues {
		t.Run(lg.Name, func(t *testing.T) {
			var n tally
			for seed := int64(1); seed <= 300; seed++ {
				g, plays, clocks := playOut(t, seed, lg, 30*time.Second)
				n.games++
				n.points += g.score[0] + g.score[1]
				n.margin += max(g.score[0]-g.score[1], g.score[1]-g.score[0])
				tied := g.score[0] == g.score[1]
				if tied {
					n.ties++
				}
				if g.period > lg.Periods {
					n.overtime++
				}
				if g.shotOut {
					n.shootouts++
				}
				switch {
				case g.period < lg.Periods:
					t.Fatalf("game %d ended in period %d of %d", seed, g.period, lg.Periods)
				case g.period > lg.Periods && lg.OvertimeLen == 0:
					t.Fatalf("game %d went to period %d in a league without overtime", seed, g.period)
				case tied && !g.tieAllowed():
					t.Fatalf("game %d ended tied %v in period %d; %s needs a winner", seed, g.score, g.period, lg.Name)
				case tied && lg.OvertimeLen > 0 && g.period < lg.maxPeriod():
					t.Fatalf("game %d ended tied without its overtime", seed)
				}
				if g.period > lg.Periods && lg.SuddenDeath {
					overtimeScores := 0
					for _, p := range plays {
						if p.Period > lg.Periods && kindOf(p.Scorer) != "XP" && kindOf(p.Scorer) != "2PT" && kindOf(p.Scorer) != "SO" {
							overtimeScores++
						}
					}
					if overtimeScores > 1 {
						t.Fatalf("game %d: %d scores in sudden-death overtime", seed, overtimeScores)
					}
				}
				for _, c := range clocks {
					if len(c) > 16 || c == "" {
						t.Fatalf("game %d: clock %q does not fit games.clock", seed, c)
					}
				}
				if final := g.finalClock(); lg.CountUp && final != "FT" || !lg.CountUp && !strings.HasPrefix(final, "Final") {
					t.Fatalf("game %d: final clock %q", seed, final)
				}
			}
			mean := float64(n.points) / float64(n.games)
			if w := wantPoints[lg.Name]; mean < w[0] || mean > w[1] {
				t.Errorf("mean points per game %.1f, want %v to %v", mean, w[0], w[1])
			}
			margin := float64(n.margin) / float64(n.games)
			t.Logf("%d games: %.1f points each, won by %.1f, %d ties, %d to overtime, %d shootouts",
				n.games, mean, margin, n.ties, n.overtime, n.shootouts)
			if lg.Name == "Basketball" && (margin < 6 || margin > 16) {
				t.Errorf("basketball games won by %.1f points on average, want about 11", margin)
			}
			if lg.OvertimeLen > 0 && n.overtime == 0 {
				t.Errorf("no game went to overtime")
			}
			if lg.Shootout && n.shootouts == 0 {
				t.Errorf("no game went to a shootout")
			}
			switch lg.Name {
			case "Soccer":
				if n.ties == 0 {
					t.Errorf("no soccer game was drawn")
				}
			case "Basketball", "Hockey":
				if n.ties > 0 {
					t.Errorf("%d games ended tied", n.ties)
				}
			}
		})
	}
}

func TestGameClockText(t *testing.T) {
	bb, soccer, hockey := leagueNamed("Basketball"), leagueNamed("Soccer"), leagueNamed("Hockey")
	cases := []struct {
		lg      *league
		period  int
		elapsed time.Duration
		brk     bool
		want    string
	}{
		{bb, 1, 0, false, "12:00"},
		{bb, 1, 500 * time.Millisecond, false, "12:00"},
		{bb, 1, time.Second, false, "11:59"},
		{bb, 3, 11*time.Minute + 18*time.Second, false, "0:42"},
		{bb, 4, 12 * time.Minute, false, "0:00"},
		{bb, 5, 0, false, "5:00"},
		{bb, 1, 12 * time.Minute, true, "End Q1"},
		{bb, 2, 12 * time.Minute, true, "Halftime"},
		{bb, 4, 12 * time.Minute, true, "End Reg"},
		{bb, 5, 5 * time.Minute, true, "End OT"},
		{hockey, 2, 20 * time.Minute, true, "End 2nd"},
		{hockey, 1, 7*time.Minute + 30*time.Second, false, "12:30"},
		{soccer, 1, 0, false, "1'"},
		{soccer, 1, 66 * time.Second, false, "2'"},
		{soccer, 1, 45*time.Minute + 90*time.Second, false, "45+2'"},
		{soccer, 2, 21*time.Minute + 5*time.Second, false, "67'"},
		{soccer, 2, 45*time.Minute + 4*time.Minute, false, "90+5'"},
		{soccer, 1, 47 * time.Minute, true, "HT"},
	}
	for _, c := range cases {
		g := newGame(1, c.lg, store.FeedGame{ID: 1, HomeTeam: "A", AwayTeam: "B"})
		g.period, g.elapsed, g.stoppage = c.period, c.elapsed, 6*time.Minute
		if c.brk {
			g.breakLeft = time.Minute
		}
		if got := g.clock(); got != c.want {
			t.Errorf("%s period %d at %v (break %v): clock %q, want %q", c.lg.Name, c.period, c.elapsed, c.brk, got, c.want)
		}
	}
}

// A new leader reads a live game's period and clock back from its row and carries on
// from there.
func TestResumeFromClockText(t *testing.T) {
	for _, lg := range leagues {
		_, plays, _ := playOut(t, 7, lg, 13*time.Second)
		resumed := 0
		for _, p := range plays {
			if p.Clock == "SO" {
				continue
			}
			g := newGame(7, lg, store.FeedGame{ID: 7, HomeTeam: "A", AwayTeam: "B", Period: p.Period, Clock: p.Clock})
			if g.period != p.Period || g.clock() != p.Clock {
				t.Errorf("%s: resumed at period %d %q, want period %d %q", lg.Name, g.period, g.clock(), p.Period, p.Clock)
			}
			resumed++
		}
		if resumed == 0 {
			t.Errorf("%s: no plays to resume from", lg.Name)
		}
	}
	cases := []struct {
		league, clock string
		period        int
		want          string
		inBreak       bool
	}{
		{"Basketball", "", 0, "12:00", false},
		{"Basketball", "not a clock", 2, "12:00", false},
		{"Basketball", "Halftime", 2, "Halftime", true},
		{"Hockey", "End 1st", 1, "End 1st", true},
		{"Soccer", "HT", 1, "HT", true},
		{"Soccer", "90+3'", 2, "90+3'", false},
	}
	for _, c := range cases {
		g := newGame(1, leagueNamed(c.league), store.FeedGame{ID: 1, HomeTeam: "A", AwayTeam: "B", Period: c.period, Clock: c.clock})
		if g.clock() != c.want || (g.breakLeft > 0) != c.inBreak {
			t.Errorf("%s resumed from period %d %q: clock %q break %v, want %q break %v",
				c.league, c.period, c.clock, g.clock(), g.breakLeft, c.want, c.inBreak)
		}
	}
}

// A human who levels a game the feed was about to end sends it to overtime.
func TestReopenAfterAHumanLevels(t *testing.T) {
	bb := leagueNamed("Basketball")
	g := newGame(3, bb, store.FeedGame{ID: 3, HomeTeam: "A", AwayTeam: "B", HomeScore: 100, AwayScore: 98, Period: 4, Clock: "0:01"})
	g.advance(2 * time.Second)
	if !g.over {
		t.Fatalf("game not over at the end of regulation: period %d %s", g.period, g.clock())
	}
	plays := g.reopen(store.FeedGame{ID: 3, HomeScore: 100, AwayScore: 100})
	if g.over || len(plays) != 0 || g.breakLeft == 0 || g.clock() != "End Reg" {
		t.Fatalf("after a levelling score: over %v, plays %v, clock %q; want a break before overtime", g.over, plays, g.clock())
	}
	g.advance(g.breakLeft)
	if g.period != 5 || g.clock() != "5:00" {
		t.Errorf("overtime starts at period %d %q, want 5 5:00", g.period, g.clock())
	}

	hockey := leagueNamed("Hockey")
	h := newGame(4, hockey, store.FeedGame{ID: 4, HomeTeam: "A", AwayTeam: "B", HomeScore: 3, AwayScore: 2, Period: 4, Clock: "0:01"})
	h.advance(2 * time.Second)
	plays = h.reopen(store.FeedGame{ID: 4, HomeScore: 3, AwayScore: 3})
	if !h.over || len(plays) != 1 || plays[0].Clock != "SO" || plays[0].Points != 1 || h.finalClock() != "Final/SO" {
		t.Errorf("hockey levelled after overtime: over %v plays %+v final %q; want a shootout", h.over, plays, h.finalClock())
	}
}

// A game's plays depend only on the seed and its id, so a seed replays the same games
// whatever else runs beside them.
func TestSameSeedSameGame(t *testing.T) {
	lg := leagueNamed("Football")
	_, a, _ := playOut(t, 9, lg, 10*time.Second)
	_, b, _ := playOut(t, 9, lg, 10*time.Second)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed played different games")
	}
	g := newGame(10, lg, store.FeedGame{ID: 9, HomeTeam: lg.Teams[0], AwayTeam: lg.Teams[1]})
	var c []store.Play
	for !g.over {
		c = append(c, g.advance(10*time.Second)...)
	}
	for i := range c {
		c[i].GameID = 9
	}
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 9 and 10 played the same game")
	}
}
