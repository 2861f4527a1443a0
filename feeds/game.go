package feeds

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// game plays one game of a league on its game clock. It never writes a score: it
// proposes plays, and learns the real score back from the database (sync), where a
// human may have added plays of their own.
type game struct {
	id        int64
	lg        *league
	rng       *rand.Rand
	teams     [2]side // home, away
	score     [2]int
	period    int
	elapsed   time.Duration // game clock into the period
	breakLeft time.Duration // > 0: in the break after period
	stoppage  time.Duration // soccer: time added to the current half
	over      bool          // play is done; the game waits to be made final
	shotOut   bool          // a shootout settled it
}

// side is a team in one game: how often it scores and who scores for it.
type side struct {
	name   string
	perMin float64 // scoring chances per minute of game clock
	roster []string
	due    float64 // steady leagues: chances accrued but not yet had
}

var (
	firstInitials = "ABCDEFGHJKLMNOPRSTVWZ"
	surnames      = []string{"Carter", "Okafor", "Reyes", "Lindqvist", "Moreau", "Tanaka", "Novak", "Haddad",
		"Osei", "Kowalski", "Brennan", "Silva", "Andersen", "Costa", "Nakamura", "Fischer", "Mbeki", "Walsh",
		"Petrov", "Alvarez", "Dubois", "Kim", "Jensen", "Rossi", "Adeyemi", "Murphy", "Horvath", "Sato",
		"Larsen", "Mendes", "Quinn", "Varga", "Ibrahim", "Keller", "Nilsen", "Duarte", "Byrne", "Park"}
)

// roster makes up a team's scorers, always the same for the same team name.
func roster(team string) []string {
	h := fnv.New64a()
	h.Write([]byte(team))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x7ea3))
	players := make([]string, 8)
	for i := range players {
		players[i] = string(firstInitials[r.IntN(len(firstInitials))]) + ". " + surnames[r.IntN(len(surnames))]
	}
	return players
}

// newGame sets up a game from its row. Its randomness comes from seed and the game's
// id alone, so the same seed plays the same game whatever else runs beside it.
func newGame(seed int64, lg *league, g store.FeedGame) *game {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(g.ID)))
	strength := func() float64 { return math.Exp(lg.Spread * r.NormFloat64()) }
	const homeAdvantage = 1.05
	gm := &game{
		id:  g.ID,
		lg:  lg,
		rng: r,
		teams: [2]side{
			{name: g.HomeTeam, perMin: lg.ChancesPerMin * strength() * homeAdvantage, roster: roster(g.HomeTeam), due: r.Float64()},
			{name: g.AwayTeam, perMin: lg.ChancesPerMin * strength() / homeAdvantage, roster: roster(g.AwayTeam), due: r.Float64()},
		},
	}
	gm.sync(g)
	gm.resume(g.Period, g.Clock)
	return gm
}

// sync takes the score from the database, which has every play, a human's included.
func (g *game) sync(row store.FeedGame) { g.score = [2]int{row.HomeScore, row.AwayScore} }

// startPeriod starts period p at 0:00 played.
func (g *game) startPeriod(p int) {
	g.period, g.elapsed, g.breakLeft, g.stoppage = p, 0, 0, 0
	if g.lg.CountUp {
		g.stoppage = time.Duration(1+g.rng.IntN(2+2*p)) * time.Minute
	}
}

// periodEnd is how much game clock period holds, stoppage time included.
func (g *game) periodEnd() time.Duration { return g.lg.periodLength(g.period) + g.stoppage }

// advance plays d of game clock (breaks included) and returns the plays it produced,
// in order.
func (g *game) advance(d time.Duration) []store.Play {
	var plays []store.Play
	for d > 0 && !g.over {
		if g.breakLeft > 0 {
			step := min(d, g.breakLeft)
			g.breakLeft -= step
			d -= step
			if g.breakLeft == 0 {
				g.startPeriod(g.period + 1)
			}
			continue
		}
		step := min(d, g.periodEnd()-g.elapsed)
		ps, decided := g.play(step)
		plays = append(plays, ps...)
		d -= step
		if decided || g.elapsed >= g.periodEnd() {
			plays = append(plays, g.endPeriod()...)
		}
	}
	return plays
}

// chance is a scoring chance at a moment of the period.
type chance struct {
	at   time.Duration
	team int
}

// play runs d of one period's clock. In sudden death it stops at the first score and
// reports the game decided.
func (g *game) play(d time.Duration) (plays []store.Play, decided bool) {
	var chances []chance
	for team := range 2 {
		n := 0
		if g.lg.Steady {
			s := &g.teams[team]
			s.due += s.perMin * d.Minutes()
			n = int(s.due)
			s.due -= float64(n)
		} else {
			n = poisson(g.rng, g.teams[team].perMin*d.Minutes())
		}
		for range n {
			chances = append(chances, chance{g.elapsed + time.Duration(g.rng.Float64()*float64(d)), team})
		}
	}
	slices.SortFunc(chances, func(a, b chance) int { return int(a.at - b.at) })
	suddenDeath := g.lg.SuddenDeath && g.period > g.lg.Periods
	for _, c := range chances {
		ps := g.lg.score(g.rng)
		if len(ps) == 0 {
			continue
		}
		clock := g.clockAt(c.at)
		for _, p := range ps {
			plays = append(plays, g.scoringPlay(c.team, p, clock))
		}
		if suddenDeath {
			g.elapsed = c.at
			return plays, true
		}
	}
	g.elapsed += d
	return plays, false
}

// scoringPlay makes the row for p by team (an own goal's scorer plays for the other side).
func (g *game) scoringPlay(team int, p scoringPlay, clock string) store.Play {
	by := team
	if p.Kind == "og" {
		by = 1 - team
	}
	r := g.teams[by].roster
	// Stars score more: player i is picked with weight 1/(i+1).
	weights := make([]float64, len(r))
	for i := range weights {
		weights[i] = 1 / float64(i+1)
	}
	scorer := pick(g.rng, weights, r)
	if p.Kind != "" {
		scorer += " (" + p.Kind + ")"
	}
	g.score[team] += p.Points
	return store.Play{GameID: g.id, Team: []string{"home", "away"}[team], Points: p.Points,
		Scorer: scorer, Period: g.period, Clock: clock}
}

// endPeriod moves on from the end of a period: to a break, to overtime, or to the
// end, after a shootout (whose play it returns) if the league settles ties that way.
func (g *game) endPeriod() []store.Play {
	p := g.period
	switch {
	case p < g.lg.Periods:
		g.breakLeft = g.lg.breakAfter(p)
		if g.breakLeft == 0 {
			g.startPeriod(p + 1)
		}
	case g.score[0] != g.score[1]:
		g.over = true
	case g.lg.OvertimeLen > 0 && p < g.lg.maxPeriod():
		g.breakLeft = max(g.lg.breakAfter(p), time.Second)
	case g.lg.Shootout:
		g.over = true
		return []store.Play{g.shootout()}
	default:
		g.over = true // the tie stands
	}
	return nil
}

// shootout settles a tied game; the winner's score counts it as one goal.
func (g *game) shootout() store.Play {
	w := 0
	if g.rng.Float64()*(g.teams[0].perMin+g.teams[1].perMin) >= g.teams[0].perMin {
		w = 1
	}
	g.shotOut = true
	return g.scoringPlay(w, scoringPlay{1, "SO"}, "SO")
}

// tieAllowed reports whether a game that is over may end tied: only when the league
// has no overtime left to play and no shootout.
func (g *game) tieAllowed() bool {
	return !(g.lg.OvertimeLen > 0 && g.period < g.lg.maxPeriod()) && !g.lg.Shootout
}

// reopen puts a game that could not be made final (a human levelled it) back in play,
// returning the shootout play if that is what settles it.
func (g *game) reopen(row store.FeedGame) []store.Play {
	g.sync(row)
	g.over = false
	return g.endPeriod()
}

// poisson draws a Poisson count with mean lambda (Knuth's method; lambda is small).
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 { // normal approximation; never at sensible speeds
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
